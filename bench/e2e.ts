/**
 * End-to-end benchmark: the whole gateway as its own process (`switchyard start`, SQLite, scheduler, agent,
 * the Telegram adapter polling the fake Bot API) answering through the fake model at a fixed latency. The
 * fakes and the driver run in this process (its CPU is reported too, so a saturated driver shows), the gateway
 * in a child, so the gateway's CPU and memory are its own.
 *
 * Workloads:
 * - `steady @R/s`: one message per session (10,000 sessions at 1,000/s; 20 s worth at lower rates), offered
 *   open loop at R messages/s in 5 ms ticks, after a 5 s warm-up at the same rate (see `steady`). Per message: overhead = (reply reached the Bot API) − (update
 *   offered) − (that run's own model time, measured at the fake model). With one message per session nothing
 *   waits behind an earlier message of its session, so this is all gateway: poll + ingress + scheduler + agent
 *   (`inbound`, offered → model request) and reply delivery (`outbound`, model done → sendMessage).
 * - `burst`: 5,000 messages at once, 5 back to back per session over 1,000 sessions (followup mode collects
 *   what arrives during a run into one follow-up run):
 *   messages/s until every message is answered or merged into an answered follow-up. A message waiting for
 *   its session's previous run is queueing by design: reported apart (`queueP50/P99Ms`, message offered →
 *   its run could start), and each run's overhead counts from when it could start (its last message offered,
 *   or the session's previous reply, whichever is later).
 * - `floor @R/s`: `steady` again, through `floor-gateway.mjs` (poll, ask the model, send; no store, no
 *   scheduler) instead of the gateway. What the driver, the loopback hops and this machine cost by themselves:
 *   the gateway's own share of an overhead is what it adds above the floor. `driverLoopDelayP99Ms` and
 *   `driverGcMs` say how much this process stalled meanwhile (every timestamp is read here). To keep that
 *   small, `npm run bench` runs this process with a full GC before each window, V8's allocation-site
 *   pretenuring off (as the gateway does, src/cli/v8-tuning.ts) and a 256 MB initial old generation: its
 *   mark-compacts (every ~1.7 s at 1,000/s with V8's small-heap defaults) overlapped ~2/3 of the slowest
 *   messages (docs/notes/e2e.md, stop 14). The instrument's settings; the gateway runs with its own.
 *
 * Environment: `E2E_RATES` (default `1000,200`), `E2E_MESSAGES` (per rate), `E2E_WORKLOADS` (`steady,burst,floor`),
 * `E2E_TICK_MS` (the driver's offer tick, default 5),
 * `E2E_WARM_S` (warm-up seconds at the rate, default 5; 0 = cold), `E2E_DUMP=<file>` (per-message timings of
 * the last steady run, for tail analysis), and `GATEWAY_REPO` / `E2E_CPU_PROF` / `E2E_NODE_FLAGS` /
 * `E2E_RUNTIME` (see `_gateway.ts`).
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CpuWindow, DriverStalls, sleepMs, StallWindow, startE2e, waitProgress, waitUntil, type E2eSetup } from './_gateway.js';
import { emit, percentile, round } from './_util.js';

const TICK_MS = Number(process.env['E2E_TICK_MS'] ?? 5);

/** Messages of one steady run: `E2E_MESSAGES`, else 10,000 at 1,000/s and up, 20 s worth below. */
function steadyCount(rate: number, fixedN: number): number {
  return fixedN > 0 ? fixedN : rate >= 1000 ? 10_000 : rate * 20;
}

/** Drops what the fakes recorded so far (model runs are kept by marker): the driver's own memory stays flat. */
function forget(s: E2eSetup): void {
  s.takeModelRequests();
  s.tg.forgetHistory();
}

function pct(values: number[]): { p50: number; p99: number } {
  return { p50: round(percentile(values, 50), 1), p99: round(percentile(values, 99), 1) };
}

/**
 * Offers N messages at `rate` and emits their figures. The load first runs for `E2E_WARM_S` seconds (default
 * 5) at the same rate, unmeasured except for its own p99 (`coldOverheadP99Ms`): from idle, V8 still grows its
 * young generation and optimizes the busy paths, which puts ~1 s of 10-40 ms overheads into a cold run (its
 * p99 ~30 ms against ~10-20 ms warm); the target is about the gateway under that load, not its first second.
 */
async function steady(s: E2eSetup, N: number, rate: number, base: number, label = 'steady'): Promise<void> {
  const warmN = Math.round(rate * Number(process.env['E2E_WARM_S'] ?? 5));
  const cold = warmN > 0 ? await offerSteady(s, warmN, rate, base + 500_000, label, false) : undefined;
  await offerSteady(s, N, rate, base, label, true, cold);
}

async function offerSteady(s: E2eSetup, N: number, rate: number, base: number, label: string, report: boolean, coldP99?: number): Promise<number> {
  const offered = new Map<string, number>();
  // The floor pass-through has no /metrics.
  const stalls = label === 'floor' ? undefined : new StallWindow(s.url);
  await stalls?.start();
  // Every timestamp is read in this process: start the window with its old generation collected, so that a
  // mark-compact of the driver (a 5-25 ms stall) does not land in it and count as gateway overhead.
  globalThis.gc?.();
  const driver = new DriverStalls();
  driver.start();
  const cpu = new CpuWindow(s.pid);
  const t0 = performance.now();
  let answered = 0;
  s.onReply = (marker) => {
    if (offered.has(marker)) answered++;
  };
  let i = 0;
  let ticks = 0;
  while (i < N) {
    const due = Math.min(N, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
    for (; i < due; i++) offered.set(`m${base + i}`, s.push(base + i, base + i));
    if (i < N) await sleepMs(TICK_MS);
    // The fakes' records would otherwise pile up into this process's old generation: its major GCs stall the
    // clock the timings are read from. Every 10 ticks (50 ms): a record taken before the driver's next
    // scavenge dies young instead of being copied and promoted.
    if (++ticks % 10 === 0) forget(s);
  }
  const offerSecs = (performance.now() - t0) / 1000;
  await waitProgress(() => answered >= N, () => answered, 60_000, () => `${answered}/${N} answered; unmatched sends ${s.unmatched.count}: ${s.unmatched.samples.join(' | ')}`);
  const elapsed = (performance.now() - t0) / 1000;
  const usage = cpu.read(N);
  const driverStalled = driver.read();
  const stalled = await stalls?.read();
  s.onReply = undefined;
  s.takeModelRequests();
  const overhead: number[] = [];
  const inbound: number[] = [];
  const outbound: number[] = [];
  const modelMs: number[] = [];
  const dump = process.env['E2E_DUMP'] ? ([] as string[]) : undefined;
  for (const [marker, at] of offered) {
    const reply = s.replies.get(marker);
    const run = s.modelRuns.get(marker);
    if (reply === undefined || run === undefined) continue;
    const own = run.finishedAt - run.receivedAt;
    modelMs.push(own);
    overhead.push(reply.at - at - own);
    inbound.push(run.receivedAt - at);
    outbound.push(reply.at - run.finishedAt);
    dump?.push(`${round(performance.timeOrigin + at, 2)} ${round(run.receivedAt - at, 2)} ${round(reply.at - run.finishedAt, 2)} ${round(own, 2)}`);
  }
  // E2E_DUMP=<file>: one line per message (offered ms since start, inbound, outbound, model ms) for tail analysis.
  if (dump !== undefined) writeFileSync(process.env['E2E_DUMP']!, `${dump.join('\n')}\n`);
  const o = pct(overhead);
  if (!report) return o.p99;
  emit({
    bench: 'e2e',
    workload: `${label} ${N / 1000}k sessions @${rate}/s`,
    offeredPerSec: Math.round(N / offerSecs),
    messages: N,
    msgsPerSec: Math.round(N / elapsed),
    modelP50Ms: pct(modelMs).p50,
    overheadP50Ms: o.p50,
    overheadP99Ms: o.p99,
    ...(coldP99 === undefined ? {} : { coldOverheadP99Ms: coldP99 }),
    inboundP50Ms: pct(inbound).p50,
    inboundP99Ms: pct(inbound).p99,
    outboundP50Ms: pct(outbound).p50,
    outboundP99Ms: pct(outbound).p99,
    rssMB: usage.gatewayRssMB,
    cpuPct: usage.gatewayCpuPct,
    cpuMsPerMsg: usage.gatewayCpuMsPerMsg,
    benchCpuPct: usage.benchCpuPct,
    ...stalled,
    ...driverStalled,
    load1: usage.load1,
  });
  return o.p99;
}

async function burst(s: E2eSetup): Promise<void> {
  const N = 5_000;
  const S = 1_000;
  const BASE = 3_000_000;
  const cpu = new CpuWindow(s.pid);
  const offered: number[] = [];
  const t0 = performance.now();
  const per = N / S;
  // A session's messages arrive back to back (a user typing several lines), sessions one after another.
  for (let i = 0; i < N; i++) offered.push(s.push(BASE + Math.floor(i / per), BASE + i));
  // Done when the last message of each session is covered by that session's last reply.
  const lastOf = new Set<string>();
  for (let c = 0; c < S; c++) lastOf.add(`m${BASE + c * per + per - 1}`);
  let covered = 0;
  s.onReply = (marker) => {
    if (lastOf.has(marker)) covered++;
  };
  for (const m of lastOf) if (s.replies.has(m)) covered++;
  await waitProgress(() => covered >= S, () => s.replies.size, 60_000, () => `${covered}/${S} sessions done; unmatched sends ${s.unmatched.count}: ${s.unmatched.samples.join(' | ')}`);
  const elapsed = (performance.now() - t0) / 1000;
  const usage = cpu.read(N);
  s.onReply = undefined;
  s.takeModelRequests();
  // Per session: runs in order (a run answers its last message's marker); a message belongs to the first run
  // whose last message is at or after it.
  const queue: number[] = [];
  const overhead: number[] = [];
  let runs = 0;
  for (let c = 0; c < S; c++) {
    let prevReply = -Infinity;
    let pending: number[] = [];
    for (let i = c * per; i < (c + 1) * per; i++) {
      pending.push(i);
      const marker = `m${BASE + i}`;
      const reply = s.replies.get(marker);
      const run = s.modelRuns.get(marker);
      if (reply === undefined || run === undefined) continue; // merged into a later run
      runs++;
      const ready = Math.max(offered[i]!, prevReply);
      for (const j of pending) queue.push(ready - offered[j]!);
      overhead.push(reply.at - ready - (run.finishedAt - run.receivedAt));
      prevReply = reply.at;
      pending = [];
    }
  }
  const q = pct(queue);
  const o = pct(overhead);
  emit({
    bench: 'e2e',
    workload: 'burst 5k msgs / 1k sessions',
    messages: N,
    msgsPerSec: Math.round(N / elapsed),
    replies: runs,
    elapsedMs: Math.round(elapsed * 1000),
    overheadP50Ms: o.p50,
    overheadP99Ms: o.p99,
    queueP50Ms: q.p50,
    queueP99Ms: q.p99,
    rssMB: usage.gatewayRssMB,
    cpuPct: usage.gatewayCpuPct,
    cpuMsPerMsg: usage.gatewayCpuMsPerMsg,
    benchCpuPct: usage.benchCpuPct,
    load1: usage.load1,
  });
}

/** Runs the workloads and prints one JSON line each. */
export async function run(): Promise<void> {
  const rates = (process.env['E2E_RATES'] ?? '1000,200').split(',').map(Number).filter((r) => r > 0);
  const workloads = (process.env['E2E_WORKLOADS'] ?? 'steady,burst,floor').split(',');
  const fixedN = Number(process.env['E2E_MESSAGES'] ?? 0);
  const s = await startE2e({ profileName: `gateway-${process.pid}` });
  try {
    // Warm-up (JIT, tokenizer, SQLite pages).
    const warm = new Set<string>();
    for (let i = 0; i < 300; i++) {
      warm.add(`m${1_000_000 + i}`);
      s.push(1_000_000 + i, 1_000_000 + i);
    }
    await waitUntil(() => [...warm].every((m) => s.replies.has(m)), 300_000);
    if (workloads.includes('steady')) {
      let base = 10_000_000;
      for (const rate of rates) {
        await steady(s, steadyCount(rate, fixedN), rate, base);
        base += 2_000_000;
      }
    }
    if (workloads.includes('burst')) await burst(s);
  } finally {
    await s.close();
  }
  if (workloads.includes('floor')) await floor(rates, fixedN);
}

/**
 * The same steady runs through `floor-gateway.mjs`, a pass-through with no store and no scheduler: the part
 * of every overhead above that the driver, the loopback hops and the machine account for on their own.
 */
async function floor(rates: number[], fixedN: number): Promise<void> {
  const s = await startE2e({ floor: true });
  try {
    let base = 20_000_000;
    for (const rate of rates) {
      await steady(s, steadyCount(rate, fixedN), rate, base, 'floor');
      base += 2_000_000;
    }
  } finally {
    await s.close();
  }
}
