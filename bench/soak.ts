/**
 * Soak benchmark (opt-in: `npm run bench -- soak`; `npm run bench` alone skips it): pushes `SOAK_MESSAGES`
 * (default 1,000,000) messages through the whole gateway (child process, SQLite, Telegram against the fake
 * Bot API, the fake model) and watches the gateway's memory. After a warm-up it samples every `SOAK_EVERY`
 * messages and reports whether RSS stayed within 10 % of the first sample, and what RSS is made of, so that a
 * leak (live objects or native memory growing) can be told from V8 sizing its heap to the allocation rate.
 *
 * Load: closed loop with `SOAK_INFLIGHT` (default 200) messages outstanding over `SOAK_SESSIONS` (default
 * 5,000) session slots, round robin, so no session has two messages in flight. The workload is stationary: a
 * session is retired after `SOAK_SESSION_TURNS` (default 20) turns and a new one takes its slot (staggered,
 * so after sessions x turns messages, 100k by default, every history length is equally common), so per-turn
 * work does not grow with N and the gateway must forget the sessions it no longer hears from (1M messages
 * reach ~55k sessions). Compaction runs too: `SOAK_COMPACT_AT` (default 256 tokens, ~18 turns; 0 = off).
 * (Before, 20k sessions round robin grew every history to 50 turns by 1M: the work grew with N.)
 *
 * Figures per sample: RSS and its anonymous / file-backed split (/proc), the V8 heap in use after the major GCs
 * of the window (`--trace-gc` on the gateway; `SOAK_TRACE_GC=0` drops it), the lowest heap in use polled from
 * `/metrics` every 2 s, V8's heap capacity and RSS minus it (native: malloc, SQLite's page cache, code), and
 * the SQLite file + WAL. Warm-up N/5 and a sample every N/10 below 500k messages, else 100k and 50k
 * (`SOAK_WARMUP`, `SOAK_EVERY`). The fakes forget their records as they go, so this process stays flat too.
 */
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CpuWindow, gatewayMetrics, procMem, startE2e, waitUntil } from './_gateway.js';
import { emit, round } from './_util.js';

function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? '');
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

/** One sample of the gateway's memory (MB) after `messages` were answered. */
interface Sample {
  messages: number;
  rssMB: number;
  anonMB: number;
  fileMB: number;
  shmemMB: number;
  /** SQLite file + WAL. */
  dbMB: number;
  /** Median V8 heap in use right after the window's major GCs (`--trace-gc`): the live objects. */
  liveMB: number | undefined;
  majorGcs: number;
  /** Lowest V8 heap in use seen in the window that ended here (polled every 2 s). */
  heapMinMB?: number | undefined;
  heapTotalMB?: number | undefined;
  externalMB?: number | undefined;
  /** Heap capacity by V8 space (progress line). */
  spacesMB?: string;
  compactions?: number;
  /** Jobs waiting in the background lane (a backlog grows the live heap without being a leak). */
  backgroundPending?: number | undefined;
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Distinct sessions the first `n` messages went to (see `sessionOf`). */
function sessionsUsed(n: number, S: number, T: number): number {
  let total = 0;
  for (let slot = 0; slot < Math.min(S, n); slot++) {
    const lastTurn = Math.floor((n - 1 - slot) / S);
    total += Math.floor((lastTurn + (slot % T)) / T) + 1;
  }
  return total;
}

function label(n: number): string {
  return n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

/** Runs the soak and prints one JSON line. */
export async function run(): Promise<void> {
  const N = envInt('SOAK_MESSAGES', 1_000_000);
  const S = envInt('SOAK_SESSIONS', 5_000);
  const W = envInt('SOAK_INFLIGHT', 200);
  const T = envInt('SOAK_SESSION_TURNS', 20);
  // Message i goes to slot i % S; a slot's session is retired after T turns and a new one takes its place. The
  // slots are staggered (slot k starts k % T turns into its first session), so after S * T messages the mix of
  // history lengths is uniform and stays so: the workload no longer grows with N, and the gateway must forget
  // the sessions it no longer hears from.
  const sessionOf = (i: number): number => {
    const slot = i % S;
    return slot + S * Math.floor((Math.floor(i / S) + (slot % T)) / T);
  };
  const warmup = envInt('SOAK_WARMUP', N < 500_000 ? Math.floor(N / 5) : 100_000);
  const every = envInt('SOAK_EVERY', N < 500_000 ? Math.max(1, Math.floor(N / 10)) : 50_000);
  const BASE = 10_000_000;
  // Compaction threshold (tokens; 256 is the config's floor): a turn of this workload is ~14 tokens (the message
  // 9, the answer 5: the fake reports one completion token), so a session compacts around its 18th turn (of 20),
  // keeping ~6 turns verbatim. 0 = the config's default (no compaction).
  const compactAt = Number(process.env['SOAK_COMPACT_AT'] ?? 256);
  const compaction = Number.isInteger(compactAt) && compactAt >= 256 ? { compactAt, keepRecentTokens: Math.floor(compactAt * 0.375) } : undefined;
  // The live heap: `--trace-gc` prints each major GC's heap in use after it ("Mark-Compact 250.1 (300.2) ->
  // 90.3 (310.5) MB"), the objects that survived, i.e. what a leak grows. Per isolate (the checkpoint worker has
  // its own); the gateway's main isolate is the largest.
  const traceGc = process.env['SOAK_TRACE_GC'] !== '0';
  const afterGc = new Map<string, number[]>();
  let gcTail = '';
  const onStdout = (text: string): void => {
    const lines = (gcTail + text).split('\n');
    gcTail = lines.pop() ?? '';
    for (const line of lines) {
      const m = /^\[\d+:(0x[0-9a-f]+)\].*Mark-Compact[^\d]*[\d.]+ \([\d.]+\) -> ([\d.]+) \(([\d.]+)\) MB/.exec(line);
      if (m === null) continue;
      const list = afterGc.get(m[1]!) ?? [];
      list.push(Number(m[2]));
      afterGc.set(m[1]!, list);
    }
  };
  /** Median heap in use after the major GCs since the last call (main isolate), and how many there were. */
  const takeAfterGc = (): { liveMB: number | undefined; majorGcs: number } => {
    let main: number[] = [];
    for (const list of afterGc.values()) if (list.length > 0 && (main.length === 0 || median(list) > median(main))) main = list;
    const out = { liveMB: main.length > 0 ? round(median(main), 1) : undefined, majorGcs: main.length };
    for (const list of afterGc.values()) list.length = 0;
    return out;
  };
  const s = await startE2e({
    profileName: `soak-${process.pid}`,
    // Compaction jobs run in the background lane: its default 2 slots serve ~30 jobs/s against the fake model, about
    // what this workload asks at 600 msgs/s, so they queued for minutes and the queue was the "growth" (observed:
    // 3,600 waiting, the oldest 120 s, live heap +18 % over 200k). 16 slots keep it empty: a backlog is not a leak.
    ...(compaction === undefined ? {} : { compaction, backgroundLane: 16 }),
    ...(traceGc ? { nodeFlags: ['--trace-gc'], onStdout } : {}),
  });
  const samples: Sample[] = [];
  // The V8 heap in use swings with the GC cycle (garbage waits for the next major GC): polled every 2 s, the
  // lowest figure of a window is close to what survives a GC (the live objects), the figure a leak grows.
  let heapMin = Number.POSITIVE_INFINITY;
  let lastMetrics = new Map<string, number>();
  let polling: Promise<void> | undefined;
  const poll = (): Promise<void> =>
    (polling ??= gatewayMetrics(s.url)
      .then((m) => {
        lastMetrics = m;
        heapMin = Math.min(heapMin, m.get('nodejs_heap_size_used_bytes') ?? Number.POSITIVE_INFINITY);
      })
      .catch(() => undefined)
      .finally(() => (polling = undefined)));
  const poller = setInterval(() => void poll(), 2000);
  const MB = (bytes: number | undefined): number | undefined => (bytes === undefined || !Number.isFinite(bytes) ? undefined : round(bytes / 1_048_576, 1));
  const dbMB = (): number => {
    let bytes = 0;
    for (const f of [s.dbPath, `${s.dbPath}-wal`]) {
      try {
        bytes += statSync(f).size;
      } catch {
        // no WAL right after a checkpoint truncated it
      }
    }
    return round(bytes / 1_048_576, 1);
  };
  try {
    let sent = 0;
    let answered = 0;
    let nextSample = warmup;
    let cpu: CpuWindow | undefined;
    let t0 = performance.now();
    // Messages in flight per session (push times by index): a reply answers its marker and, when the gateway
    // merged a late message into a follow-up, the earlier ones of that session too.
    const inFlight = new Map<number, Array<{ i: number; at: number }>>();
    let merged = 0;
    let nextForget = 10_000;
    let maxLatencyMs = 0;
    const pushNext = (): void => {
      if (sent >= N) return;
      const i = sent++;
      const at = s.push(BASE + sessionOf(i), BASE + i);
      const list = inFlight.get(sessionOf(i));
      if (list === undefined) inFlight.set(sessionOf(i), [{ i, at }]);
      else list.push({ i, at });
    };
    s.onReply = (marker, reply) => {
      const i = Number(marker.slice(1)) - BASE;
      const list = inFlight.get(sessionOf(i));
      if (list === undefined) return;
      let covered = 0;
      const firstAt = list[0]?.at ?? reply.at;
      while (list.length > 0 && list[0]!.i <= i) {
        maxLatencyMs = Math.max(maxLatencyMs, reply.at - list.shift()!.at);
        covered++;
      }
      if (list.length === 0) inFlight.delete(sessionOf(i));
      if (covered === 0) return;
      if (covered > 1 && process.env['SOAK_TRACE'] === '1') {
        // Which message waited for its session's next one, and how long: for a post-mortem with E2E_GATEWAY_LOG.
        process.stderr.write(`soak: reply to m${BASE + i} covered ${covered} messages; the oldest waited ${Math.round(reply.at - firstAt)} ms\n`);
      }
      merged += covered - 1;
      answered += covered;
      if (answered >= nextForget) {
        nextForget += 10_000;
        // Keep this process flat: the fakes' records and the reply index are not needed here.
        s.tg.forgetHistory();
        s.replies.clear();
        s.model.requests.length = 0;
      }
      if (answered >= nextSample) {
        if (cpu === undefined) {
          cpu = new CpuWindow(s.pid);
          t0 = performance.now();
        }
        const sample: Sample = { messages: answered, ...procMem(s.pid), dbMB: dbMB(), ...takeAfterGc() };
        samples.push(sample);
        void poll().then(() => {
          sample.heapMinMB = MB(heapMin);
          heapMin = Number.POSITIVE_INFINITY;
          sample.heapTotalMB = MB(lastMetrics.get('nodejs_heap_size_total_bytes'));
          sample.externalMB = MB(lastMetrics.get('nodejs_external_memory_bytes'));
          // Which V8 space holds the capacity (progress line only): old, new (semi-spaces), large objects, code.
          sample.spacesMB = ['old', 'new', 'large_object', 'code'].map((sp) => `${sp}:${MB(lastMetrics.get(`nodejs_heap_space_size_total_bytes{space="${sp}"}`)) ?? '?'}`).join(' ');
          sample.compactions = lastMetrics.get('compactions_total{result="applied"}') ?? 0;
          sample.backgroundPending = lastMetrics.get('lane_pending{lane="background"}');
          // Progress for a long run (stderr: the JSON line on stdout stays the result).
          process.stderr.write(`soak: ${JSON.stringify(sample)}\n`);
        });
        nextSample += every;
      }
      for (let k = 0; k < covered; k++) pushNext();
    };
    for (let i = 0; i < W; i++) pushNext();
    // No deadline for the whole run (1M messages take a while), but a stall of 2 minutes is a failure.
    let last = -1;
    let lastAt = performance.now();
    await waitUntil(() => {
      if (answered !== last) {
        last = answered;
        lastAt = performance.now();
      } else if (performance.now() - lastAt > 120_000) {
        throw new Error(`soak stalled at ${answered} of ${N} messages answered`);
      }
      return answered >= N;
    }, 7 * 24 * 3600_000);
    const secs = (performance.now() - t0) / 1000;
    clearInterval(poller);
    await poll();
    const lastSample = samples[samples.length - 1];
    if (lastSample !== undefined && lastSample.heapMinMB === undefined) lastSample.heapMinMB = MB(heapMin);
    const usage = cpu?.read();
    const first = samples[0]?.rssMB ?? 0;
    const max = Math.max(...samples.map((x) => x.rssMB));
    const growthPct = first > 0 ? round(((max - first) / first) * 100, 1) : 0;
    // The two figures that tell a leak from the allocator: live objects (after a major GC) and the memory that is
    // not V8 heap (RSS - heap capacity: malloc, SQLite's page cache, code). Growth of the last sample over the
    // first; RSS then follows V8's heap capacity, which V8 sizes from the allocation rate, not the live set.
    const pct = (pick: (x: Sample) => number | undefined): number | undefined => {
      const a = samples[0] === undefined ? undefined : pick(samples[0]);
      const b = lastSample === undefined ? undefined : pick(lastSample);
      return a === undefined || b === undefined || !(a > 0) ? undefined : round(((b - a) / a) * 100, 1);
    };
    const nonHeap = (x: Sample): number | undefined => (x.heapTotalMB === undefined ? undefined : round(x.rssMB - x.heapTotalMB, 1));
    const series = (pick: (x: Sample) => number | undefined): string => samples.map((x) => `${label(x.messages)}:${pick(x) ?? '?'}`).join(' ');
    emit({
      bench: 'soak',
      workload: `${N / 1000}k msgs / ${S / 1000}k sessions at a time, ${T} turns each, ${W} in flight, compactAt ${compaction?.compactAt ?? 'default'}`,
      sessionsTotal: sessionsUsed(N, S, T),
      messages: N,
      msgsPerSec: samples.length > 0 ? Math.round((answered - samples[0]!.messages) / secs) : 0,
      rssFirstMB: first,
      rssMaxMB: max,
      rssLastMB: samples[samples.length - 1]?.rssMB ?? 0,
      rssGrowthPct: growthPct,
      withinTenPct: growthPct <= 10,
      liveGrowthPct: pct((x) => x.liveMB),
      nonHeapGrowthPct: pct(nonHeap),
      heapTotalGrowthPct: pct((x) => x.heapTotalMB),
      compactions: lastMetrics.get('compactions_total{result="applied"}') ?? 0,
      merged,
      // Sends that answered no marker: failure or drop notices (each message that got one was then counted by
      // its session's next reply, as "merged").
      otherSends: s.unmatched.count,
      maxLatencyMs: Math.round(maxLatencyMs),
      rssSamples: series((x) => x.rssMB),
      // RSS split: anonymous (V8 heap, malloc, SQLite page cache) vs file-backed (code, mapped files).
      anonSamples: series((x) => x.anonMB),
      fileSamples: series((x) => x.fileMB),
      // Live JS objects (lowest heap in use of the window) vs the heap V8 holds (capacity).
      liveAfterGcSamples: series((x) => x.liveMB),
      heapMinSamples: series((x) => x.heapMinMB),
      heapTotalSamples: series((x) => x.heapTotalMB),
      backgroundPendingSamples: series((x) => x.backgroundPending),
      nonHeapSamples: series(nonHeap),
      externalSamples: series((x) => x.externalMB),
      dbSamples: series((x) => x.dbMB),
      cpuPct: usage?.gatewayCpuPct,
      benchCpuPct: usage?.benchCpuPct,
      load1: usage?.load1,
    });
  } finally {
    clearInterval(poller);
    s.onReply = undefined;
    await s.close();
  }
}
