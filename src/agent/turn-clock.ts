/**
 * Per-turn timing for the benchmark and metrics: wall time and process CPU time of the whole turn, minus the
 * spans spent in the model call and in channel delivery. Built only when someone listens (`onTiming`), so
 * the turn path pays nothing otherwise. Internal.
 */
import { performance } from 'node:perf_hooks';

/** Timing of one turn. */
export interface TurnTiming {
  turnId: string;
  /** Whole `run` (ms, wall). */
  totalMs: number;
  /** Inside the provider call(s), retries and overflow compaction included (ms, wall). */
  modelMs: number;
  /** Inside `ReplyStream.complete` (channel delivery, ms, wall). */
  deliverMs: number;
  /** The runner's own cost: total minus model minus delivery (ms, wall; includes OS preemption). */
  overheadMs: number;
  /** The same span in process CPU time (ms): insensitive to preemption on a busy machine. */
  overheadCpuMs: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Accumulates the spans of one turn. Internal. */
export class TurnClock {
  private readonly wall0 = performance.now();
  private readonly cpu0 = cpuMs();
  private model = 0;
  private deliver = 0;
  private excludedCpu = 0;

  /** Runs `fn`, counting its span as `kind` (excluded from the overhead). */
  async span<T>(kind: 'model' | 'deliver', fn: () => Promise<T>): Promise<T> {
    const w = performance.now();
    const c = cpuMs();
    try {
      return await fn();
    } finally {
      const dw = performance.now() - w;
      if (kind === 'model') this.model += dw;
      else this.deliver += dw;
      this.excludedCpu += cpuMs() - c;
    }
  }

  /** The turn's timing. */
  finish(turnId: string): TurnTiming {
    const totalMs = performance.now() - this.wall0;
    const totalCpu = cpuMs() - this.cpu0;
    return {
      turnId,
      totalMs,
      modelMs: this.model,
      deliverMs: this.deliver,
      overheadMs: totalMs - this.model - this.deliver,
      overheadCpuMs: Math.max(0, totalCpu - this.excludedCpu),
    };
  }
}
