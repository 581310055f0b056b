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
import { InvalidOptionError } from '../errors/index.js';
import { StoreClosedError, StoreWriteError } from './errors.js';
import { checkMaxAttempts, checkSummary } from './memory-store.js';
import { planRecovery, type RecoveryMessage, type RecoveryView } from './recovery.js';
import { isTerminalRunState, ownerOfRunId } from './run-id.js';
import { foldRecentChats } from './recent-chats.js';
import { backupDatabase } from './sqlite/backup.js';
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
  /** WAL pages that trigger a checkpoint. Default 256 (short pauses). */
  checkpointPages?: number;
  /** Rows deleted per step of `prune` (each step is one short write). Default 200. */
  pruneChunk?: number;
}

/** The SQLite `Store` (see the file comment). */
export class SqliteStore implements Store {
  readonly cutoffs: StaleCutoffStore;
  /** The database file. */
  readonly path: string;
  private readonly db: Database.Database;
  private readonly st: Statements;
  private readonly writes: WriteQueue;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly onRunTransition: RunTransitionListener | undefined;
  private readonly pruneChunk: number;
  private readonly cutoffCache = new Map<string, StaleCutoff>();
  private closed = false;

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.now = options.now ?? Date.now;
    this.log = options.logger ?? silentLogger;
    this.onRunTransition = options.onRunTransition;
    this.pruneChunk = options.pruneChunk ?? 200;
    if (!Number.isInteger(this.pruneChunk) || this.pruneChunk < 1) throw new InvalidOptionError('pruneChunk', 'an integer >= 1', options.pruneChunk);
    this.db = openDatabase(options.path, { durability: options.durability, exclusive: options.exclusive, busyTimeoutMs: options.busyTimeoutMs, checkpointPages: options.checkpointPages });
    this.st = prepareStatements(this.db);
    this.writes = new WriteQueue(this.db, { commitError: (cause) => new StoreWriteError(this.path, 'commit', cause) });
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
    await this.writes.push(() => {
      for (const o of outcomes) this.writeOutcome(o);
    }, true, NO_KEYS);
  }

  async saveRun(run: RunRecord): Promise<void> {
    this.open('saveRun');
    const transition = await this.writes.push(() => this.writeRun(run, false), true, NO_KEYS);
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
    return this.writes.push(
      () =>
        entries.map((e): HistoryEntry => {
          const info = this.st.insertHistory.run(null, e.sessionKey, e.role, e.content, e.name ?? null, e.tokens ?? null, e.runId ?? null, e.at);
          return { ...e, id: Number(info.lastInsertRowid) };
        }),
      true,
      entries.map((e) => historyKey(e.sessionKey)),
    );
  }

  async history(sessionKey: string): Promise<HistoryEntry[]> {
    this.readKey('history', historyKey(sessionKey));
    return (this.st.history.all({ k: sessionKey }) as HistoryRow[]).map(historyOf);
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
      if (pin.source === 'auto' && cap !== undefined) {
        const autos = this.st.autoPins.all(pin.sessionKey) as Array<{ id: number }>;
        for (const { id: old } of autos.slice(0, Math.max(0, autos.length - cap))) this.st.deletePin.run(pin.sessionKey, old);
      }
      return { ...pin, id };
    }, true, [pinsKey(pin.sessionKey)]);
  }

  async removePin(sessionKey: string, pinId: number): Promise<boolean> {
    this.open('removePin');
    return this.writes.push(() => this.st.deletePin.run(sessionKey, pinId).changes > 0, false, [pinsKey(sessionKey)]);
  }

  async listPins(sessionKey: string): Promise<Pin[]> {
    this.readKey('listPins', pinsKey(sessionKey));
    return (this.st.listPins.all(sessionKey) as PinRow[]).map(pinOf);
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
    return (this.st.delivered.all(runId) as Array<{ run_id: string; chunk_index: number; platform_message_id: string }>).map((r) => ({
      runId: r.run_id,
      chunkIndex: r.chunk_index,
      platformMessageId: r.platform_message_id,
    }));
  }

  async record(d: DeliveryRecord): Promise<void> {
    this.open('record');
    const at = this.now();
    await this.writes.push(() => {
      this.st.insertDelivery.run(d.runId, d.chunkIndex, d.platformMessageId, ownerOfRunId(d.runId), at);
    }, false, [deliveriesKey(d.runId)]);
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
      await yieldToEventLoop();
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
      await yieldToEventLoop();
    }
    this.log.info({ messages, runs, olderThan }, 'store pruned');
    return { messages, runs };
  }

  /** Online backup into `dir` (better-sqlite3 backup API, in short steps), keeping the newest `keep` (default 14). */
  async backup(dir: string, options: { keep?: number } = {}): Promise<string> {
    this.read('backup');
    const file = await backupDatabase(this.db, dir, { keep: options.keep ?? 14, now: this.now() });
    this.log.info({ file }, 'store backup written');
    return file;
  }

  /** Commits queued writes and closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.writes.flush();
    this.closed = true;
    this.db.close();
  }

  private writeOutcome(o: StoredOutcome): void {
    this.st.setOutcome.run(o.outcome, o.ownerId ?? null, o.runId ?? null, o.reason ?? null, o.error ?? null, o.at, o.messageId);
  }

  /** Upserts a run inside a transaction; returns the transition when the state changed. */
  private writeRun(run: RunRecord, force: boolean): RunTransition | undefined {
    const before = this.onRunTransition === undefined ? undefined : (this.st.getRun.get(run.runId) as RunRow | undefined);
    const info = this.st.upsertRun.run({
      runId: run.runId,
      sessionKey: run.sessionKey,
      ownerId: run.messageIds[0] ?? run.runId,
      messageIds: JSON.stringify(run.messageIds),
      state: run.state,
      attempt: run.attempt,
      createdAt: run.createdAt,
      updatedAt: run.updatedAt,
      error: run.error ?? null,
      force: force ? 1 : 0,
    });
    if (info.changes === 0) return undefined;
    for (const id of run.messageIds) this.st.linkRunMessage.run(id, run.runId);
    if (this.onRunTransition === undefined || before?.state === run.state) return undefined;
    const stored = runOf(this.st.getRun.get(run.runId) as RunRow);
    return { run: stored, previousState: before === undefined ? undefined : (before.state as RunRecord['state']) };
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
    this.writes.push(write, false, NO_KEYS).catch((err: unknown) => this.log.error({ err, sessionKey }, 'stale cutoff not stored'));
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

/** Declared by writes that change no keyed read (messages, runs, outcomes, cutoffs). */
const NO_KEYS: readonly string[] = [];
/** Write-queue keys of the keyed reads (`history`, `listPins`, `delivered`). */
const historyKey = (sessionKey: string): string => `h\u0000${sessionKey}`;
const pinsKey = (sessionKey: string): string => `p\u0000${sessionKey}`;
const deliveriesKey = (runId: string): string => `d\u0000${runId}`;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
