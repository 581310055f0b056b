/**
 * The store's housekeeping loop: TTL pruning of finished records and a nightly online backup. One timer
 * (unref'd: it never keeps the process alive), ticks that never overlap, and failures that are logged and
 * retried on a later tick, never thrown into the gateway.
 *
 * The backup runs during the configured local hour, guarded by the age of the newest backup file (23 h by
 * default) rather than by in-memory state, so a restart during that hour does not take a second backup and a
 * manual `backupNow()` earlier in the day counts.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../log/index.js';
import { InvalidOptionError } from '../errors/index.js';
import { newestBackupTime } from './backup-files.js';
import type { Store } from './store.js';

const HOUR = 3_600_000;

/** Nightly backup settings. */
export interface BackupSchedule {
  /** Folder the backups go to (created if missing). */
  dir: string;
  /** Local hour (0-23) during which the nightly backup is taken. Default 3. */
  hour?: number;
  /** Backups kept. Default 14. */
  keep?: number;
  /** A backup newer than this (ms) makes the nightly one unnecessary. Default 23 h. */
  freshnessMs?: number;
}

/** Options of `Maintenance`. */
export interface MaintenanceOptions {
  store: Pick<Store, 'prune' | 'backup'>;
  /** Finished records older than this are pruned (ms). Default 24 h. History is never pruned. */
  ttlMs?: number;
  /** How often pruning runs (ms). Default 1 h. */
  pruneEveryMs?: number;
  /** Nightly backups; off when absent. */
  backup?: BackupSchedule;
  /** Tick interval (ms). Default 60 s. */
  tickMs?: number;
  /** Clock (ms). Default `Date.now`. */
  now?: () => number;
  logger?: Logger;
}

/** What one tick did. */
export interface MaintenanceTickResult {
  pruned?: { messages: number; runs: number };
  backup?: string;
  /** Errors met (already logged). */
  errors: Error[];
}

/** The maintenance loop (see the file comment). */
export class Maintenance {
  private readonly store: Pick<Store, 'prune' | 'backup'>;
  private readonly ttlMs: number;
  private readonly pruneEveryMs: number;
  private readonly tickMs: number;
  private readonly schedule: Required<BackupSchedule> | undefined;
  private readonly now: () => number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<MaintenanceTickResult> | undefined;
  private lastPrune = Number.NEGATIVE_INFINITY;
  private signal: AbortSignal | undefined;
  private readonly onAbort = (): void => void this.stop();

  constructor(options: MaintenanceOptions) {
    this.store = options.store;
    this.ttlMs = positive('ttlMs', options.ttlMs ?? 24 * HOUR);
    this.pruneEveryMs = positive('pruneEveryMs', options.pruneEveryMs ?? HOUR);
    this.tickMs = positive('tickMs', options.tickMs ?? 60_000);
    this.now = options.now ?? Date.now;
    this.log = options.logger ?? silentLogger;
    if (options.backup !== undefined) {
      const hour = options.backup.hour ?? 3;
      if (!Number.isInteger(hour) || hour < 0 || hour > 23) throw new InvalidOptionError('backup.hour', 'an integer hour 0-23', hour);
      const keep = options.backup.keep ?? 14;
      if (!Number.isInteger(keep) || keep < 1) throw new InvalidOptionError('backup.keep', 'an integer >= 1', keep);
      if (options.backup.dir === '') throw new InvalidOptionError('backup.dir', 'a folder path', options.backup.dir);
      this.schedule = { dir: options.backup.dir, hour, keep, freshnessMs: positive('backup.freshnessMs', options.backup.freshnessMs ?? 23 * HOUR) };
    }
  }

  /** Starts ticking (first tick at once). Stops when `signal` aborts. Idempotent. */
  start(signal?: AbortSignal): void {
    if (this.timer !== undefined || signal?.aborted === true) return;
    this.signal = signal;
    signal?.addEventListener('abort', this.onAbort, { once: true });
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
    void this.tick();
  }

  /** Stops ticking and waits for a tick in progress. Idempotent. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.signal = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One pass: prunes if due, backs up if due. A tick already running is joined, not duplicated. */
  tick(): Promise<MaintenanceTickResult> {
    this.running ??= this.runTick().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Takes a backup now, whatever the hour (the CLI's `backup` command). Requires `backup` options. */
  async backupNow(): Promise<string> {
    if (this.schedule === undefined) throw new InvalidOptionError('backup', 'a backup schedule (backup.dir) to back up into', undefined);
    const file = await this.store.backup(this.schedule.dir, { keep: this.schedule.keep });
    this.log.info({ file }, 'backup taken');
    return file;
  }

  private async runTick(): Promise<MaintenanceTickResult> {
    const result: MaintenanceTickResult = { errors: [] };
    const now = this.now();
    if (now - this.lastPrune >= this.pruneEveryMs) {
      this.lastPrune = now;
      try {
        result.pruned = await this.store.prune(now - this.ttlMs);
      } catch (err) {
        result.errors.push(err as Error);
        this.log.error({ err }, 'pruning failed; retried at the next interval');
      }
    }
    if (this.schedule !== undefined && new Date(now).getHours() === this.schedule.hour) {
      try {
        const newest = await newestBackupTime(this.schedule.dir);
        if (newest === undefined || now - newest >= this.schedule.freshnessMs) result.backup = await this.backupNow();
      } catch (err) {
        result.errors.push(err as Error);
        this.log.error({ err, dir: this.schedule.dir }, 'nightly backup failed; retried at the next tick');
      }
    }
    return result;
  }
}

function positive(option: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new InvalidOptionError(option, 'a number > 0 (ms)', value);
  return value;
}
