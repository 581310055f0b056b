/**
 * `MemoryStore`: the whole `Store` contract in memory. For tests of other areas and for the in-memory side of
 * the store benchmark; it forgets everything when the process ends. Semantics match `SqliteStore` (same
 * recovery planner, same idempotency rules), so a test written against one holds for the other.
 *
 * Envelopes are stored as JSON, exactly as `SqliteStore` stores them: a caller mutating its object after
 * `accept` changes nothing stored, and what comes back equals what SQLite would return.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeliveryRecord, InboundMessage } from '../channels/index.js';
import type { StaleCutoff, StaleCutoffStore } from '../scheduler/index.js';
import { InvalidOptionError } from '../errors/index.js';
import { BackupError, StoreClosedError } from './errors.js';
import { backupFileName, pruneBackups } from './backup-files.js';
import { planRecovery, type RecoveryMessage, type RecoveryView } from './recovery.js';
import { isTerminalRunState, ownerOfRunId } from './run-id.js';
import { foldRecentChats } from './recent-chats.js';
import type {
  AcceptResult,
  HistoryEntry,
  NewHistoryEntry,
  PairingRequest,
  Pin,
  RecentChat,
  RecoveryPlan,
  RunRecord,
  RunTransitionListener,
  Store,
  StoredOutcome,
} from './store.js';

/** Options of `MemoryStore`. */
export interface MemoryStoreOptions {
  /** Clock (ms). Default `Date.now`. */
  now?: () => number;
  /** Called after each run state change (see `RunTransition`). */
  onRunTransition?: RunTransitionListener;
}

interface MessageRow {
  seq: number;
  id: string;
  channelId: string;
  envelope: string;
  acceptedAt: number;
  outcome?: StoredOutcome | undefined;
}

/** The `Store` contract in memory (see the file comment). */
export class MemoryStore implements Store {
  readonly cutoffs: StaleCutoffStore;
  private readonly now: () => number;
  private readonly onRunTransition: RunTransitionListener | undefined;
  private closed = false;
  private seq = 0;
  private readonly messages = new Map<string, MessageRow>();
  private readonly runs = new Map<string, RunRecord>();
  private readonly runsByMessage = new Map<string, Set<string>>();
  private readonly deliveries = new Map<string, DeliveryRecord[]>();
  private readonly deliveredOwners = new Map<string, number>();
  private readonly historyBySession = new Map<string, HistoryEntry[]>();
  private nextHistoryId = 1;
  private readonly pinsBySession = new Map<string, Pin[]>();
  private nextPinId = 1;
  private readonly pairings = new Map<string, Map<string, PairingRequest>>();
  private readonly paired = new Set<string>();
  private readonly cutoffMap = new Map<string, StaleCutoff>();

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.onRunTransition = options.onRunTransition;
    const map = this.cutoffMap;
    this.cutoffs = {
      get: (key) => map.get(key),
      set: (key, cutoff) => {
        if (cutoff === undefined) map.delete(key);
        else map.set(key, { ...cutoff });
      },
    };
  }

  async accept(message: InboundMessage): Promise<AcceptResult> {
    this.open('accept');
    if (this.messages.has(message.id)) return { status: 'duplicate' };
    const seq = ++this.seq;
    this.messages.set(message.id, { seq, id: message.id, channelId: message.channelId, envelope: JSON.stringify(message), acceptedAt: this.now() });
    return { status: 'accepted', seq };
  }

  async recordOutcomes(outcomes: StoredOutcome[]): Promise<void> {
    this.open('recordOutcomes');
    for (const o of outcomes) {
      const row = this.messages.get(o.messageId);
      if (row !== undefined && row.outcome === undefined) row.outcome = { ...o };
    }
  }

  async saveRun(run: RunRecord): Promise<void> {
    this.open('saveRun');
    this.putRun(run, false);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    this.open('getRun');
    const run = this.runs.get(runId);
    return run === undefined ? undefined : copyRun(run);
  }

  async getMessage(id: string): Promise<{ message: InboundMessage; outcome?: StoredOutcome } | undefined> {
    this.open('getMessage');
    const row = this.messages.get(id);
    if (row === undefined) return undefined;
    const message = JSON.parse(row.envelope) as InboundMessage;
    return row.outcome === undefined ? { message } : { message, outcome: { ...row.outcome } };
  }

  async recover(options: { maxAttempts: number; now?: number }): Promise<RecoveryPlan> {
    this.open('recover');
    checkMaxAttempts(options.maxAttempts);
    const { plan, writes } = planRecovery(this.recoveryView(), { maxAttempts: options.maxAttempts, now: options.now ?? this.now() });
    for (const id of writes.reopen) {
      const row = this.messages.get(id);
      if (row !== undefined) row.outcome = undefined;
    }
    for (const run of writes.runs) this.putRun(run, true);
    for (const o of writes.outcomes) {
      const row = this.messages.get(o.messageId);
      if (row !== undefined && row.outcome === undefined) row.outcome = { ...o };
    }
    return plan;
  }

  async appendHistory(entries: NewHistoryEntry[]): Promise<HistoryEntry[]> {
    this.open('appendHistory');
    const stored = entries.map((e) => {
      const entry: HistoryEntry = { ...e, id: this.nextHistoryId++ };
      let list = this.historyBySession.get(e.sessionKey);
      if (list === undefined) this.historyBySession.set(e.sessionKey, (list = []));
      list.push(entry);
      return { ...entry };
    });
    return stored;
  }

  async history(sessionKey: string): Promise<HistoryEntry[]> {
    this.open('history');
    const list = this.historyBySession.get(sessionKey) ?? [];
    let start = 0;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i]!.role === 'summary') {
        start = i;
        break;
      }
    }
    return list.slice(start).map((e) => ({ ...e }));
  }

  async applySummary(sessionKey: string, summary: { content: string; tokens?: number; throughId: number; expectedLastId: number }): Promise<boolean> {
    this.open('applySummary');
    checkSummary(summary);
    const list = this.historyBySession.get(sessionKey) ?? [];
    const last = list[list.length - 1];
    if (last === undefined || last.id !== summary.expectedLastId || !list.some((e) => e.id === summary.throughId)) {
      return false;
    }
    const kept = list.filter((e) => e.id > summary.throughId);
    const entry: HistoryEntry = {
      id: summary.throughId,
      sessionKey,
      role: 'summary',
      content: summary.content,
      tokens: summary.tokens,
      at: this.now(),
    };
    this.historyBySession.set(sessionKey, [entry, ...kept]);
    return true;
  }

  async addPin(pin: Omit<Pin, 'id'>, options: { autoCap?: number } = {}): Promise<Pin> {
    this.open('addPin');
    const stored: Pin = { ...pin, id: this.nextPinId++ };
    let list = this.pinsBySession.get(pin.sessionKey);
    if (list === undefined) this.pinsBySession.set(pin.sessionKey, (list = []));
    list.push(stored);
    const cap = options.autoCap;
    if (pin.source === 'auto' && cap !== undefined) {
      const autos = list.filter((p) => p.source === 'auto');
      const evict = new Set(autos.slice(0, Math.max(0, autos.length - cap)).map((p) => p.id));
      if (evict.size > 0) this.pinsBySession.set(pin.sessionKey, list.filter((p) => !evict.has(p.id)));
    }
    return { ...stored };
  }

  async removePin(sessionKey: string, pinId: number): Promise<boolean> {
    this.open('removePin');
    const list = this.pinsBySession.get(sessionKey) ?? [];
    const i = list.findIndex((p) => p.id === pinId);
    if (i < 0) return false;
    list.splice(i, 1);
    return true;
  }

  async listPins(sessionKey: string): Promise<Pin[]> {
    this.open('listPins');
    return (this.pinsBySession.get(sessionKey) ?? []).map((p) => ({ ...p }));
  }

  async savePairing(request: PairingRequest): Promise<void> {
    this.open('savePairing');
    let byChannel = this.pairings.get(request.channelId);
    if (byChannel === undefined) this.pairings.set(request.channelId, (byChannel = new Map()));
    byChannel.set(request.senderId, { ...request });
  }

  async listPairings(channelId: string, now: number = this.now()): Promise<PairingRequest[]> {
    this.open('listPairings');
    const list = [...(this.pairings.get(channelId)?.values() ?? [])].filter((r) => r.expiresAt > now);
    return list.sort((a, b) => a.createdAt - b.createdAt).map((r) => ({ ...r }));
  }

  async approvePairing(channelId: string, code: string, now: number = this.now()): Promise<PairingRequest | undefined> {
    this.open('approvePairing');
    const byChannel = this.pairings.get(channelId);
    for (const r of byChannel?.values() ?? []) {
      if (r.code === code && r.expiresAt > now) {
        byChannel!.delete(r.senderId);
        this.paired.add(`${channelId}\u0000${r.senderId}`);
        return { ...r };
      }
    }
    return undefined;
  }

  async isPaired(channelId: string, senderId: string): Promise<boolean> {
    this.open('isPaired');
    return this.paired.has(`${channelId}\u0000${senderId}`);
  }

  async recentChats(channelId: string, since: number): Promise<RecentChat[]> {
    this.open('recentChats');
    const facts: InboundMessage[] = [];
    for (const row of this.messages.values()) {
      if (row.acceptedAt >= since && row.channelId === channelId) facts.push(JSON.parse(row.envelope) as InboundMessage);
    }
    return foldRecentChats(facts);
  }

  async delivered(runId: string): Promise<DeliveryRecord[]> {
    this.open('delivered');
    return (this.deliveries.get(runId) ?? []).map((d) => ({ ...d }));
  }

  async record(delivery: DeliveryRecord): Promise<void> {
    this.open('record');
    let list = this.deliveries.get(delivery.runId);
    if (list === undefined) this.deliveries.set(delivery.runId, (list = []));
    // First record of a chunk wins, like the SQLite primary key (runId, chunkIndex).
    if (!list.some((d) => d.chunkIndex === delivery.chunkIndex)) {
      list.push({ ...delivery });
      list.sort((a, b) => a.chunkIndex - b.chunkIndex);
      const owner = ownerOfRunId(delivery.runId);
      this.deliveredOwners.set(owner, (this.deliveredOwners.get(owner) ?? 0) + 1);
    }
  }

  async prune(olderThan: number): Promise<{ messages: number; runs: number }> {
    this.open('prune');
    let messages = 0;
    let runs = 0;
    for (const [id, row] of this.messages) {
      if (row.outcome !== undefined && row.outcome.at < olderThan) {
        this.messages.delete(id);
        messages++;
      }
    }
    for (const [runId, run] of this.runs) {
      if (isTerminalRunState(run.state) && run.updatedAt < olderThan) {
        this.runs.delete(runId);
        for (const id of run.messageIds) {
          const set = this.runsByMessage.get(id);
          set?.delete(runId);
          if (set?.size === 0) this.runsByMessage.delete(id);
        }
        const dropped = this.deliveries.get(runId);
        if (dropped !== undefined) {
          this.deliveries.delete(runId);
          const owner = ownerOfRunId(runId);
          const left = (this.deliveredOwners.get(owner) ?? 0) - dropped.length;
          if (left > 0) this.deliveredOwners.set(owner, left);
          else this.deliveredOwners.delete(owner);
        }
        runs++;
      }
    }
    return { messages, runs };
  }

  async backup(dir: string, options: { keep?: number } = {}): Promise<string> {
    this.open('backup');
    const keep = options.keep ?? 14;
    const file = join(dir, backupFileName(new Date(this.now()), 'json'));
    try {
      await mkdir(dir, { recursive: true });
      const snapshot = {
        messages: [...this.messages.values()],
        runs: [...this.runs.values()],
        deliveries: [...this.deliveries.values()].flat(),
        history: [...this.historyBySession.values()].flat(),
        pins: [...this.pinsBySession.values()].flat(),
        cutoffs: Object.fromEntries(this.cutoffMap),
      };
      await writeFile(`${file}.tmp`, JSON.stringify(snapshot));
      await rename(`${file}.tmp`, file);
      await pruneBackups(dir, keep, 'json');
    } catch (err) {
      await rm(`${file}.tmp`, { force: true }).catch(() => undefined);
      throw new BackupError(dir, err);
    }
    return file;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Upserts a run. Terminal runs stay terminal unless `force` (recovery's own bookkeeping). */
  private putRun(run: RunRecord, force: boolean): void {
    const previous = this.runs.get(run.runId);
    if (previous !== undefined && isTerminalRunState(previous.state) && !force) return;
    const stored = copyRun(run);
    if (previous !== undefined) stored.createdAt = previous.createdAt;
    this.runs.set(run.runId, stored);
    for (const id of run.messageIds) {
      let set = this.runsByMessage.get(id);
      if (set === undefined) this.runsByMessage.set(id, (set = new Set()));
      set.add(run.runId);
    }
    if (previous?.state !== run.state && this.onRunTransition !== undefined) {
      try {
        this.onRunTransition({ run: copyRun(stored), previousState: previous?.state });
      } catch {
        // A listener must not break the store; it was told not to throw.
      }
    }
  }

  private recoveryView(): RecoveryView {
    const toRecovery = (row: MessageRow): RecoveryMessage => ({ seq: row.seq, message: JSON.parse(row.envelope) as InboundMessage, outcome: row.outcome });
    return {
      unfinishedRuns: () => [...this.runs.values()].filter((r) => !isTerminalRunState(r.state)).map(copyRun),
      openMessages: () => [...this.messages.values()].filter((r) => r.outcome === undefined).map(toRecovery),
      message: (id) => {
        const row = this.messages.get(id);
        return row === undefined ? undefined : toRecovery(row);
      },
      mergedInto: (ownerId) =>
        [...this.messages.values()].filter((r) => r.outcome?.outcome === 'merged' && r.outcome.ownerId === ownerId).map(toRecovery),
      runsContaining: (id) => [...(this.runsByMessage.get(id) ?? [])].map((runId) => copyRun(this.runs.get(runId)!)),
      hasDelivery: (ownerId) => (this.deliveredOwners.get(ownerId) ?? 0) > 0,
    };
  }

  private open(operation: string): void {
    if (this.closed) throw new StoreClosedError(operation);
  }
}

function copyRun(run: RunRecord): RunRecord {
  return { ...run, messageIds: [...run.messageIds] };
}

/** Validates `maxAttempts` of `recover`. Internal helper shared by the stores. */
export function checkMaxAttempts(maxAttempts: number): void {
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new InvalidOptionError('maxAttempts', 'an integer >= 1', maxAttempts);
}

/** Validates the ids of `applySummary`. Internal helper shared by the stores. */
export function checkSummary(summary: { throughId: number; expectedLastId: number }): void {
  if (!Number.isInteger(summary.throughId)) throw new InvalidOptionError('throughId', 'an integer history id', summary.throughId);
  if (!Number.isInteger(summary.expectedLastId) || summary.expectedLastId < summary.throughId) {
    throw new InvalidOptionError('expectedLastId', `an integer history id >= throughId (${summary.throughId})`, summary.expectedLastId);
  }
}
