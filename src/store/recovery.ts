/**
 * Crash recovery, decided once for every `Store` implementation. The store exposes a read-only view of what
 * it holds (`RecoveryView`); `planRecovery` decides what each interrupted message needs and returns both the
 * plan for the gateway and the writes that make the decision durable. The store applies the writes in one
 * transaction, so a crash during recovery leaves the previous state and the next start decides again.
 *
 * Invariants kept here:
 * - Every accepted message with no outcome ends up in exactly one of: a re-queued run, `pending`, an
 *   outcome written now (its run had finished, or was delivered, or is exhausted).
 * - A message whose turn has any recorded delivery is never run again (`alreadyAnswered`): a reply that was
 *   cut by the crash after its first chunk stays partial rather than being sent twice.
 * - A run left `running` is attempt `n` that died: it is recorded `failed` and attempt `n + 1` is queued under
 *   its own run id (`<owner>#<n + 1>`, the id the scheduler gives the resumed turn). A run left `queued`
 *   never started, so it keeps its attempt number.
 * - Messages merged into an owner that is re-run (or pending) go with it: `merged` was reported when the
 *   turn started, but the turn never finished, so they still need their answer.
 */
import type { InboundMessage } from '../channels/index.js';
import type { RecoveryPlan, RunRecord, StoredOutcome } from './store.js';
import { isTerminalRunState, ownerOutcomeOf, runIdOf, runStateOfOutcome } from './run-id.js';

/** One stored message, as recovery sees it. */
export interface RecoveryMessage {
  seq: number;
  message: InboundMessage;
  outcome?: StoredOutcome | undefined;
}

/** Read-only, synchronous view of a store's state at start. Internal contract between stores and recovery. */
export interface RecoveryView {
  /** Runs in state `queued` or `running`. */
  unfinishedRuns(): RunRecord[];
  /** Accepted messages without an outcome, in arrival order. */
  openMessages(): RecoveryMessage[];
  message(id: string): RecoveryMessage | undefined;
  /** Messages whose recorded outcome is `merged` into `ownerId`. */
  mergedInto(ownerId: string): RecoveryMessage[];
  /** Every run (any state) that carries `messageId`. */
  runsContaining(messageId: string): RunRecord[];
  /** True when any run owned by `ownerId` has a recorded delivery. */
  hasDelivery(ownerId: string): boolean;
}

/** What recovery must write, in one transaction. */
export interface RecoveryWrites {
  /** Run records to upsert (state changes of old runs, new queued attempts). Written unconditionally. */
  runs: RunRecord[];
  /** Outcomes to record (first outcome wins, as always). */
  outcomes: StoredOutcome[];
  /** Messages whose `merged` outcome is withdrawn: their owner never finished, they are pending again. */
  reopen: string[];
}

/** Options of `planRecovery`. */
export interface RecoveryOptions {
  maxAttempts: number;
  now: number;
}

/** Decides recovery. Pure apart from reading `view`. Internal to `src/store`. */
export function planRecovery(view: RecoveryView, options: RecoveryOptions): { plan: RecoveryPlan; writes: RecoveryWrites } {
  const { maxAttempts, now } = options;
  const plan: RecoveryPlan = { runs: [], pending: [], exhausted: [], alreadyAnswered: [] };
  const writes: RecoveryWrites = { runs: [], outcomes: [], reopen: [] };
  /** Messages decided by this recovery (outcome written, or placed in a run / pending). */
  const decided = new Set<string>();

  const finish = (run: RunRecord, state: RunRecord['state'], error?: string): RunRecord => {
    const done: RunRecord = { ...run, state, updatedAt: now, error: error ?? run.error };
    writes.runs.push(done);
    return done;
  };
  const outcome = (messageId: string, o: Omit<StoredOutcome, 'messageId' | 'at'>): void => {
    writes.outcomes.push({ messageId, at: now, ...o });
    decided.add(messageId);
  };

  // Unfinished runs in the order their owners arrived (the original order), ties by creation.
  const runs = view
    .unfinishedRuns()
    .map((run) => ({ run, owner: view.message(run.messageIds[0] ?? '') }))
    .sort((a, b) => (a.owner?.seq ?? Infinity) - (b.owner?.seq ?? Infinity) || a.run.createdAt - b.run.createdAt);

  for (const { run, owner } of runs) {
    if (owner === undefined) {
      finish(run, 'cancelled', 'recovery: the messages of this run are no longer stored');
      continue;
    }
    const ownerId = owner.message.id;
    if (owner.outcome !== undefined) {
      // The run finished (its owner has an outcome) but its last state change was lost.
      finish(run, runStateOfOutcome(owner.outcome.outcome));
      for (const id of run.messageIds.slice(1)) {
        const m = view.message(id);
        if (m !== undefined && m.outcome === undefined && !decided.has(id)) outcome(id, { outcome: 'merged', ownerId, runId: run.runId });
      }
      continue;
    }
    if (decided.has(ownerId)) {
      // Two unfinished attempts of one turn (should not happen): the earlier one in order wins.
      finish(run, 'cancelled', 'recovery: another attempt of this turn was resumed');
      continue;
    }
    const members = collectMembers(view, run, ownerId, decided);
    const messages = [owner, ...members];
    const ids = messages.map((m) => m.message.id);
    for (const id of ids) decided.add(id);

    if (view.hasDelivery(ownerId)) {
      const done = finish(run, 'answered');
      outcome(ownerId, { outcome: 'answered', runId: done.runId });
      for (const m of members) if (m.outcome === undefined) outcome(m.message.id, { outcome: 'merged', ownerId, runId: done.runId });
      plan.alreadyAnswered.push(...ids);
      continue;
    }

    const started = run.state === 'running';
    const nextAttempt = started ? run.attempt + 1 : run.attempt;
    if (nextAttempt > maxAttempts) {
      const error = `gave up after ${run.attempt} attempt(s): the gateway stopped during each of them`;
      const failed = finish(run, 'failed', error);
      for (const m of messages) {
        if (m.outcome === undefined || m.message.id === ownerId) outcome(m.message.id, { outcome: 'failed', reason: 'error', error, runId: failed.runId });
      }
      plan.exhausted.push({ run: failed, messages: messages.map((m) => m.message) });
      continue;
    }
    let next: RunRecord;
    if (started) {
      finish(run, 'failed', `interrupted: the gateway stopped during this attempt; retried as attempt ${nextAttempt}`);
      next = { runId: runIdOf(ownerId, nextAttempt), sessionKey: run.sessionKey, messageIds: ids, state: 'queued', attempt: nextAttempt, createdAt: now, updatedAt: now };
      writes.runs.push(next);
    } else {
      next = { ...run, messageIds: ids };
      if (ids.join('\n') !== run.messageIds.join('\n')) writes.runs.push(next);
    }
    plan.runs.push({ run: next, messages: messages.map((m) => m.message) });
  }

  // Messages with no outcome and no unfinished run: their terminal run decides, else they are pending.
  const pending: RecoveryMessage[] = [];
  for (const m of view.openMessages()) {
    const id = m.message.id;
    if (decided.has(id)) continue;
    const carriers = view.runsContaining(id).filter((r) => isTerminalRunState(r.state));
    const last = carriers.sort((a, b) => b.attempt - a.attempt || b.updatedAt - a.updatedAt)[0];
    if (last !== undefined) {
      const lastOwner = last.messageIds[0];
      if (lastOwner === id) {
        outcome(id, {
          outcome: view.hasDelivery(id) ? 'answered' : ownerOutcomeOf(last.state),
          runId: last.runId,
          ...(last.state === 'failed' && last.error !== undefined ? { error: last.error, reason: 'error' as const } : {}),
        });
      } else {
        outcome(id, { outcome: 'merged', ownerId: lastOwner, runId: last.runId });
      }
      continue;
    }
    decided.add(id);
    pending.push(m);
    // Messages merged into this owner when its turn was formed: the turn never ran, so they wait again.
    for (const merged of view.mergedInto(id)) {
      if (decided.has(merged.message.id)) continue;
      decided.add(merged.message.id);
      writes.reopen.push(merged.message.id);
      pending.push(merged);
    }
  }
  pending.sort((a, b) => a.seq - b.seq);
  plan.pending = pending.map((m) => m.message);
  return { plan, writes };
}

/** Members of `run` that still need the turn: no outcome yet, or `merged` into this very owner. */
function collectMembers(view: RecoveryView, run: RunRecord, ownerId: string, decided: Set<string>): RecoveryMessage[] {
  const byId = new Map<string, RecoveryMessage>();
  const consider = (m: RecoveryMessage | undefined): void => {
    if (m === undefined || m.message.id === ownerId || decided.has(m.message.id) || byId.has(m.message.id)) return;
    const o = m.outcome;
    if (o === undefined || (o.outcome === 'merged' && o.ownerId === ownerId)) byId.set(m.message.id, m);
  };
  for (const id of run.messageIds.slice(1)) consider(view.message(id));
  for (const m of view.mergedInto(ownerId)) consider(m);
  return [...byId.values()].sort((a, b) => a.seq - b.seq);
}
