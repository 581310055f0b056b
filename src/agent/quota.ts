/**
 * A per-key quota for background jobs (compaction), after the pi Rust port: one job at a time per key,
 * `cooldownMs` between starts, `maxAttempts` failures in a row before the key is refused for good (a success
 * resets the count). The job's `timeoutMs` is enforced by the lane that runs it. Pure bookkeeping with an
 * injected clock, so tests drive it with fake time.
 */
import { InvalidOptionError } from '../errors/index.js';

/** Quota settings. */
export interface JobQuotaOptions {
  /** Least time between two starts for one key (ms). Default 60000. */
  cooldownMs?: number;
  /** A started job is aborted after this long (ms). Default 120000. */
  timeoutMs?: number;
  /** Failures in a row before the key is refused; reset by a success. Default 100. */
  maxAttempts?: number;
}

/** Why a start was refused. */
export type QuotaRefusal = 'busy' | 'cooldown' | 'attempts';

interface KeyState {
  running: boolean;
  lastStartAt: number;
  failures: number;
}

/** A snapshot of one key's quota, for logs and tests. */
export interface QuotaSnapshot {
  running: boolean;
  lastStartAt: number | undefined;
  failures: number;
}

function nonNegative(name: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new InvalidOptionError(name, `a number >= ${min}`, value);
  return value;
}

/** One-at-a-time + cooldown + attempts bookkeeping per key. */
export class JobQuota {
  readonly cooldownMs: number;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  private readonly keys = new Map<string, KeyState>();

  constructor(options: JobQuotaOptions = {}, private readonly now: () => number = Date.now) {
    this.cooldownMs = nonNegative('compaction.cooldownMs', options.cooldownMs, 60_000);
    this.timeoutMs = nonNegative('compaction.timeoutMs', options.timeoutMs, 120_000, 1);
    this.maxAttempts = nonNegative('compaction.maxAttempts', options.maxAttempts, 100, 1);
  }

  /**
   * Why a start would be refused now, or undefined when it may start. `force` (a turn that overflowed and
   * cannot proceed without compaction) skips the cooldown and the attempts limit, never the one-at-a-time rule.
   */
  check(key: string, force = false): QuotaRefusal | undefined {
    const s = this.keys.get(key);
    if (s === undefined) return undefined;
    if (s.running) return 'busy';
    if (!force && s.failures >= this.maxAttempts) return 'attempts';
    if (!force && this.now() - s.lastStartAt < this.cooldownMs) return 'cooldown';
    return undefined;
  }

  /** Marks a start; returns the refusal instead when not allowed (nothing is recorded then). */
  tryStart(key: string, force = false): QuotaRefusal | undefined {
    const refusal = this.check(key, force);
    if (refusal !== undefined) return refusal;
    const s = this.keys.get(key) ?? { running: false, lastStartAt: 0, failures: 0 };
    s.running = true;
    s.lastStartAt = this.now();
    this.keys.set(key, s);
    return undefined;
  }

  /** Marks the end of the running job. A success resets the failure count. */
  finish(key: string, success: boolean): void {
    const s = this.keys.get(key);
    if (s === undefined) return;
    s.running = false;
    s.failures = success ? 0 : s.failures + 1;
    this.prune();
  }

  /** The key's state. */
  snapshot(key: string): QuotaSnapshot {
    const s = this.keys.get(key);
    return { running: s?.running ?? false, lastStartAt: s?.lastStartAt, failures: s?.failures ?? 0 };
  }

  /** Forgets keys whose state no longer matters (idle, past cooldown, no failures), so idle sessions cost nothing. */
  private prune(): void {
    if (this.keys.size < 1024) return;
    const now = this.now();
    for (const [key, s] of this.keys) {
      if (!s.running && s.failures === 0 && now - s.lastStartAt >= this.cooldownMs) this.keys.delete(key);
    }
  }
}
