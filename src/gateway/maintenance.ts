/**
 * Housekeeping on timers: prune terminal records older than `store.pruneTtlMs` (hourly), and take the nightly
 * online backup at `store.backup.hour` local time, keeping `keep` files. Timers are `unref()`'d so they never
 * hold the process open; a failing job is logged and retried at its next slot, never fatal.
 */
import type { Logger } from '../log/index.js';
import { silentLogger } from '../log/index.js';
import type { Store } from '../store/index.js';

/** Options of `Maintenance`. */
export interface MaintenanceOptions {
  store: Pick<Store, 'prune' | 'backup'>;
  pruneTtlMs: number;
  backup: { dir: string; hour: number; keep: number };
  /** How often pruning runs (ms). Default 1 h. */
  pruneEveryMs?: number;
  logger?: Logger;
  now?: () => number;
}

/** Milliseconds from `now` until the next local `hour`:00. Internal, exported for tests. */
export function msUntilHour(now: number, hour: number): number {
  const next = new Date(now);
  next.setHours(hour, 0, 0, 0);
  if (next.getTime() <= now) next.setDate(next.getDate() + 1);
  return next.getTime() - now;
}

/** The gateway's periodic jobs. */
export class Maintenance {
  private readonly o: MaintenanceOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private pruneTimer: ReturnType<typeof setInterval> | undefined;
  private backupTimer: ReturnType<typeof setTimeout> | undefined;
  private running = new Set<Promise<unknown>>();

  constructor(options: MaintenanceOptions) {
    this.o = options;
    this.log = (options.logger ?? silentLogger).child({ component: 'maintenance' });
    this.now = options.now ?? Date.now;
  }

  /** Arms the timers. Idempotent. */
  start(): void {
    if (this.pruneTimer !== undefined) return;
    this.pruneTimer = setInterval(() => void this.track(this.prune()), this.o.pruneEveryMs ?? 3_600_000);
    this.pruneTimer.unref();
    this.armBackup();
  }

  private armBackup(): void {
    if (this.o.backup.keep <= 0) return;
    this.backupTimer = setTimeout(() => {
      void this.track(this.backup()).finally(() => {
        if (this.pruneTimer !== undefined) this.armBackup();
      });
    }, msUntilHour(this.now(), this.o.backup.hour));
    this.backupTimer.unref();
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return p;
  }

  /** Deletes terminal records older than the TTL. Never throws. */
  async prune(): Promise<{ messages: number; runs: number } | undefined> {
    try {
      const result = await this.o.store.prune(this.now() - this.o.pruneTtlMs);
      this.log.info(result, 'pruned finished records');
      return result;
    } catch (err) {
      this.log.error({ err }, 'prune failed; retrying at the next slot');
      return undefined;
    }
  }

  /** Takes a backup now. Never throws. */
  async backup(): Promise<string | undefined> {
    try {
      const file = await this.o.store.backup(this.o.backup.dir, { keep: this.o.backup.keep });
      this.log.info({ file }, 'backup written');
      return file;
    } catch (err) {
      this.log.error({ err }, 'backup failed; retrying tomorrow');
      return undefined;
    }
  }

  /** Disarms the timers and waits for a job in progress. */
  async stop(): Promise<void> {
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer);
    if (this.backupTimer !== undefined) clearTimeout(this.backupTimer);
    this.pruneTimer = undefined;
    this.backupTimer = undefined;
    await Promise.allSettled([...this.running]);
  }
}
