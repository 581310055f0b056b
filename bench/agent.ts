/**
 * Agent runtime benchmark over the fake OpenAI server (real HTTP on loopback), one JSON line per workload:
 * - `abort-to-socket-closed`: a turn streaming tokens is aborted after a few deltas; latency from `abort()` to
 *   the server seeing the socket closed (p50 / p99 / max), and deltas delivered after the abort (must be 0).
 * - `runner-overhead` (MemoryStore, then SqliteStore): the runner's own cost per turn (prompt building, token counting with tiktoken, store
 *   reads and writes, bookkeeping), i.e. the whole turn minus the time inside the model call and the channel's
 *   delivery; p50 / p99 / max over many turns with growing histories.
 * The overhead workload talks to the fake model in a child process, as a real model server would be: run in
 * this process, the server's own socket work lands inside the runner's spans and inflates the tail.
 * The overhead is reported as wall time (what a user waits; includes OS preemption on a busy machine) and as
 * process CPU time over the same spans (what the runner costs). The 1-minute load average is printed so a
 * tail caused by a saturated machine is recognizable.
 * Targets (issue 4): abort p99 <= 50 ms; overhead p99 <= 2 ms.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { createAgent, warmTokenizer, type TurnTiming } from '../src/agent/index.js';
import type { InboundMessage, ReplyStream } from '../src/channels/index.js';
import { FakeOpenAIServer } from '../src/fakes/index.js';
import { Lane, type Turn } from '../src/scheduler/index.js';
import { MemoryStore, SqliteStore, type Store } from '../src/store/index.js';
import { emit, percentile, round } from './_util.js';

const pct = (sorted: number[], p: number): number => percentile(sorted, p);
const r3 = (n: number): number => round(n, 3);

let seq = 0;
function msg(sessionKey: string, text: string): InboundMessage {
  seq += 1;
  return {
    id: `bench:${seq}`,
    channelId: 'bench',
    platform: 'webchat',
    sessionKey,
    chatId: sessionKey,
    senderId: 'u',
    senderName: 'User',
    peer: 'dm',
    text,
    mentionsBot: false,
    replyToBot: false,
    attachments: [],
    platformMessageId: String(seq),
    sentAt: seq,
    receivedAt: seq,
  };
}
function turnOf(m: InboundMessage): Turn<InboundMessage> {
  return { id: `${m.id}#1`, sessionKey: m.sessionKey, messages: [m], kind: 'message', attempt: 1, droppedSummaries: [] };
}

class Sink implements ReplyStream {
  deltas = 0;
  afterAbort = 0;
  constructor(
    private readonly signal: AbortSignal,
    private readonly onDelta?: (n: number) => void,
  ) {}
  delta(): void {
    if (this.signal.aborted) this.afterAbort += 1;
    this.deltas += 1;
    this.onDelta?.(this.deltas);
  }
  async complete(): Promise<void> {}
  async cancel(): Promise<void> {}
}

async function abortWorkload(server: FakeOpenAIServer, url: string, runs: number): Promise<void> {
  const store = new MemoryStore();
  const lane = new Lane('background', { concurrency: 1 }, { now: Date.now, onWaitWarning: () => undefined });
  const abortAt = new Map<number, number>();
  const latencies: number[] = [];
  let current: { controller: AbortController; sink?: Sink } | undefined;
  let afterAbort = 0;
  const closed = new Map<number, number>();
  server.observe({ onClientClose: (r) => closed.set(r.index, r.closedAt ?? performance.now()) });
  server.respondWith(() => ({ kind: 'reply', text: 'tok '.repeat(200), tokenDelayMs: 2 }));
  const agent = createAgent({
    config: { provider: { baseUrl: url, model: 'bench', maxAttempts: 1 }, classifier: { enabled: false }, compaction: { enabled: false } },
    memory: store,
    lane: () => lane,
    openReply: (_t, signal) => {
      const sink = new Sink(signal, (n) => {
        if (n === 3 && current) {
          abortAt.set(server.requests.length - 1, performance.now());
          current.controller.abort(new Error('bench stop'));
        }
      });
      if (current) current.sink = sink;
      return sink;
    },
  });
  for (let i = 0; i < runs; i++) {
    const controller = new AbortController();
    current = { controller };
    await agent.run(turnOf(msg(`s${i % 10}`, 'go')), { signal: controller.signal }).catch(() => undefined);
    afterAbort += current.sink?.afterAbort ?? 0;
  }
  // Wait (bounded) for the last close events to arrive.
  const deadline = performance.now() + 2_000;
  while (closed.size < abortAt.size && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  let missing = 0;
  for (const [index, t] of abortAt) {
    const c = closed.get(index);
    if (c === undefined) missing += 1;
    else latencies.push(c - t);
  }
  latencies.sort((a, b) => a - b);
  emit({
    bench: 'agent',
    workload: 'abort-to-socket-closed',
    runs,
    p50Ms: r3(pct(latencies, 50)),
    p99Ms: r3(pct(latencies, 99)),
    maxMs: r3(latencies[latencies.length - 1] ?? 0),
    socketsNotClosed: missing,
    deltasAfterAbort: afterAbort,
    targetP99Ms: 50,
  });
}

/** Starts the fake model's CLI entry (src/fakes/openai-server-main.ts) in a child process; echoes, no token delay. */
async function startModelProcess(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/fakes/openai-server-main.ts'], {
    env: { ...process.env, FAKE_OPENAI_TOKEN_DELAY_MS: '0', FAKE_OPENAI_MODELS: 'bench' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const parsed = JSON.parse(line) as { fakeOpenAI?: string };
    if (parsed.fakeOpenAI !== undefined) return { url: parsed.fakeOpenAI, child };
  }
  throw new Error('the fake model process exited before printing its URL');
}

async function overheadWorkload(turns: number, sessions: number): Promise<void> {
  warmTokenizer();
  const { url, child } = await startModelProcess();
  const dir = mkdtempSync(join(tmpdir(), 'swyd-bench-agent-'));
  try {
    await measureOverhead('memory', new MemoryStore(), url, turns, sessions);
    // The gateway's default store: history reads and the turn's write go through SQLite (group commit).
    const sqlite = new SqliteStore({ path: join(dir, 'agent.db') });
    try {
      await measureOverhead('sqlite', sqlite, url, turns, sessions);
    } finally {
      await sqlite.close();
    }
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureOverhead(storeKind: string, store: Store, url: string, turns: number, sessions: number): Promise<void> {
  const lane = new Lane('background', { concurrency: 1 }, { now: Date.now, onWaitWarning: () => undefined });
  const timings: TurnTiming[] = [];
  const agent = createAgent({
    config: { provider: { baseUrl: url, model: 'bench', maxAttempts: 1 }, contextWindow: 131_072, classifier: { enabled: false } },
    memory: store,
    lane: () => lane,
    openReply: (_t, signal) => new Sink(signal),
    onTiming: (t) => timings.push(t),
  });
  const text = 'Could you explain how the scheduler keeps per-session order while lanes stay fair across sessions?';
  const started = performance.now();
  for (let i = 0; i < turns; i++) {
    await agent.run(turnOf(msg(`s${i % sessions}`, text)), { signal: new AbortController().signal });
  }
  const wall = performance.now() - started;
  const warm = timings.slice(Math.min(50, Math.floor(timings.length / 10))); // drop JIT warm-up
  const overhead = warm.map((t) => t.overheadMs).sort((a, b) => a - b);
  const model = warm.map((t) => t.modelMs).sort((a, b) => a - b);
  const cpu = warm.map((t) => t.overheadCpuMs).sort((a, b) => a - b);
  emit({
    bench: 'agent',
    workload: 'runner-overhead',
    store: storeKind,
    turns,
    sessions,
    historyEntriesAtEnd: (turns / sessions) * 2,
    overheadP50Ms: r3(pct(overhead, 50)),
    overheadP99Ms: r3(pct(overhead, 99)),
    overheadMaxMs: r3(overhead[overhead.length - 1] ?? 0),
    overheadCpuP50Ms: r3(pct(cpu, 50)),
    overheadCpuP99Ms: r3(pct(cpu, 99)),
    loadAvg1m: Math.round(loadavg()[0]! * 100) / 100,
    modelP50Ms: r3(pct(model, 50)),
    turnsPerSec: Math.round((turns / wall) * 1000),
    targetP99Ms: 2,
  });
}

/** Runs every workload; prints one JSON line each. */
export async function run(): Promise<void> {
  const server = new FakeOpenAIServer();
  const { url } = await server.start();
  try {
    await abortWorkload(server, url, Number(process.env.BENCH_AGENT_ABORTS ?? 200));
  } finally {
    await server.close();
  }
  await overheadWorkload(Number(process.env.BENCH_AGENT_TURNS ?? 2000), 50);
}
