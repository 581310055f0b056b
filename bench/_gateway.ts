/**
 * Harness shared by the end-to-end benchmarks (`e2e`, `soak`): the fake Bot API and the fake model in this
 * process, the gateway (`switchyard start`) as a child process, and per-message timing taken at the fakes.
 *
 * Timing is taken where it can be trusted: the update's push time (driver), the model request's arrival and
 * end (fake model, `performance.now()`), and the reply's arrival at the fake Bot API. Each reply is matched to
 * its message by a marker `m<N>` that the fake model echoes back (`re m<N>`).
 *
 * The gateway runs as shipped: `node dist/cli/main.js`, built (`npm run build`) once per bench process. Run
 * through tsx, esbuild's `keepNames` wraps every closure the hot path creates in an `Object.defineProperty`
 * call, which the production build does not pay (`E2E_RUNTIME=tsx` still runs the sources, to profile them
 * with source positions).
 *
 * Environment: `GATEWAY_REPO` runs the gateway from another checkout (A/B runs with the same driver);
 * `E2E_CPU_PROF=<dir>` starts it with `--cpu-prof` (the profile is written when it exits); `E2E_NODE_FLAGS`
 * adds Node flags (`--max-semi-space-size=32`); `E2E_RUNTIME` = `dist` (default) or `tsx`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { FakeOpenAIServer } from '../src/fakes/index.js';
import type { RecordedRequest } from '../src/fakes/openai-types.js';
import { FakeTelegramApi } from '../src/fakes/telegram-api.js';
import { round } from './_util.js';

/** The fake model's latency (one chunk after this delay). */
export const MODEL_MS = Number(process.env["MODEL_MS"] ?? 20);

/** CPU ticks (utime + stime, 1/100 s) and RSS of a process, from /proc. */
export function procStats(pid: number): { cpuTicks: number; rssMB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const cpuTicks = Number(stat[11]) + Number(stat[12]); // utime + stime (fields 14, 15)
  const rssKB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuTicks, rssMB: round(rssKB / 1024, 1) };
}

/**
 * Resident memory of a process by kind (MB, from /proc/<pid>/status): anonymous (V8 heap, malloc, SQLite's
 * page cache, WASM), file-backed (code and mapped files) and shared memory. Tells native growth from mappings.
 */
export function procMem(pid: number): { rssMB: number; anonMB: number; fileMB: number; shmemMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { rssMB: round(kb('VmRSS') / 1024, 1), anonMB: round(kb('RssAnon') / 1024, 1), fileMB: round(kb('RssFile') / 1024, 1), shmemMB: round(kb('RssShmem') / 1024, 1) };
}

/** CPU of both processes over a window: the gateway child (from /proc) and this bench process (fakes + driver). */
export class CpuWindow {
  private readonly g0: number;
  private readonly b0 = process.cpuUsage();
  private readonly t0 = performance.now();
  private readonly load0 = loadavg()[0]!;

  constructor(private readonly pid: number) {
    this.g0 = procStats(pid).cpuTicks;
  }

  /**
   * % of one core used by the gateway and by the bench process since construction, the gateway's CPU ms per
   * message (`messages` handled in the window; robust on a shared machine, where latency is not), and the
   * load average.
   */
  read(messages = 0): {
    gatewayCpuPct: number;
    gatewayCpuMsPerMsg: number;
    benchCpuPct: number;
    gatewayRssMB: number;
    load1: number;
  } {
    const s = procStats(this.pid);
    const secs = (performance.now() - this.t0) / 1000;
    const b = process.cpuUsage(this.b0);
    return {
      gatewayCpuPct: round(((s.cpuTicks - this.g0) / 100 / secs) * 100, 1),
      gatewayCpuMsPerMsg: messages > 0 ? round(((s.cpuTicks - this.g0) * 10) / messages, 2) : 0,
      benchCpuPct: round(((b.user + b.system) / 1e6 / secs) * 100, 1),
      gatewayRssMB: s.rssMB,
      load1: round(Math.max(this.load0, loadavg()[0]!), 2),
    };
  }
}

/** A reply seen at the fake Bot API. */
export interface SeenReply {
  /** `performance.now()` when `sendMessage` arrived. */
  at: number;
}

/** The running setup: fakes here, gateway in a child. */
export interface E2eSetup {
  tg: FakeTelegramApi;
  model: FakeOpenAIServer;
  gateway: ChildProcess;
  pid: number;
  /** The gateway's HTTP base URL (`/metrics` is open). */
  url: string;
  /** The gateway's SQLite file (its `-wal` sits next to it). */
  dbPath: string;
  /** Replies by marker (`m<N>` of the last user message of the run). */
  replies: Map<string, SeenReply>;
  /** `sendMessage` calls that answered no marker (error notices, refused sends): count and first samples. */
  unmatched: { count: number; samples: string[] };
  /** Called with each reply as it arrives (after it is put in `replies`). */
  onReply: ((marker: string, reply: SeenReply) => void) | undefined;
  /** Model requests by marker, moved out of `model.requests` by `takeModelRequests`. */
  modelRuns: Map<string, { receivedAt: number; finishedAt: number }>;
  /** Pushes a DM from user/chat `chatId` with marker `m<marker>`; returns the push time. */
  push(chatId: number, marker: number): number;
  /** Moves finished model requests into `modelRuns` and forgets them in the fake (bounded memory). */
  takeModelRequests(): void;
  close(): Promise<void>;
}

/** The last marker in a text (a follow-up turn renders its messages as one user message, the newest last). */
function markerOf(text: string): string | undefined {
  const all = text.match(/m\d+/g);
  return all === null ? undefined : all[all.length - 1];
}

function lastUserText(r: RecordedRequest): string {
  const msgs = r.body?.messages ?? [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]!;
    if (m.role === 'user') return typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
  }
  return '';
}

/** Options of `startE2e`. */
export interface E2eOptions {
  /** Name of the CPU profile with `E2E_CPU_PROF`. */
  profileName?: string;
  /**
   * The agent's compaction threshold and what it keeps verbatim (tokens). Default: the config's (75 % of the
   * 32k window: a short run never compacts).
   */
  compaction?: { compactAt: number; keepRecentTokens: number };
  /** Slots of the `background` lane (compaction jobs). Default: the config's (2). */
  backgroundLane?: number;
  /** Node flags added to `E2E_NODE_FLAGS` (the soak's `--trace-gc`). */
  nodeFlags?: string[];
  /**
   * Runs `floor-gateway.mjs` (a pass-through with no store or scheduler) instead of the gateway: what the
   * driver, the fakes and the machine cost by themselves.
   */
  floor?: boolean;
  /** Told the gateway's stdout after it is ready (`--trace-gc` lines; its log lines go there too). */
  onStdout?: (text: string) => void;
}

/** Starts the fakes and the gateway; resolves once it says it is running. */
export async function startE2e(options: E2eOptions = {}): Promise<E2eSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
  const tg = await FakeTelegramApi.start({ maxPollMs: 1000 });
  const model = new FakeOpenAIServer({ tokenDelayMs: MODEL_MS });
  // One chunk after MODEL_MS: the model's latency is fixed and known (and measured per request anyway).
  model.respondWith((req) => {
    const marker = markerOf(lastUserText({ body: req } as RecordedRequest)) ?? '?';
    return { kind: 'reply', text: `re ${marker}`, chunks: [`re ${marker}`] };
  });
  await model.start();
  const configFile = join(dir, 'switchyard.yaml');
  writeFileSync(
    configFile,
    `store: { path: ${JSON.stringify(join(dir, 'db.sqlite'))} }
http: { host: 127.0.0.1, port: 0 }
log: { level: warn }
lanes: { main: 256${options.backgroundLane === undefined ? '' : `, background: ${options.backgroundLane}`} }
agents:
  default:
    provider: { baseUrl: "${model.url}", model: fake, timeoutMs: 30000, maxAttempts: 1 }
    contextWindow: 32768${options.compaction === undefined ? '' : `\n    compactAt: ${options.compaction.compactAt}\n    keepRecentTokens: ${options.compaction.keepRecentTokens}`}
channels:
  - id: tg
    type: telegram
    token: "${tg.token}"
    apiRoot: "${tg.apiRoot}"
    streaming: { enabled: false }
    # The fake Bot API has no rate limits: pacing at Telegram's (30 msgs/s across the bot) would measure the
    # pacer, not the gateway.
    pacing: { chatIntervalMs: 0, globalPerSecond: 1000000 }
    queue: { mode: followup, debounceMs: 0, cap: 100 }
    access: { dm: open }
`,
  );
  const replies = new Map<string, SeenReply>();
  const setup: E2eSetup = {
    tg,
    model,
    gateway: undefined as unknown as ChildProcess,
    pid: 0,
    url: '',
    dbPath: join(dir, 'db.sqlite'),
    replies,
    unmatched: { count: 0, samples: [] },
    onReply: undefined,
    modelRuns: new Map(),
    push(chatId, marker) {
      const at = performance.now();
      tg.pushMessage({ chat: { id: chatId, type: 'private', first_name: 'u' }, from: { id: chatId, is_bot: false, first_name: 'u' }, text: `hello m${marker}` });
      return at;
    },
    takeModelRequests() {
      const keep: RecordedRequest[] = [];
      for (const r of model.requests) {
        if (r.finishedAt === undefined) {
          if (!r.closedByClient) keep.push(r);
          continue;
        }
        const marker = markerOf(lastUserText(r));
        if (marker !== undefined) setup.modelRuns.set(marker, { receivedAt: r.receivedAt, finishedAt: r.finishedAt });
      }
      model.requests.length = 0;
      model.requests.push(...keep);
    },
    async close() {
      setup.gateway.kill('SIGTERM');
      await new Promise((r) => setup.gateway.once('exit', r));
      await tg.close();
      await model.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  tg.onCall = (call) => {
    if (call.method !== 'sendMessage') return;
    const marker = call.status === 200 ? markerOf(String(call.params['text'])) : undefined;
    if (marker === undefined) {
      // An error notice or a refused send: the bench reports these when it stalls.
      setup.unmatched.count++;
      if (setup.unmatched.samples.length < 5) setup.unmatched.samples.push(`${call.status} ${String(call.params['text']).slice(0, 160)}`);
      return;
    }
    const reply = { at: call.perfAt ?? performance.now() };
    replies.set(marker, reply);
    setup.onReply?.(marker, reply);
  };
  const started = await startGateway(configFile, options);
  setup.gateway = started.child;
  setup.url = started.url;
  setup.pid = setup.gateway.pid!;
  return setup;
}

/** Checkouts built by this bench process (`npm run build` once each). */
const built = new Set<string>();

/** The gateway's entry point in `repo`: the production build (built on first use) or, with `E2E_RUNTIME=tsx`, the sources. */
function gatewayEntry(repo: string): string[] {
  if (process.env['E2E_RUNTIME'] === 'tsx') return ['--import', 'tsx', 'src/cli/main.ts'];
  if (!built.has(repo)) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
    built.add(repo);
  }
  return ['dist/cli/main.js'];
}

function startGateway(configFile: string, options: E2eOptions): Promise<{ child: ChildProcess; url: string }> {
  const profileName = options.profileName;
  const repo = resolve(process.env['GATEWAY_REPO'] ?? join(import.meta.dirname, '..'));
  const profDir = process.env['E2E_CPU_PROF'];
  const prof = profDir !== undefined && profDir !== '' ? ['--cpu-prof', '--cpu-prof-dir', resolve(profDir), ...(profileName ? ['--cpu-prof-name', `${profileName}.cpuprofile`] : [])] : [];
  const extra = [...(process.env['E2E_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== ''), ...(options.nodeFlags ?? [])];
  const entry = options.floor === true ? [join(import.meta.dirname, 'floor-gateway.mjs')] : gatewayEntry(repo);
  const child = spawn(process.execPath, [...extra, ...prof, ...entry, 'start', '--config', configFile], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer): void => {
      out += c.toString();
      const m = /Switchyard is running: chat (http:\/\/[^/\s]+)/.exec(out);
      if (m !== null) {
        child.stdout?.off('data', onData);
        // E2E_GATEWAY_LOG=<file> keeps the gateway's log lines (warn and up in the bench config) for a post-mortem.
        const logFile = process.env['E2E_GATEWAY_LOG'];
        if (logFile !== undefined && logFile !== '') child.stdout?.pipe(createWriteStream(logFile, { flags: 'a' }));
        else child.stdout?.resume();
        const onStdout = options.onStdout;
        if (onStdout !== undefined) child.stdout?.on('data', (c: Buffer) => onStdout(c.toString()));
        resolve({ child, url: m[1]! });
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before ready`)));
  });
}

/**
 * Every sample of `/metrics` (Prometheus text) in one fetch, by series without the `switchyard_` prefix
 * (`nodejs_heap_size_used_bytes`, `compactions_total{result="applied"}`).
 */
export async function gatewayMetrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    const key = line.slice(0, sp);
    out.set(key.startsWith('switchyard_') ? key.slice('switchyard_'.length) : key, Number(line.slice(sp + 1)));
  }
  return out;
}

/**
 * The gateway's main-thread stalls over a window, from its own `/metrics`: event-loop delay (prom-client's
 * monitor, reset at every scrape, so `start()` opens the window) and GC pauses by kind. These explain a latency
 * tail that CPU per message does not: a 40 ms mark-compact delays every message in flight.
 */
export class StallWindow {
  private gc0 = new Map<string, number>();

  constructor(private readonly url: string) {}

  async start(): Promise<void> {
    this.gc0 = await gatewayMetrics(this.url);
  }

  async read(): Promise<{ loopDelayP99Ms: number; loopDelayMaxMs: number; gcMinorMs: number; gcMinorMeanMs: number; gcMajorMs: number; gcMajorCount: number }> {
    const m = await gatewayMetrics(this.url);
    const diff = (k: string): number => (m.get(k) ?? 0) - (this.gc0.get(k) ?? 0);
    return {
      loopDelayP99Ms: round((m.get('nodejs_eventloop_lag_p99_seconds') ?? Number.NaN) * 1000, 1),
      loopDelayMaxMs: round((m.get('nodejs_eventloop_lag_max_seconds') ?? Number.NaN) * 1000, 1),
      gcMinorMs: round(diff('nodejs_gc_duration_seconds_sum{kind="minor"}') * 1000, 0),
      // A scavenge's pause grows with what survives it: the mean says how much each message leaves behind.
      gcMinorMeanMs: round((diff('nodejs_gc_duration_seconds_sum{kind="minor"}') * 1000) / Math.max(1, diff('nodejs_gc_duration_seconds_count{kind="minor"}')), 2),
      gcMajorMs: round(diff('nodejs_gc_duration_seconds_sum{kind="major"}') * 1000, 0),
      gcMajorCount: diff('nodejs_gc_duration_seconds_count{kind="major"}'),
    };
  }
}

/**
 * This process's own stalls over a window: event-loop delay (sampled every 1 ms; the figure includes that
 * 1 ms) and GC pause time. Every timing is read here (update offered, model request in and out, reply in), so
 * a stalled driver stretches the overheads it reports; these say by how much it could have.
 */
export class DriverStalls {
  private readonly loop = monitorEventLoopDelay({ resolution: 1 });
  private gcMs = 0;
  private readonly gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.gcMs += e.duration;
  });

  start(): void {
    this.loop.enable();
    this.gc.observe({ entryTypes: ['gc'] });
  }

  read(): { driverLoopDelayP99Ms: number; driverGcMs: number } {
    this.loop.disable();
    this.gc.disconnect();
    return { driverLoopDelayP99Ms: round(this.loop.percentile(99) / 1e6, 1), driverGcMs: round(this.gcMs, 0) };
  }
}

/** Waits (polling every 20 ms) until `cond` holds; `describe` says what was missing when it times out. */
export async function waitUntil(cond: () => boolean, timeoutMs: number, describe?: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out${describe ? `: ${describe()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until `done()`, failing when `progress()` has not moved for `stallMs` (a lost reply must not hold a
 * benchmark for ten minutes).
 */
export async function waitProgress(done: () => boolean, progress: () => number, stallMs: number, describe: () => string): Promise<void> {
  let last = progress();
  let lastAt = Date.now();
  await waitUntil(
    () => {
      const p = progress();
      if (p !== last) {
        last = p;
        lastAt = Date.now();
      } else if (Date.now() - lastAt > stallMs) {
        throw new Error(`stalled: ${describe()}`);
      }
      return done();
    },
    24 * 3600_000,
  );
}

/** Sleeps `ms`. */
export function sleepMs(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
