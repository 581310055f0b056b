/**
 * Soak benchmark (opt-in: `npm run bench -- soak`; `npm run bench` alone skips it): pushes `SOAK_MESSAGES`
 * (default 1,000,000) messages through the whole gateway (child process, SQLite, Telegram against the fake
 * Bot API, the fake model) and watches the gateway's RSS. After a warm-up it samples RSS every `SOAK_EVERY`
 * messages and reports whether it stayed within 10 % of the first sample (a leak grows without bound; a
 * healthy process plateaus once caches, the tokenizer and SQLite's page cache are full).
 *
 * Load: closed loop with `SOAK_INFLIGHT` (default 200) messages outstanding, round robin over
 * `SOAK_SESSIONS` (default 20,000) sessions, so no session has two messages in flight and histories grow
 * slowly (50 turns each at 1M). Defaults for small runs: warm-up N/5 and a sample every N/10 below 500k
 * messages, else 100k and 50k (`SOAK_WARMUP`, `SOAK_EVERY` override). The fakes forget their records as they
 * go, so this process stays flat too.
 */
import { performance } from 'node:perf_hooks';
import { CpuWindow, gatewayMetric, procStats, startE2e, waitUntil } from './_gateway.js';
import { emit, round } from './_util.js';

function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? '');
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

function label(n: number): string {
  return n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

/** Runs the soak and prints one JSON line. */
export async function run(): Promise<void> {
  const N = envInt('SOAK_MESSAGES', 1_000_000);
  const S = envInt('SOAK_SESSIONS', 20_000);
  const W = envInt('SOAK_INFLIGHT', 200);
  const warmup = envInt('SOAK_WARMUP', N < 500_000 ? Math.floor(N / 5) : 100_000);
  const every = envInt('SOAK_EVERY', N < 500_000 ? Math.max(1, Math.floor(N / 10)) : 50_000);
  const BASE = 10_000_000;
  const s = await startE2e({ profileName: `soak-${process.pid}` });
  const samples: Array<{ messages: number; rssMB: number; heapMB?: number }> = [];
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
      const at = s.push(BASE + (i % S), BASE + i);
      const list = inFlight.get(i % S);
      if (list === undefined) inFlight.set(i % S, [{ i, at }]);
      else list.push({ i, at });
    };
    s.onReply = (marker, reply) => {
      const i = Number(marker.slice(1)) - BASE;
      const list = inFlight.get(i % S);
      if (list === undefined) return;
      let covered = 0;
      const firstAt = list[0]?.at ?? reply.at;
      while (list.length > 0 && list[0]!.i <= i) {
        maxLatencyMs = Math.max(maxLatencyMs, reply.at - list.shift()!.at);
        covered++;
      }
      if (list.length === 0) inFlight.delete(i % S);
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
        const sample: { messages: number; rssMB: number; heapMB?: number } = { messages: answered, rssMB: procStats(s.pid).rssMB };
        samples.push(sample);
        // The V8 heap in use (from the gateway's /metrics) tells JS objects kept alive from native memory.
        void gatewayMetric(s.url, 'nodejs_heap_size_used_bytes')
          .then((bytes) => {
            sample.heapMB = round(bytes / 1_048_576, 1);
            // Progress for a long run (stderr: the JSON line on stdout stays the result).
            process.stderr.write(`soak: ${sample.messages} answered, gateway RSS ${sample.rssMB} MB, heap used ${sample.heapMB} MB\n`);
          })
          .catch(() => undefined);
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
    const lastSample = samples[samples.length - 1];
    if (lastSample !== undefined && lastSample.heapMB === undefined) {
      lastSample.heapMB = round((await gatewayMetric(s.url, 'nodejs_heap_size_used_bytes')) / 1_048_576, 1);
    }
    const usage = cpu?.read();
    const first = samples[0]?.rssMB ?? 0;
    const max = Math.max(...samples.map((x) => x.rssMB));
    const growthPct = first > 0 ? round(((max - first) / first) * 100, 1) : 0;
    emit({
      bench: 'soak',
      workload: `${N / 1000}k msgs / ${S / 1000}k sessions, ${W} in flight`,
      messages: N,
      msgsPerSec: samples.length > 0 ? Math.round((answered - samples[0]!.messages) / secs) : 0,
      rssFirstMB: first,
      rssMaxMB: max,
      rssLastMB: samples[samples.length - 1]?.rssMB ?? 0,
      rssGrowthPct: growthPct,
      withinTenPct: growthPct <= 10,
      merged,
      // Sends that answered no marker: failure or drop notices (each message that got one was then counted by
      // its session's next reply, as "merged").
      otherSends: s.unmatched.count,
      maxLatencyMs: Math.round(maxLatencyMs),
      rssSamples: samples.map((x) => `${label(x.messages)}:${x.rssMB}`).join(' '),
      heapSamples: samples.map((x) => `${label(x.messages)}:${x.heapMB ?? '?'}`).join(' '),
      cpuPct: usage?.gatewayCpuPct,
      benchCpuPct: usage?.benchCpuPct,
      load1: usage?.load1,
    });
  } finally {
    s.onReply = undefined;
    await s.close();
  }
}
