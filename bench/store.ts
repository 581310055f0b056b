/**
 * Store benchmark: durable accepts per second (SqliteStore, both durability levels) against MemoryStore in the
 * same run, accept latency percentiles, and how long pruning and backups stall concurrent accepts.
 * Prints one JSON line per workload. Run: `npx tsx -e "import('./bench/store.ts').then(m=>m.run())"`.
 *
 * Workload: a closed loop of `concurrency` ingress callers, each accepting its next message as soon as the
 * previous one resolves (like adapters awaiting `receive` before acknowledging), over 1,000 sessions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InboundMessage } from '../src/channels/index.js';
import { MemoryStore, SqliteStore, type Store } from '../src/store/index.js';

const SESSIONS = 1_000;

function messages(count: number, offset = 0): InboundMessage[] {
  const out: InboundMessage[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const n = i + offset;
    const chat = String(n % SESSIONS);
    out[i] = {
      id: `tg-main:${chat}:${n}`,
      channelId: 'tg-main',
      platform: 'telegram',
      sessionKey: `tg-main:dm:${chat}`,
      chatId: chat,
      senderId: chat,
      senderName: 'Bench User',
      peer: 'dm',
      text: `Hello, this is benchmark message number ${n}, about as long as a typical chat line.`,
      mentionsBot: false,
      replyToBot: false,
      attachments: [],
      platformMessageId: String(n),
      sentAt: 1_700_000_000_000 + n,
      receivedAt: 1_700_000_000_000 + n,
    };
  }
  return out;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface LoadResult {
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  elapsedMs: number;
}

/** Closed-loop accepts; returns throughput and latency. */
async function acceptLoad(store: Store, batch: InboundMessage[], concurrency: number): Promise<LoadResult> {
  const lat = new Float64Array(batch.length);
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= batch.length) return;
      const s = performance.now();
      const r = await store.accept(batch[i]!);
      lat[i] = performance.now() - s;
      if (r.status !== 'accepted') throw new Error(`unexpected ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - t0;
  lat.sort();
  return {
    perSec: Math.round((batch.length / elapsedMs) * 1000),
    p50Ms: round(percentile(lat, 50)),
    p99Ms: round(percentile(lat, 99)),
    maxMs: round(lat[lat.length - 1] ?? 0),
    elapsedMs: Math.round(elapsedMs),
  };
}

/**
 * Open loop: accepts arrive at `rate` per second regardless of how fast the store answers (as platform
 * traffic does), for `durationMs`; latency is from the accept call to its resolve (p50/p99/max). The accept
 * call is made when the loop gets to it, so time the event loop was blocked before the call is not in that
 * figure: `arrivalP99Ms`/`arrivalMaxMs` measure from the scheduled arrival time instead, which includes it.
 * Settled promises are not kept (a gateway does not keep them either): keeping ~75k of them alive made every
 * young-generation GC copy them, adding multi-millisecond pauses that belonged to the harness, not the store.
 * Optionally runs `during` meanwhile.
 */
async function openLoop(
  store: Store,
  pool: InboundMessage[],
  rate: number,
  durationMs: number,
  during?: () => Promise<unknown>,
): Promise<LoadResult & { offered: number; arrivalP99Ms: number; arrivalMaxMs: number; duringMs?: number }> {
  const lat = new Float64Array(pool.length);
  const late = new Float64Array(pool.length);
  let done = 0;
  let issued = 0;
  let failure: unknown;
  let allSettled: (() => void) | undefined;
  const settle = (): void => {
    done++;
    if (done === issued) allSettled?.();
  };
  globalThis.gc?.(); // the pool was just built: collect now, not during the measurement
  const t0 = performance.now();
  let duringMs: number | undefined;
  const side = during?.().then(() => {
    duringMs = performance.now() - t0;
  });
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(pool.length, Math.floor(((now - t0) / 1000) * rate));
      while (issued < due) {
        const i = issued++;
        const s = performance.now();
        store.accept(pool[i]!).then(
          () => {
            const end = performance.now();
            lat[i] = end - s;
            late[i] = end - (t0 + ((i + 1) / rate) * 1000);
            settle();
          },
          (err: unknown) => {
            failure ??= err;
            settle();
          },
        );
      }
      const stillRunning = duringMs === undefined && side !== undefined;
      if ((now - t0 < durationMs || stillRunning) && issued < pool.length) setTimeout(tick, 0);
      else resolve();
    };
    tick();
  });
  if (done < issued) await new Promise<void>((resolve) => (allSettled = resolve));
  await side;
  if (failure !== undefined) throw failure;
  const elapsedMs = performance.now() - t0;
  const sorted = lat.subarray(0, issued).sort();
  const arrivals = late.subarray(0, issued).sort();
  return {
    offered: rate,
    perSec: Math.round((issued / elapsedMs) * 1000),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1] ?? 0),
    arrivalP99Ms: round(percentile(arrivals, 99)),
    arrivalMaxMs: round(arrivals[arrivals.length - 1] ?? 0),
    elapsedMs: Math.round(elapsedMs),
    ...(duringMs === undefined ? {} : { duringMs: Math.round(duringMs) }),
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function print(workload: string, figures: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench: 'store', workload, ...figures }));
}

/** Entry point for `npm run bench -- store`. */
export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'swyd-bench-store-'));
  const count = Number(process.env.BENCH_STORE_COUNT ?? 100_000);
  const concurrency = Number(process.env.BENCH_STORE_CONCURRENCY ?? 64);
  const rate = Number(process.env.BENCH_STORE_RATE ?? 30_000);
  let offset = 0;
  const fresh = (n: number): InboundMessage[] => messages(n, (offset += 10_000_000));
  try {
    // Warm up the JIT on a throwaway store of each kind.
    await acceptLoad(new MemoryStore(), fresh(5_000), concurrency);
    const warm = new SqliteStore({ path: join(dir, 'warm.db') });
    await acceptLoad(warm, fresh(5_000), concurrency);
    await warm.close();

    // 1. Throughput, closed loop: memory and both durability levels in the same run.
    const batch = messages(count);
    const memory = await acceptLoad(new MemoryStore(), batch, concurrency);
    print('accept-memory', { messages: count, concurrency, ...memory });
    for (const durability of ['process', 'power'] as const) {
      const store = new SqliteStore({ path: join(dir, `accept-${durability}.db`), durability });
      const r = await acceptLoad(store, batch, concurrency);
      print(`accept-sqlite-${durability}`, {
        messages: count,
        concurrency,
        ...r,
        commits: store.commits,
        ratioToMemory: Math.round((r.perSec / memory.perSec) * 1000) / 1000,
      });
      await store.close();
    }

    // 2. Latency under the target load, open loop.
    for (const durability of ['process', 'power'] as const) {
      const store = new SqliteStore({ path: join(dir, `latency-${durability}.db`), durability });
      const r = await openLoop(store, fresh(Math.ceil(rate * 2.5)), rate, 2_000);
      print(`latency-sqlite-${durability}`, { ...r, commits: store.commits });
      await store.close();
    }

    // 3. Stalls: a store holding `count` finished messages and runs, backed up then pruned while accepts
    //    keep arriving at 2,000/s; compare accept latency with the same load and no maintenance.
    const store = new SqliteStore({ path: join(dir, 'maint.db') });
    await acceptLoad(store, batch, concurrency);
    for (let i = 0; i < batch.length; i += 1_000) {
      const slice = batch.slice(i, i + 1_000);
      await store.recordOutcomes(slice.map((m) => ({ messageId: m.id, outcome: 'answered' as const, runId: `${m.id}#1`, at: 1 })));
      await Promise.all(
        slice.map((m) =>
          store.saveRun({ runId: `${m.id}#1`, sessionKey: m.sessionKey, messageIds: [m.id], state: 'answered', attempt: 1, createdAt: 1, updatedAt: 1 }),
        ),
      );
    }
    const trickle = 2_000;
    print('stall-baseline', { ...(await openLoop(store, fresh(trickle * 2), trickle, 1_000)) });
    print('stall-backup', { rows: count, ...(await openLoop(store, fresh(trickle * 60), trickle, 0, () => store.backup(join(dir, 'backups')))) });
    let pruned = { messages: 0, runs: 0 };
    const prune = await openLoop(store, fresh(trickle * 120), trickle, 0, async () => {
      pruned = await store.prune(Date.now() + 60_000);
    });
    print('stall-prune', { ...pruned, ...prune });
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
