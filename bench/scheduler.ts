/**
 * Scheduler throughput and latency with no-op runs through one lane of 64, against the bare floor for the
 * same shape measured in the same process: one promise chain per session plus a p-limit(64) lane.
 *
 * Messages arrive in bursts of BURST per event-loop turn (a gateway receives them from sockets, not in one
 * synchronous loop), so enqueue-to-start latency is meaningful: it is the time a message waits behind the
 * work already queued, plus the scheduler's own cost.
 */
import pLimit from 'p-limit';
import { Scheduler } from '../src/scheduler/index.js';
import { emit, fullGc, percentile, round, rssMB, yieldLoop } from './_util.js';

const BURST = 1_000;
const LANE = 64;

interface BenchMsg {
  id: string;
  sessionKey: string;
  senderId: string;
  i: number;
}

function messages(total: number, sessions: number): BenchMsg[] {
  const out = new Array<BenchMsg>(total);
  for (let i = 0; i < total; i++) {
    const s = i % sessions;
    out[i] = { id: `m${i}`, sessionKey: `s${s}`, senderId: `u${s}`, i };
  }
  return out;
}

/** Switchyard: `queue` mode (each message its own run), maxConcurrent 1, lane of 64, no-op runner. */
async function scheduler(msgs: BenchMsg[]): Promise<{ ms: number; p99Us: number }> {
  const enq = new Float64Array(msgs.length);
  const lat = new Float64Array(msgs.length);
  let done = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  const s = new Scheduler<BenchMsg>({
    lanes: { main: LANE },
    settings: () => SETTINGS,
    run: (turn) => {
      const m = turn.messages[0]!;
      lat[m.i] = performance.now() - enq[m.i]!;
    },
  });
  s.on('outcome', () => {
    if (++done === msgs.length) resolveAll();
  });
  const t0 = performance.now();
  for (let i = 0; i < msgs.length; i++) {
    enq[i] = performance.now();
    s.submit(msgs[i]!);
    if ((i + 1) % BURST === 0) await yieldLoop();
  }
  await all;
  const ms = performance.now() - t0;
  await s.drain({ deadlineMs: 0 });
  return { ms, p99Us: percentile(lat, 99) * 1000 };
}
const SETTINGS = { mode: 'queue', cap: 1_000_000, maxConcurrent: 1 } as const;

/** The floor: a promise chain per session feeding a p-limit lane, nothing else. */
async function floor(msgs: BenchMsg[]): Promise<{ ms: number }> {
  const limit = pLimit(LANE);
  const chains = new Map<string, Promise<void>>();
  const noop = (): void => {};
  const t0 = performance.now();
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!;
    const prev = chains.get(m.sessionKey) ?? Promise.resolve();
    chains.set(m.sessionKey, prev.then(() => limit(noop)));
    if ((i + 1) % BURST === 0) await yieldLoop();
  }
  await Promise.all(chains.values());
  return { ms: performance.now() - t0 };
}

/** Runs the three workloads of issue 2 and prints one JSON line each. */
export async function run(): Promise<void> {
  const workloads: Array<[string, number, number]> = [
    ['100k/1k', 100_000, 1_000],
    ['1M/1k', 1_000_000, 1_000],
    ['100k/100k', 100_000, 100_000],
  ];
  // Warm-up, so the JIT does not bill the first workload.
  await scheduler(messages(20_000, 100));
  await floor(messages(20_000, 100));
  const times: Record<string, number> = {};
  for (const [name, total, sessions] of workloads) {
    const msgs = messages(total, sessions);
    await fullGc();
    const baseline = rssMB();
    const sw = await scheduler(msgs);
    const peak = rssMB();
    await fullGc();
    const after = rssMB();
    const fl = await floor(msgs);
    times[name] = sw.ms;
    const msgsPerSec = Math.round(total / (sw.ms / 1000));
    const floorMsgsPerSec = Math.round(total / (fl.ms / 1000));
    emit({
      bench: 'scheduler',
      workload: name,
      messages: total,
      sessions,
      lane: LANE,
      msgsPerSec,
      floorMsgsPerSec,
      ratio: round(msgsPerSec / floorMsgsPerSec, 2),
      p99EnqueueToStartUs: round(sw.p99Us, 1),
      elapsedMs: round(sw.ms, 1),
      rssMB: peak,
      rssBaselineMB: baseline,
      rssAfterGcMB: after,
      rssAfterGcGrowthPct: round(((after - baseline) / baseline) * 100, 1),
    });
  }
  emit({
    bench: 'scheduler',
    workload: 'linearity',
    time1MOver100k: round(times['1M/1k']! / times['100k/1k']!, 2),
  });
}
