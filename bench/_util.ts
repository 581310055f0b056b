/** Shared helpers of the benchmarks: percentiles, memory after GC, JSON-line output. */

/** The p-th percentile (0..100) of `values` (sorted in place). */
export function percentile(values: Float64Array | number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = values instanceof Float64Array ? values.sort() : values.sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Runs a full GC when exposed (`node --expose-gc`), a few times to settle weak refs and finalizers. */
export async function fullGc(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

/** Resident set size in MB, rounded to 0.1. */
export function rssMB(): number {
  return round(process.memoryUsage().rss / 1_048_576, 1);
}

/** Rounds to `digits` decimals. */
export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Every record emitted in this process, for `bench/run.ts` to write `bench/results/latest.json`. */
export const emitted: Array<Record<string, unknown>> = [];

/** Prints one benchmark result as a JSON line (and keeps it for the results file). */
export function emit(record: Record<string, unknown>): void {
  emitted.push(record);
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

/** Yields to the event loop (lets I/O and timers run between bursts). */
export function yieldLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
