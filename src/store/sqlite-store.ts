/**
 * `SqliteStore`: the embedded default `Store`, one SQLite file (better-sqlite3, WAL). Every write goes through
 * the group-commit `WriteQueue`, so a write is durable when its promise resolves and a burst of writes in one
 * event-loop turn shares one commit. Reads are synchronous SQLite calls that first flush queued writes, so a
 * read always sees the writes issued before it.
 *
 * better-sqlite3 runs on the main thread: anything long (pruning, backups) is cut into short steps that yield
 * to the event loop between them, so ingress is never stalled for more than a few milliseconds.
 */
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { silentLogger } from '../log/index.js';
import type { DeliveryRecord, InboundMessage } from '../channels/index.js';
import type { StaleCutoff, StaleCutoffStore } from '../scheduler/index.js';
import { TransientMap } from '../collections/transient.js';
import { InvalidOptionError } from '../errors/index.js';
import { StoreClosedError, StoreWriteError } from './errors.js';
import { checkMaxAttempts, checkSummary } from './memory-store.js';
import { planRecovery, type RecoveryMessage, type RecoveryView } from './recovery.js';
import { isTerminalRunState, ownerOfRunId } from './run-id.js';
import { foldRecentChats } from './recent-chats.js';
import { backupDatabase } from './sqlite/backup.js';
import { startCheckpointer, type Checkpointer, type CheckpointerOptions } from './sqlite/checkpointer.js';
import { openDatabase, type Durability } from './sqlite/open.js';
import { envelopeOf, historyOf, outcomeOf, pairingOf, pinOf, runOf, type HistoryRow, type MessageRow, type PairingRow, type PinRow, type RunRow } from './sqlite/rows.js';
import { prepareStatements, type Statements } from './sqlite/statements.js';
import { WriteQueue } from './sqlite/write-queue.js';
import type {
  AcceptResult,
  HistoryEntry,
  NewHistoryEntry,
  PairingRequest,
  Pin,
  RecentChat,
  RecoveryPlan,
  RunRecord,
  RunTransition,
  RunTransitionListener,
  Store,
  StoredOutcome,
} from './store.js';

/** Options of `SqliteStore`. */
export interface SqliteStoreOptions {
  /** Database file (`store.path` in the config); created with its schema when missing. `:memory:` for tests. */
  path: string;
  /** `process` (default: survives kill -9, not power loss) or `power` (fsync per commit). See `sqlite/open.ts`. */
  durability?: Durability;
  /** Refuse a second process on the same file. Default true. */
  exclusive?: boolean;
  /** How long a database locked by another process is waited for at open (ms). Default 2000. */
  busyTimeoutMs?: number;
  /** Clock (ms). Default `Date.now`. */
  now?: () => number;
  /** Called after each committed run state change. Must not throw or block. */
  onRunTransition?: RunTransitionListener;
  logger?: Logger;
  /**
   * Where WAL checkpoints run: `worker` (default for files: a worker thread with its own connection, so their
   * fsyncs never land on the event loop) or `inline` (SQLite's automatic checkpoints on the store's connection,
   * every `checkpointPages`). See `sqlite/checkpointer.ts`.
   */
  checkpoints?: 'worker' | 'inline';
  /** Pause between the worker's checkpoints (ms). Default 10. */
  checkpointIntervalMs?: number;
  /**
   * WAL size (pages) past which the checkpoint worker makes the WAL start over, holding commits back for at
   * most 2 ms (past 4x this or 256 MiB, for as long as it takes). Default 64 MiB worth of pages (16,384 of
   * 4 KiB, 65,536 of 1 KiB): at 30k accepts/s that is a hold every ~0.6 s; smaller means more frequent holds
   * (see `sqlite/checkpointer.ts`).
   */
  walRestartPages?: number;
  /** WAL pages that trigger an automatic checkpoint when they run inline (or before the worker is up). Default 256. */
  checkpointPages?: number;
  /** Page size of a database file created now (existing files keep theirs). Default 1024: see `sqlite/open.ts`. */
  pageSize?: number;
  /**
   * Rows deleted per step of `prune` (each step is one short write, joined by the accepts of its turn, which
   * wait for it). Default 50: a 200-row step took ~1-5 ms under load and set the accept p99 during pruning.
   */
  pruneChunk?: number;
}

/** Default WAL size past which the checkpoint worker restarts the WAL (see `walRestartPages`). */
const WAL_RESTART_BYTES = 64 * 1024 * 1024;
/** WAL size past which a restart holds commits for as long as it takes (unless 4x `walRestartPages` is more). */
const WAL_HARD_BYTES = 256 * 1024 * 1024;

/** Backoff (ms) of a stale-cutoff write the disk refused. */
const CUTOFF_RETRY_INITIAL_MS = 100;
const CUTOFF_RETRY_MAX_MS = 5_000;

/** The SQLite `Store` (see the file comment). */
export class SqliteStore implements Store {
  readonly cutoffs: StaleCutoffStore;
  /** The database file. */
  readonly path: string;
  private readonly db: Database.Database;
  private readonly lock: Database.Database | undefined;
  private readonly checkpointer: Promise<Checkpointer | undefined>;
  private running: Checkpointer | undefined;
  private readonly restartPages: number;
  private readonly st: Statements;
  private readonly writes: WriteQueue;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly onRunTransition: RunTransitionListener | undefined;
  private readonly pruneChunk: number;
  private readonly cutoffCache = new Map<string, StaleCutoff>();
  /**
   * Deliveries of live runs, in chunk order: read from the database inside the transaction that records the
   * run `running` (the same read `delivered` would make, minus its own read transaction), then kept up to date
   * by `record`, dropped when the run ends. A run not in it (never started here, started by a write that was
   * lost) is read from the database: absence here never means "nothing delivered". Emptied whenever a batch
   * is lost, since what it mirrored may not have been committed. A transient registry (one entry per live
   * run; see collections/transient.ts).
   */
  private readonly deliveryCache = new TransientMap<string, DeliveryRecord[]>();
  /**
   * Pins per session, for the sessions that have any (most have none: pins come from /pin or a top
   * significance score), so `listPins` of a session without pins reads nothing. Loaded from the database when
   * first needed and kept by the pin writes; `undefined` (load again) after a lost batch.
   */
  private pinCounts: Map<string, number> | undefined;
  private closed = false;
  private readonly defaultMaxPageCount: number;

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.now = options.now ?? Date.now;
    this.log = options.logger ?? silentLogger;
    this.onRunTransition = options.onRunTransition;
    this.pruneChunk = options.pruneChunk ?? 50;
    if (!Number.isInteger(this.pruneChunk) || this.pruneChunk < 1) throw new InvalidOptionError('pruneChunk', 'an integer >= 1', options.pruneChunk);
    const pages = options.checkpointPages ?? 256;
    const interval = options.checkpointIntervalMs ?? 10;
    if (!(interval > 0)) throw new InvalidOptionError('checkpointIntervalMs', 'a number > 0 (ms)', options.checkpointIntervalMs);
    const chosen = options.walRestartPages;
    if (chosen !== undefined && (!Number.isInteger(chosen) || chosen < 1)) throw new InvalidOptionError('walRestartPages', 'an integer >= 1', chosen);
    const opened = openDatabase(options.path, { durability: options.durability, exclusive: options.exclusive, busyTimeoutMs: options.busyTimeoutMs, checkpointPages: pages, pageSize: options.pageSize });
    this.db = opened.db;
    this.lock = opened.lock;
    // The WAL bounds are sizes in bytes (64 MiB, 256 MiB), counted in pages of this file's size.
    const pageBytes = this.db.pragma('page_size', { simple: true }) as number;
    const restartPages = chosen ?? Math.max(1, Math.floor(WAL_RESTART_BYTES / pageBytes));
    this.restartPages = restartPages;
    const worker = opened.wal && (options.checkpoints ?? 'worker') === 'worker';
    // Until the worker is up (~50-100 ms), checkpoints stay automatic but rare, so a store opened just before a
    // burst does not sync on the event loop every `pages`; if the worker fails to start, `pages` comes back.
    if (worker) this.db.pragma(`wal_autocheckpoint = ${restartPages}`);
    const checkpointer = { synchronous: options.durability === 'power' ? 'FULL' : 'NORMAL', intervalMs: interval, restartPages, maxHoldMs: 2, hardPages: Math.max(4 * restartPages, Math.floor(WAL_HARD_BYTES / pageBytes)) } as const;
    this.checkpointer = worker ? this.startCheckpointer(checkpointer, pages) : Promise.resolve(undefined);
    this.st = prepareStatements(this.db);
    this.writes = new WriteQueue(this.db, {
      commitError: (cause) => new StoreWriteError(this.path, 'commit', cause),
      writeError: (cause) => new StoreWriteError(this.path, 'write', cause),
      holdCommits: () => this.running?.holding() === true,
      onBatchLost: () => {
        this.deliveryCache.clear();
        this.pinCounts = undefined;
      },
    });
    this.defaultMaxPageCount = this.db.pragma('max_page_count', { simple: true }) as number;
    for (const row of this.st.allCutoffs.all() as Array<{ session_key: string; platform_message_id: string | null; sent_at: number }>) {
      this.cutoffCache.set(row.session_key, row.platform_message_id === null ? { sentAt: row.sent_at } : { platformMessageId: row.platform_message_id, sentAt: row.sent_at });
    }
    this.cutoffs = { get: (key) => this.cutoffCache.get(key), set: (key, cutoff) => this.setCutoff(key, cutoff) };
    this.log.debug({ path: this.path, durability: options.durability ?? 'process' }, 'store opened');
  }

  /** Transactions committed so far (group commit makes this far lower than the number of writes). */
  get commits(): number {
    return this.writes.commits;
  }

  accept(message: InboundMessage): Promise<AcceptResult> {
    if (this.closed) return Promise.reject(new StoreClosedError('accept'));
    if (typeof message?.id !== 'string' || typeof message.sessionKey !== 'string') {
      return Promise.reject(new InvalidOptionError('message', 'an InboundMessage with string id and sessionKey', message));
    }
    const envelope = JSON.stringify(message);
    const acceptedAt = this.now();
    return this.writes.push((): AcceptResult => {
      const info = this.st.insertMessage.run(message.id, message.sessionKey, acceptedAt, envelope);
      return info.changes === 1 ? { status: 'accepted', seq: Number(info.lastInsertRowid) } : { status: 'duplicate' };
    }, false, NO_KEYS);
  }

  async recordOutcomes(outcomes: StoredOutcome[]): Promise<void> {
    this.open('recordOutcomes');
    if (outcomes.length === 0) return;
    // One outcome (the usual batch) is one statement, atomic without a savepoint.
    await this.writes.push(() => {
      for (const o of outcomes) this.writeOutcome(o);
    }, outcomes.length > 1, NO_KEYS);
  }

  async saveRun(run: RunRecord): Promise<void> {
    this.open('saveRun');
    // Not atomic as a whole: writeRun takes a savepoint only around its multi-statement path.
    const transition = await this.writes.push(() => this.writeRun(run, false), false, NO_KEYS);
    if (transition !== undefined) this.emitTransition(transition);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    this.read('getRun');
    const row = this.st.getRun.get(runId) as RunRow | undefined;
    return row === undefined ? undefined : runOf(row);
  }

  async getMessage(id: string): Promise<{ message: InboundMessage; outcome?: StoredOutcome } | undefined> {
    this.read('getMessage');
    const row = this.st.getMessage.get(id) as MessageRow | undefined;
    if (row === undefined) return undefined;
    const outcome = outcomeOf(row);
    return outcome === undefined ? { message: envelopeOf(row) } : { message: envelopeOf(row), outcome };
  }

  async recover(options: { maxAttempts: number; now?: number }): Promise<RecoveryPlan> {
    this.read('recover');
    checkMaxAttempts(options.maxAttempts);
    const { plan, writes } = planRecovery(this.recoveryView(), { maxAttempts: options.maxAttempts, now: options.now ?? this.now() });
    const transitions = await this.writes.push(() => {
      for (const id of writes.reopen) this.st.clearOutcome.run(id);
      const changed: RunTransition[] = [];
      for (const run of writes.runs) {
        const t = this.writeRun(run, true);
        if (t !== undefined) changed.push(t);
      }
      for (const o of writes.outcomes) this.writeOutcome(o);
      return changed;
    }, true);
    for (const t of transitions) this.emitTransition(t);
    this.log.info(
      { runs: plan.runs.length, pending: plan.pending.length, exhausted: plan.exhausted.length, alreadyAnswered: plan.alreadyAnswered.length },
      'store recovery planned',
    );
    return plan;
  }

  async appendHistory(entries: NewHistoryEntry[]): Promise<HistoryEntry[]> {
    this.open('appendHistory');
    const keys = entries.length === 1 || (entries.length === 2 && entries[0]!.sessionKey === entries[1]!.sessionKey) ? [historyKey(entries[0]!.sessionKey)] : entries.map((e) => historyKey(e.sessionKey));
    // One or two entries (a turn's answer, with its user message) are one statement, atomic without a savepoint.
    return this.writes.push(
      () => {
        if (entries.length === 2) {
          const [a, b] = entries as [NewHistoryEntry, NewHistoryEntry];
          const last = Number(
            this.st.insertHistory2.run(
              a.sessionKey, a.role, a.content, a.name ?? null, a.tokens ?? null, a.runId ?? null, a.at,
              b.sessionKey, b.role, b.content, b.name ?? null, b.tokens ?? null, b.runId ?? null, b.at,
            ).lastInsertRowid,
          );
          return [{ ...a, id: last - 1 }, { ...b, id: last }];
        }
        return entries.map((e): HistoryEntry => {
          const info = this.st.insertHistory.run(null, e.sessionKey, e.role, e.content, e.name ?? null, e.tokens ?? null, e.runId ?? null, e.at);
          return { ...e, id: Number(info.lastInsertRowid) };
        });
      },
      entries.length > 2,
      keys,
    );
  }

  async history(sessionKey: string): Promise<HistoryEntry[]> {
    this.readKey('history', historyKey(sessionKey));
    return (this.st.history.all(sessionKey, sessionKey) as HistoryRow[]).map(historyOf);
  }

  async applySummary(sessionKey: string, summary: { content: string; tokens?: number; throughId: number; expectedLastId: number }): Promise<boolean> {
    this.open('applySummary');
    checkSummary(summary);
    const at = this.now();
    return this.writes.push(() => {
      const last = (this.st.lastHistoryId.get(sessionKey) as { id: number | null }).id;
      if (last !== summary.expectedLastId || this.st.historyEntry.get(sessionKey, summary.throughId) === undefined) return false;
      this.st.deleteHistoryThrough.run(sessionKey, summary.throughId);
      // The summary takes the id of the last entry it replaces, so it sorts before everything it did not.
      this.st.insertHistory.run(summary.throughId, sessionKey, 'summary', summary.content, null, summary.tokens ?? null, null, at);
      return true;
    }, true, [historyKey(sessionKey)]);
  }

  async addPin(pin: Omit<Pin, 'id'>, options: { autoCap?: number } = {}): Promise<Pin> {
    this.open('addPin');
    const cap = options.autoCap;
    if (cap !== undefined && (!Number.isInteger(cap) || cap < 0)) throw new InvalidOptionError('autoCap', 'an integer >= 0', cap);
    return this.writes.push(() => {
      const id = Number(this.st.insertPin.run(pin.sessionKey, pin.text, pin.source, pin.createdAt).lastInsertRowid);
      let removed = 0;
      if (pin.source === 'auto' && cap !== undefined) {
        const autos = this.st.autoPins.all(pin.sessionKey) as Array<{ id: number }>;
        for (const { id: old } of autos.slice(0, Math.max(0, autos.length - cap))) removed += this.st.deletePin.run(pin.sessionKey, old).changes;
      }
      this.countPins(pin.sessionKey, 1 - removed);
      return { ...pin, id };
    }, true, [pinsKey(pin.sessionKey)]);
  }

  async removePin(sessionKey: string, pinId: number): Promise<boolean> {
    this.open('removePin');
    return this.writes.push(() => {
      const removed = this.st.deletePin.run(sessionKey, pinId).changes;
      this.countPins(sessionKey, -removed);
      return removed > 0;
    }, false, [pinsKey(sessionKey)]);
  }

  async listPins(sessionKey: string): Promise<Pin[]> {
    this.readKey('listPins', pinsKey(sessionKey));
    if (!(this.pinCounts ?? this.loadPinCounts()).has(sessionKey)) return [];
    return (this.st.listPins.all(sessionKey) as PinRow[]).map(pinOf);
  }

  private loadPinCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const row of this.st.pinCounts.all() as Array<{ session_key: string; n: number }>) counts.set(row.session_key, row.n);
    this.pinCounts = counts;
    return counts;
  }

  /** Inside a pin write, once its statements succeeded: the session's pin count changes by `delta`. */
  private countPins(sessionKey: string, delta: number): void {
    const counts = this.pinCounts;
    if (counts === undefined || delta === 0) return; // loaded from the database when next needed
    const n = (counts.get(sessionKey) ?? 0) + delta;
    if (n > 0) counts.set(sessionKey, n);
    else counts.delete(sessionKey);
  }

  async savePairing(r: PairingRequest): Promise<void> {
    this.open('savePairing');
    await this.writes.push(() => {
      this.st.upsertPairing.run(r.channelId, r.senderId, r.senderName, r.code, r.createdAt, r.expiresAt);
    });
  }

  async listPairings(channelId: string, now: number = this.now()): Promise<PairingRequest[]> {
    this.read('listPairings');
    return (this.st.listPairings.all(channelId, now) as PairingRow[]).map(pairingOf);
  }

  async approvePairing(channelId: string, code: string, now: number = this.now()): Promise<PairingRequest | undefined> {
    this.open('approvePairing');
    return this.writes.push(() => {
      const row = this.st.pairingByCode.get(channelId, code, now) as PairingRow | undefined;
      if (row === undefined) return undefined;
      this.st.deletePairing.run(channelId, row.sender_id);
      this.st.insertPaired.run(channelId, row.sender_id, now);
      return pairingOf(row);
    }, true);
  }

  async isPaired(channelId: string, senderId: string): Promise<boolean> {
    this.read('isPaired');
    return this.st.isPaired.get(channelId, senderId) !== undefined;
  }

  async recentChats(channelId: string, since: number): Promise<RecentChat[]> {
    this.read('recentChats');
    // Called once per channel at start, over messages younger than the catch-up age (terminal rows are pruned
    // after a day), so a scan with json_extract is cheap enough and needs no extra column or index.
    const rows = this.db
      .prepare(
        `SELECT json_extract(envelope, '$.chatId') AS chatId, json_extract(envelope, '$.threadId') AS threadId,
                json_extract(envelope, '$.platformMessageId') AS platformMessageId
           FROM messages WHERE accepted_at >= ? AND json_extract(envelope, '$.channelId') = ?`,
      )
      .all(since, channelId) as Array<{ chatId: string; threadId: string | null; platformMessageId: string }>;
    return foldRecentChats(rows.map((r) => ({ chatId: String(r.chatId), threadId: r.threadId ?? undefined, platformMessageId: String(r.platformMessageId) })));
  }

  async delivered(runId: string): Promise<DeliveryRecord[]> {
    this.readKey('delivered', deliveriesKey(runId));
    const cached = this.deliveryCache.get(runId);
    if (cached !== undefined) return cached.length === 0 ? [] : cached.map((r) => ({ ...r }));
    return this.readDeliveries(runId);
  }

  async record(d: DeliveryRecord): Promise<void> {
    this.open('record');
    const at = this.now();
    const record: DeliveryRecord = { runId: d.runId, chunkIndex: d.chunkIndex, platformMessageId: d.platformMessageId };
    await this.writes.push(() => {
      // The first record of a chunk wins (primary key): the cache changes only when the row was inserted.
      if (this.st.insertDelivery.run(record.runId, record.chunkIndex, record.platformMessageId, ownerOfRunId(record.runId), at).changes === 1) {
        const cached = this.deliveryCache.get(record.runId);
        if (cached !== undefined) insertByChunk(cached, record);
      }
    }, false, [deliveriesKey(d.runId)]);
  }

  private readDeliveries(runId: string): DeliveryRecord[] {
    return (this.st.delivered.all(runId) as Array<{ run_id: string; chunk_index: number; platform_message_id: string }>).map((r) => ({
      runId: r.run_id,
      chunkIndex: r.chunk_index,
      platformMessageId: r.platform_message_id,
    }));
  }

  /**
   * Deletes finished runs (with their deliveries) and messages with an outcome, both older than `olderThan`.
   * Walks each table in insertion order, `pruneChunk` rows per step, one short write per step, yielding to
   * the event loop between steps; it stops at the first row created after `olderThan`.
   */
  async prune(olderThan: number): Promise<{ messages: number; runs: number }> {
    this.open('prune');
    let runs = 0;
    let messages = 0;
    for (let after = 0; ; ) {
      this.read('prune');
      const rows = this.st.runChunk.all(after, this.pruneChunk) as Array<{ rid: number; run_id: string; state: string; created_at: number; updated_at: number }>;
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.rid;
      const doomed = rows.filter((r) => isTerminalRunState(r.state as RunRecord['state']) && r.updated_at < olderThan).map((r) => r.run_id);
      if (doomed.length > 0) {
        await this.writes.push(() => {
          for (const id of doomed) {
            this.st.deleteRun.run(id);
            this.st.deleteRunLinks.run(id);
            this.st.deleteRunDeliveries.run(id);
          }
        }, true);
        runs += doomed.length;
      }
      if (rows.length < this.pruneChunk || rows[rows.length - 1]!.created_at >= olderThan) break;
      await this.pruneGap();
    }
    for (let after = 0; ; ) {
      this.read('prune');
      const rows = this.st.messageChunk.all(after, this.pruneChunk) as Array<{ seq: number; accepted_at: number; outcome: string | null; outcome_at: number | null }>;
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.seq;
      const doomed = rows.filter((r) => r.outcome !== null && (r.outcome_at ?? 0) < olderThan).map((r) => r.seq);
      if (doomed.length > 0) {
        await this.writes.push(() => {
          for (const seq of doomed) this.st.deleteMessage.run(seq);
        }, true);
        messages += doomed.length;
      }
      if (rows.length < this.pruneChunk || rows[rows.length - 1]!.accepted_at >= olderThan) break;
      await this.pruneGap();
    }
    this.log.info({ messages, runs, olderThan }, 'store pruned');
    return { messages, runs };
  }

  /**
   * The pause between two prune steps. Deletes dirty index pages all over the file (a 200-row step wrote
   * ~500 pages of WAL), far more WAL per row than accepts, so pruning at full speed outruns the checkpoint
   * worker and forces it to hold commits back to restart the WAL (see `sqlite/checkpointer.ts`). So pruning
   * waits while the worker holds or is trying to restart the WAL (up to 250 ms per step, so it always moves
   * on), and otherwise sleeps 2 ms: pruning is background work, ingress comes first.
   */
  private async pruneGap(): Promise<void> {
    const ckpt = this.running;
    for (let waited = 0; ckpt !== undefined && waited < 250 && (ckpt.holding() || ckpt.walPages() >= this.restartPages); waited += 5) {
      await sleep(5);
    }
    await sleep(2);
  }

  /** Online backup into `dir` (by the checkpoint worker when there is one, see `sqlite/backup.ts`), keeping the newest `keep` (default 14). */
  async backup(dir: string, options: { keep?: number } = {}): Promise<string> {
    this.read('backup');
    await this.checkpointer; // started with the store: a backup right after open still goes off-thread
    const worker = this.running;
    const file = await backupDatabase(this.db, dir, {
      keep: options.keep ?? 14,
      now: this.now(),
      copyOffThread: worker === undefined ? undefined : (tmp) => worker.backup(tmp),
    });
    this.log.info({ file }, 'store backup written');
    return file;
  }

  /**
   * Test hook (test/fault/database-faults.test.ts), not used by the gateway: makes this connection refuse writes
   * the way a full disk (`full`) or a read-only database (`readonly`) does, until called with `undefined`.
   *
   * `full` caps the file at its current size (`PRAGMA max_page_count`): a write that needs a new page fails with
   * SQLITE_FULL and SQLite rolls the whole transaction back, exactly as when the disk is full. Writes that fit in
   * free space of existing pages still succeed, as on a real disk. `readonly` sets `PRAGMA query_only`: every
   * write fails with SQLITE_READONLY and the transaction stays open. (Making the file itself read-only does not
   * work as a fault: an open connection keeps its read-write file handles, and root ignores the mode anyway.)
   * Both pragmas are per connection, which is why this has to be a method of the store.
   */
  simulateFault(fault: 'full' | 'readonly' | undefined): void {
    this.read('simulateFault');
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    this.db.pragma(`max_page_count = ${fault === 'full' ? pages : this.defaultMaxPageCount}`);
    this.db.pragma(`query_only = ${fault === 'readonly' ? 'ON' : 'OFF'}`);
    this.log.warn({ fault: fault ?? 'none' }, 'store fault simulated');
  }

  /** Commits queued writes and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.writes.flush();
    this.closed = true;
    this.deliveryCache.clear();
    this.pinCounts = undefined;
    // The checkpointer's connection closes first, so the store's is the last one and leaves no WAL behind.
    await (await this.checkpointer)?.close();
    this.db.close();
    this.lock?.close();
  }

  /**
   * Moves WAL checkpoints to a worker thread; automatic checkpoints (every `pages`) stay on until it runs, and
   * come back if it fails. A worker that cannot start is logged and the store keeps automatic checkpoints.
   */
  private async startCheckpointer(
    options: Omit<CheckpointerOptions, 'onFailure'>,
    pages: number,
  ): Promise<Checkpointer | undefined> {
    const fallBack = (err: unknown): void => {
      this.running = undefined;
      this.log.warn({ err, path: this.path }, 'checkpoint worker failed; checkpoints run on the store connection again');
      if (!this.closed) this.db.pragma(`wal_autocheckpoint = ${pages}`);
    };
    try {
      const checkpointer = await startCheckpointer(this.path, { ...options, onFailure: fallBack });
      if (this.closed) {
        await checkpointer.close();
        return undefined;
      }
      this.db.pragma('wal_autocheckpoint = 0');
      // No journal_size_limit: cutting a large WAL file back after a restart is an ftruncate on this thread,
      // measured at up to 119 ms. The file keeps its largest size (SQLite's default) and is deleted at close.
      this.running = checkpointer;
      return checkpointer;
    } catch (err) {
      fallBack(err);
      return undefined;
    }
  }

  private writeOutcome(o: StoredOutcome): void {
    this.st.setOutcome.run(o.outcome, o.ownerId ?? null, o.runId ?? null, o.reason ?? null, o.error ?? null, o.at, o.messageId);
  }

  /** Upserts a run inside a transaction; returns the transition when the state changed. */
  private writeRun(run: RunRecord, force: boolean): RunTransition | undefined {
    const before = this.onRunTransition === undefined ? undefined : (this.st.getRun.get(run.runId) as RunRow | undefined);
    const messageIds = JSON.stringify(run.messageIds);
    // The common write, a stored live run ending with the messages it started with, is one UPDATE: those
    // messages were linked when the row got them. A new run, other messages, a live state or recovery's forced
    // write take the upsert, which links (a run the UPDATE missed because it is already final misses there too).
    const ended =
      !force &&
      isTerminalRunState(run.state) &&
      this.st.endRun.run(run.state, run.attempt, run.updatedAt, run.error ?? null, run.runId, messageIds).changes === 1;
    if (!ended) {
      const upsert = (): boolean => {
        const info = this.st.upsertRun.run(
          run.runId,
          run.sessionKey,
          run.messageIds[0] ?? run.runId,
          messageIds,
          run.state,
          run.attempt,
          run.createdAt,
          run.updatedAt,
          run.error ?? null,
          force ? 1 : 0,
        );
        if (info.changes === 0) return false;
        for (const id of run.messageIds) this.st.linkRunMessage.run(id, run.runId);
        return true;
      };
      // The upsert and its links: all or nothing (a savepoint only when there is more than one statement).
      if (!(run.messageIds.length === 0 ? upsert() : this.writes.atomic(upsert))) {
        // Already final: a late or repeated write. Nothing of the run is live any more.
        this.deliveryCache.delete(run.runId);
        return undefined;
      }
    }
    if (isTerminalRunState(run.state)) this.deliveryCache.delete(run.runId);
    else if (run.state === 'running' && !force) this.cacheDeliveries(run.runId);
    if (this.onRunTransition === undefined || before?.state === run.state) return undefined;
    const stored = runOf(this.st.getRun.get(run.runId) as RunRow);
    return { run: stored, previousState: before === undefined ? undefined : (before.state as RunRecord['state']) };
  }

  /**
   * Fills the delivery cache for a run being started, inside the batch's transaction (no read transaction of
   * its own). Bounded: runs that never end here (drained, aborted) are forgotten oldest first.
   */
  private cacheDeliveries(runId: string): void {
    if (this.deliveryCache.size >= DELIVERY_CACHE_MAX) {
      const oldest = this.deliveryCache.keys().next().value;
      if (oldest !== undefined) this.deliveryCache.delete(oldest);
    }
    this.deliveryCache.set(runId, this.readDeliveries(runId));
  }

  private emitTransition(t: RunTransition): void {
    try {
      this.onRunTransition?.(t);
    } catch (err) {
      this.log.warn({ err, runId: t.run.runId }, 'run transition listener threw');
    }
  }

  private setCutoff(sessionKey: string, cutoff: StaleCutoff | undefined): void {
    if (this.closed) throw new StoreClosedError('cutoffs.set');
    // The cache answers at once; the row is committed with this turn's group commit.
    if (cutoff === undefined) {
      if (!this.cutoffCache.delete(sessionKey)) return;
    } else {
      this.cutoffCache.set(sessionKey, { ...cutoff });
    }
    const write =
      cutoff === undefined
        ? () => this.st.deleteCutoff.run(sessionKey)
        : () => this.st.setCutoff.run(sessionKey, cutoff.platformMessageId ?? null, cutoff.sentAt);
    const current = this.cutoffCache.get(sessionKey);
    // A cutoff the disk refused (full, read-only) is retried while it is still the session's latest, so a
    // `/stopall` during the fault still holds after a restart; a newer set supersedes the retry.
    const persist = (delayMs: number): void => {
      this.writes.push(write, false, NO_KEYS).catch((err: unknown) => {
        const retry = err instanceof StoreWriteError && !this.closed && this.cutoffCache.get(sessionKey) === current;
        this.log.error({ err, sessionKey, retryInMs: retry ? delayMs : undefined }, 'stale cutoff not stored');
        if (retry) setTimeout(() => persist(Math.min(CUTOFF_RETRY_MAX_MS, delayMs * 2)), delayMs).unref();
      });
    };
    persist(CUTOFF_RETRY_INITIAL_MS);
  }

  private recoveryView(): RecoveryView {
    const toRecovery = (row: MessageRow): RecoveryMessage => ({ seq: row.seq, message: envelopeOf(row), outcome: outcomeOf(row) });
    return {
      unfinishedRuns: () => (this.st.unfinishedRuns.all() as RunRow[]).map(runOf),
      openMessages: () => (this.st.openMessages.all() as MessageRow[]).map(toRecovery),
      message: (id) => {
        const row = this.st.getMessage.get(id) as MessageRow | undefined;
        return row === undefined ? undefined : toRecovery(row);
      },
      mergedInto: (ownerId) => (this.st.mergedInto.all(ownerId) as MessageRow[]).map(toRecovery),
      runsContaining: (id) => (this.st.runsContaining.all(id) as RunRow[]).map(runOf),
      hasDelivery: (ownerId) => this.st.hasDelivery.get(ownerId) !== undefined,
    };
  }

  private open(operation: string): void {
    if (this.closed) throw new StoreClosedError(operation);
  }

  /** Before a read: refuse when closed, and commit queued writes so the read sees them. */
  private read(operation: string): void {
    this.open(operation);
    this.writes.flush();
  }

  /** Before a read of one key: refuse when closed, and commit queued writes that may change it. */
  private readKey(operation: string, key: string): void {
    this.open(operation);
    this.writes.flushFor(key);
  }
}

/** Most live runs whose deliveries are cached (see `SqliteStore.deliveryCache`). */
const DELIVERY_CACHE_MAX = 4096;

/** Inserts `record` into `list` (ascending chunk index, one record per chunk). */
function insertByChunk(list: DeliveryRecord[], record: DeliveryRecord): void {
  let i = list.length;
  while (i > 0 && list[i - 1]!.chunkIndex > record.chunkIndex) i--;
  list.splice(i, 0, record);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Declared by writes that change no keyed read (messages, runs, outcomes, cutoffs). */
const NO_KEYS: readonly string[] = [];
/** Write-queue keys of the keyed reads (`history`, `listPins`, `delivered`). */
const historyKey = (sessionKey: string): string => `h\u0000${sessionKey}`;
const pinsKey = (sessionKey: string): string => `p\u0000${sessionKey}`;
const deliveriesKey = (runId: string): string => `d\u0000${runId}`;
