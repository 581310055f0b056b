/**
 * Group commit. Every write of the store is an operation queued here; all operations queued in the same
 * event-loop turn run in ONE transaction, committed (and, with `synchronous=FULL`, fsynced) once, and only
 * then are their promises resolved. So "durable when it resolves" holds for each write, while a burst of N
 * accepts costs one fsync instead of N.
 *
 * Invariants:
 * - Operations run in the order they were queued (a saveRun queued before a recordOutcomes commits first).
 * - A promise resolves only after the transaction holding its operation committed; if the commit fails,
 *   every operation of the batch is rejected (none of them was stored).
 * - One failing operation does not fail its neighbours: multi-statement operations run inside a savepoint
 *   (`atomic`), single statements are atomic on their own.
 * - If SQLite aborts the transaction itself mid-batch (disk full), the whole batch is rejected: nothing of it
 *   was stored, and nothing runs outside the transaction.
 * - `flush()` runs the queue synchronously: reads call it first, so a read sees every write queued before it.
 *   A read of one key (a session's history, a run's deliveries) calls `flushFor(key)` instead, which commits
 *   early only if a queued write declared that key, or declared none (a write that names no keys counts as
 *   touching everything). Flushing on every read cut the group commits of a busy gateway into one small
 *   transaction per read (three reads per turn); reads of untouched keys see committed state, which is all
 *   there is for them.
 * - An operation refused by the environment (disk full, read-only file, I/O error, lock) is rejected with
 *   `options.writeError(cause)` (the store's typed `E_STORE_WRITE`); other failures (a constraint, a bug)
 *   keep their own error.
 * - `holdCommits()` (the checkpoint worker restarting the WAL) postpones the end-of-turn commit by a
 *   millisecond at a time, so the event loop never blocks on the worker's write lock; `flush()` does not wait.
 */
import type Database from 'better-sqlite3';

/** Keys a queued write touches (for `flushFor`); `undefined` = any key. */
export type WriteKeys = readonly string[] | undefined;

interface Pending {
  op: () => unknown;
  atomic: boolean;
  keys: WriteKeys;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Options of `WriteQueue`. */
export interface WriteQueueOptions {
  /** Wraps a commit failure into the error every operation of the batch is rejected with. */
  commitError: (cause: unknown) => Error;
  /** Wraps an operation refused by the environment (see `isEnvironmentError`). Default: the cause itself. */
  writeError?: (cause: unknown) => Error;
  /** Largest batch; a full batch is committed at once instead of waiting for the end of the turn. Default 4096. */
  maxBatch?: number;
  /** While this returns true, the end-of-turn commit is postponed (re-checked every millisecond). */
  holdCommits?: () => boolean;
  /**
   * Called synchronously when a whole batch is lost (BEGIN or COMMIT failed, or SQLite rolled the transaction
   * back itself), before any of its promises settle: state an operation mirrored in memory (a write-through
   * cache) must be dropped, since none of the batch was stored.
   */
  onBatchLost?: () => void;
}

/** Group-commit queue over one better-sqlite3 connection. Internal to `src/store`. */
export class WriteQueue {
  private queue: Pending[] = [];
  private scheduled = false;
  /** Queued writes that named no keys (touch anything). */
  private broad = 0;
  /**
   * Queued writes per declared key. A new Map per batch rather than `clear()`: a cleared Map links its old
   * table to the new one, and a long-lived Map cleared at every commit chained those tables (and the keys they
   * held) into the old generation (see collections/transient.ts).
   */
  private pendingKeys = new Map<string, number>();
  private readonly begin: Database.Statement;
  private readonly commit: Database.Statement;
  private readonly rollback: Database.Statement;
  private readonly savepoint: Database.Statement;
  private readonly release: Database.Statement;
  private readonly rollbackTo: Database.Statement;
  private readonly maxBatch: number;
  /** Transactions committed so far (for tests and the benchmark). */
  commits = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly options: WriteQueueOptions,
  ) {
    this.begin = db.prepare('BEGIN');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
    // Prepared once: better-sqlite3's `db.transaction(fn)` builds five wrapper functions per call, which a
    // busy gateway paid for three times per turn.
    this.savepoint = db.prepare('SAVEPOINT op');
    this.release = db.prepare('RELEASE op');
    this.rollbackTo = db.prepare('ROLLBACK TO op');
    this.maxBatch = options.maxBatch ?? 4096;
  }

  /**
   * Queues `op` for the next group commit. `atomic` runs it in a savepoint (for multi-statement ops). `keys`
   * names what keyed reads it can change (`[]`: none of them); omitted, it counts as touching every key.
   */
  push<T>(op: () => T, atomic = false, keys?: WriteKeys): Promise<T> {
    if (keys === undefined) this.broad++;
    else for (const k of keys) this.pendingKeys.set(k, (this.pendingKeys.get(k) ?? 0) + 1);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op, atomic, keys, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: every accept arriving in this I/O phase joins the batch.
        setImmediate(this.onTick);
      }
    });
  }

  /** Number of operations waiting for the next commit. */
  get size(): number {
    return this.queue.length;
  }

  private readonly onTick = (): void => {
    if (this.options.holdCommits?.() === true) {
      setTimeout(this.onTick, 1);
      return;
    }
    this.scheduled = false;
    this.flush();
  };

  /** Commits the queue now if a queued write may change what a read of `key` returns. */
  flushFor(key: string): void {
    if (this.broad > 0 || this.pendingKeys.has(key)) this.flush();
  }

  /**
   * For an operation running in a batch: runs `op` in a savepoint, all of its statements or none of them.
   * Lets an operation pay for a savepoint only on its multi-statement path (ending a run is usually one
   * UPDATE; starting one is an upsert plus links).
   */
  atomic<T>(op: () => T): T {
    return this.runAtomic(op) as T;
  }

  /** Runs `op` in a savepoint: all of its statements or none of them (the batch's transaction goes on). */
  private runAtomic(op: () => unknown): unknown {
    this.savepoint.run();
    let result: unknown;
    try {
      result = op();
    } catch (err) {
      // SQLite may have rolled the whole transaction back on its own (disk full): then there is no savepoint.
      if (this.db.inTransaction) {
        this.rollbackTo.run();
        this.release.run();
      }
      throw err;
    }
    this.release.run();
    return result;
  }

  /** Runs and commits everything queued, synchronously. */
  flush(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.broad = 0;
    if (this.pendingKeys.size > 0) this.pendingKeys = new Map();
    const results = new Array<unknown>(batch.length);
    const errors = new Array<unknown>(batch.length);
    try {
      this.begin.run();
    } catch (err) {
      this.options.onBatchLost?.();
      for (const p of batch) p.reject(this.options.commitError(err));
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      try {
        results[i] = p.atomic ? this.runAtomic(p.op) : p.op();
      } catch (err) {
        errors[i] = isEnvironmentError(err) && this.options.writeError !== undefined ? this.options.writeError(err) : (err ?? new Error('operation failed'));
        if (!this.db.inTransaction) {
          // SQLite rolled the whole transaction back on its own (SQLITE_FULL, some I/O errors): what ran before
          // is gone, and what follows would run in autocommit, outside the batch. Fail the whole batch.
          this.options.onBatchLost?.();
          const failure = this.options.commitError(err);
          for (const q of batch) q.reject(failure);
          return;
        }
      }
    }
    try {
      this.commit.run();
      this.commits++;
    } catch (err) {
      if (this.db.inTransaction) {
        try {
          this.rollback.run();
        } catch {
          // The connection rolled back on its own (SQLite does on some I/O errors).
        }
      }
      this.options.onBatchLost?.();
      const failure = this.options.commitError(err);
      for (const p of batch) p.reject(failure);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      const err = errors[i];
      if (err !== undefined) batch[i]!.reject(err);
      else batch[i]!.resolve(results[i]);
    }
  }
}

/** SQLite result codes (primary, so extended codes match too) that say "the environment refused", not "a bug". */
const ENVIRONMENT_CODES = ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_IOERR', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_NOMEM', 'SQLITE_CANTOPEN', 'SQLITE_PERM'];

/**
 * True for a better-sqlite3 error whose code is one of `ENVIRONMENT_CODES` (or an extended code of one):
 * the write may succeed later, once there is room or the file is writable again.
 */
export function isEnvironmentError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ENVIRONMENT_CODES.some((c) => code === c || code.startsWith(`${c}_`));
}
