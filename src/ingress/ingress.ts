/**
 * Ingress: the one door every inbound message goes through, whatever its platform. In order: validate the
 * envelope, ask access control, answer commands at once, persist (dedupe), then hand the message to the
 * scheduler. It never waits for a model, so adapters can acknowledge the platform as soon as `receive`
 * resolves (the message is durable by then).
 *
 * Ingress is also where the scheduler's verdicts become durable and visible: outcomes and run states are
 * written to the store, and the user is told when a message is dropped, stale or failed.
 *
 * Invariant: a message is submitted to the scheduler only after `store.accept` resolved `accepted`, so a
 * crash after `receive` resolves loses nothing (recovery re-queues it), and a redelivery is a `duplicate`.
 *
 * A store that refuses a write for a while (`E_STORE_WRITE`: disk full, read-only file) does not lose what
 * ingress records: outcomes and run states are retried with backoff until they commit (both writes are
 * idempotent, and a terminal run state is never overwritten by a late `running`), and given up only at
 * `stopRetrying()` (shutdown), after one last try; what is still unwritten then is redone by recovery.
 * `receive` itself does not retry: its caller does not confirm the message to the platform, which resends it.
 */
import type { Logger } from 'pino';
import {
  MAX_INBOUND_TEXT,
  parseInbound,
  type ChannelAdapter,
  type InboundMessage,
  type IngressPort,
  type IngressResult,
  type ReplyTarget,
} from '../channels/index.js';
import { TransientMap, TransientSet } from '../collections/transient.js';
import { SwitchyardError, isSwitchyardError, toError } from '../errors/index.js';
import { silentLogger } from '../log/index.js';
import type { OutcomeRecord, Scheduler, StopAllResult, StopResult, Turn } from '../scheduler/index.js';
import { ownerOfRunId, type RecoveryPlan, type RunRecord, type RunState, type Store, type StoredOutcome } from '../store/index.js';
import { sleep } from '../outbound/index.js';
import * as say from './notices.js';

/** What access control decided about a message (see src/access). */
export type AccessVerdict =
  | { kind: 'allow' }
  | { kind: 'ignore'; reason: string }
  | { kind: 'deny'; reason: string; notice?: string | undefined };

/** The access-control surface ingress needs; `AccessControl` in src/access implements it. */
export interface AccessGate {
  decide(message: InboundMessage): Promise<AccessVerdict>;
  mayRunCommand(message: InboundMessage, name: string): boolean;
}

/** A command contributed by another area (`/pin`, `/approve`, ...). Resolves with the answer to send. */
export interface CommandHandler {
  description: string;
  run(message: InboundMessage, args: string, signal?: AbortSignal): Promise<string>;
}

/** What ingress is wired to. */
export interface IngressDeps {
  store: Store;
  scheduler: Scheduler<InboundMessage>;
  /** The adapter of a channel, to send notices. */
  channel: (channelId: string) => ChannelAdapter | undefined;
  /** Access control of a channel; none = everyone is allowed (the local webchat). */
  access?: (channelId: string) => AccessGate | undefined;
  /** Extra commands by name (lower case, without the slash). */
  commands?: Record<string, CommandHandler>;
  logger?: Logger;
  now?: () => number;
  /** At most one stale notice per session per this window (ms): a replay burst yields one notice. Default 10 s. */
  staleNoticeWindowMs?: number;
  /** Backoff (ms) of outcome and run writes the store refused with `E_STORE_WRITE`. Default 100 doubling to 5000. */
  writeRetry?: { initialMs: number; maxMs: number };
}

/** A message failed validation in a way that is the adapter's bug, not the user's. */
export class MalformedMessageError extends SwitchyardError {
  constructor(issues: string) {
    super('E_CHANNEL_MALFORMED', `Inbound message failed validation: ${issues}`, { context: { issues } });
  }
}

/** Sessions held by the stale-notice throttle before expired ones are swept. */
const STALE_SWEEP_AT = 1024;

const BUILTIN_COMMANDS = new Set(['help', 'start', 'stop', 'stopall', 'status']);

/** Where a notice about `message` goes: the same chat (and thread), as a reply to it. */
export function replyTargetOf(message: InboundMessage): ReplyTarget {
  return {
    channelId: message.channelId,
    sessionKey: message.sessionKey,
    chatId: message.chatId,
    threadId: message.threadId,
    peer: message.peer,
    replyToPlatformMessageId: message.platformMessageId,
  };
}

/** The gateway's `IngressPort`. See the module comment. */
export class Ingress implements IngressPort {
  private readonly log: Logger;
  private readonly now: () => number;
  // The per-message registries below are transient ones (see collections/transient.ts): a plain Map with this
  // churn makes V8 promote every message it ever held.
  /** Admitted messages still waiting for their outcome, for notices. */
  private readonly inflight = new TransientMap<string, InboundMessage>();
  /** `merged` outcomes held back until their owner's outcome: a crash in between re-queues them instead. */
  private readonly mergedByOwner = new TransientMap<string, StoredOutcome[]>();
  /** Run states decided by outcomes, applied when the run ends. */
  private readonly runStates = new TransientMap<string, RunState>();
  /**
   * Stale-notice throttle per session: when its last notice went out and how many stale messages were held
   * back since. Map order is the order of notices (re-inserted on each), so expired entries come first and a
   * sweep stops at the first live one: the map holds the sessions noticed within a window, not every session
   * ever stopped.
   */
  private readonly staleNotices = new Map<string, { at: number; held: number }>();
  private readonly staleWindowMs: number;
  private outcomeBatch: StoredOutcome[] = [];
  private flushScheduled = false;
  private readonly pendingWrites = new TransientSet<Promise<unknown>>();
  private readonly retries = new AbortController();
  private readonly writeRetry: { initialMs: number; maxMs: number };

  constructor(private readonly deps: IngressDeps) {
    this.log = (deps.logger ?? silentLogger).child({ component: 'ingress' });
    this.now = deps.now ?? Date.now;
    this.staleWindowMs = deps.staleNoticeWindowMs ?? 10_000;
    this.writeRetry = deps.writeRetry ?? { initialMs: 100, maxMs: 5_000 };
    deps.scheduler.on('outcome', (o) => this.onOutcome(o));
    deps.scheduler.on('run:start', (turn) => this.saveRun(turn, 'running'));
    deps.scheduler.on('run:end', ({ turn }) => {
      const state = this.runStates.get(turn.id);
      this.runStates.delete(turn.id);
      // No state = aborted by drain or reset: the run stays `running` in the store and is re-run on recovery.
      if (state !== undefined) this.saveRun(turn, state);
    });
  }

  /** Validates, authorizes, answers commands, persists and enqueues. Resolves once the message is durable. */
  async receive(raw: InboundMessage, signal?: AbortSignal): Promise<IngressResult> {
    if (typeof raw?.text === 'string' && raw.text.length > MAX_INBOUND_TEXT) {
      this.notify(raw, say.tooLongText(raw.text.length, MAX_INBOUND_TEXT));
      this.log.info({ messageId: raw.id, length: raw.text.length }, 'message too long; refused');
      return { status: 'denied' };
    }
    // A Discord catch-up under policy `stale` marks what it found while the gateway was down: stored (so it is
    // deduplicated and visible) but not answered. The mark is not part of the envelope.
    // Copied without the mark only when there is one (a Discord catch-up), not for every message.
    let catchUp: unknown;
    let envelope: unknown = raw;
    if (typeof raw === 'object' && raw !== null && 'catchUp' in raw) ({ catchUp, ...envelope } = raw as InboundMessage & { catchUp?: unknown });
    const parsed = parseInbound(envelope);
    if (!parsed.success) throw new MalformedMessageError(parsed.issues);
    const message = parsed.data;
    const gate = this.deps.access?.(message.channelId);
    if (gate !== undefined) {
      const verdict = await gate.decide(message);
      if (verdict.kind === 'ignore') return { status: 'ignored' };
      if (verdict.kind === 'deny') {
        if (verdict.notice !== undefined) this.notify(message, verdict.notice);
        this.log.info({ messageId: message.id, reason: verdict.reason }, 'message denied');
        return { status: 'denied' };
      }
    }
    const command = message.command;
    if (command !== undefined && (BUILTIN_COMMANDS.has(command.name) || this.deps.commands?.[command.name] !== undefined)) {
      return this.command(message, command.name, command.args, gate, signal);
    }
    const accepted = await this.deps.store.accept(message);
    if (accepted.status === 'duplicate') return { status: 'duplicate' };
    if (catchUp === 'stale') {
      const stale: StoredOutcome[] = [{ messageId: message.id, outcome: 'stale', reason: 'stale', at: this.now() }];
      this.write('outcomes', () => this.deps.store.recordOutcomes(stale));
      return { status: 'accepted' };
    }
    this.admit(message, () => this.deps.scheduler.submit(message));
    return { status: 'accepted' };
  }

  /**
   * Re-queues what a crash or a drain left behind (from `store.recover`), in order: interrupted runs as one
   * turn each at their new attempt, then messages that never started. Exhausted runs get one notice.
   */
  resume(plan: RecoveryPlan): void {
    for (const { run, messages } of plan.runs) {
      if (messages.length === 0) continue;
      this.admit(messages[0]!, () => this.deps.scheduler.resume(messages, { attempt: run.attempt }), messages);
    }
    for (const message of plan.pending) {
      this.admit(message, () => this.deps.scheduler.resume([message], { attempt: 1 }));
    }
    for (const { run, messages } of plan.exhausted) {
      const owner = messages[0];
      if (owner !== undefined) this.notify(owner, say.exhaustedText(run.attempt)); // each of run.attempt starts was cut by a stop
    }
  }

  /**
   * Tells a chat that an operator stopped its work through the admin API (wire it as
   * `SchedulerAdminBackend`'s `onStopped`): one short notice, through the same path as the `/stop` answer,
   * addressed from one of the stopped messages (the store knows it when its outcome is already decided).
   * Nothing is said when nothing was stopped or cancelled. Never rejects.
   */
  async operatorStopped(
    sessionKey: string,
    event: { kind: 'stop'; result: StopResult } | { kind: 'stopall'; result: StopAllResult },
  ): Promise<void> {
    const ids =
      event.kind === 'stop'
        ? [...(event.result.stopped?.messageIds ?? []), ...event.result.cancelled]
        : [...event.result.aborted.map(ownerOfRunId), ...event.result.cancelled];
    if (ids.length === 0) {
      this.log.info({ sessionKey, kind: event.kind }, 'operator stop found nothing to stop; chat not told');
      return;
    }
    try {
      const id = ids[0]!;
      const message = this.inflight.get(id) ?? (await this.deps.store.getMessage(id))?.message;
      if (message === undefined) {
        this.log.warn({ sessionKey, messageId: id }, 'operator stop: stopped message not found; chat not told');
        return;
      }
      this.notify(message, event.kind === 'stop' ? say.operatorStopText(event.result) : say.operatorStopAllText(event.result));
    } catch (err) {
      this.log.warn({ err: toError(err), sessionKey }, 'operator stop notice failed');
    }
  }

  /** Resolves once every store write issued so far has settled (tests, shutdown). */
  async flush(): Promise<void> {
    this.flushOutcomes();
    while (this.pendingWrites.size > 0) await Promise.allSettled([...this.pendingWrites]);
  }

  /**
   * Shutdown: writes being retried get one last immediate try and are then given up (recovery redoes them at
   * the next start). Without it, `flush()` waits for as long as the store refuses writes.
   */
  stopRetrying(): void {
    this.retries.abort();
  }

  /** Messages admitted and not yet decided. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  // ── commands ───────────────────────────────────────────────────────────────────────────────────────

  private async command(
    message: InboundMessage,
    name: string,
    args: string,
    gate: AccessGate | undefined,
    signal: AbortSignal | undefined,
  ): Promise<IngressResult> {
    // Commands are journaled too, so a redelivered /stopall is not executed twice.
    const accepted = await this.deps.store.accept(message);
    if (accepted.status === 'duplicate') return { status: 'duplicate' };
    let answer: string;
    if (gate !== undefined && !gate.mayRunCommand(message, name)) {
      answer = say.commandDeniedText(name);
    } else {
      try {
        answer = await this.runCommand(message, name, args, signal);
      } catch (err) {
        const e = toError(err);
        this.log.warn({ err: e, command: name, messageId: message.id }, 'command failed');
        answer = isSwitchyardError(e) ? `/${name} failed: ${e.message}` : `/${name} failed. Please try again.`;
      }
    }
    const answered: StoredOutcome[] = [{ messageId: message.id, outcome: 'answered', at: this.now() }];
    this.write('outcomes', () => this.deps.store.recordOutcomes(answered));
    this.notify(message, answer);
    return { status: 'command' };
  }

  private async runCommand(message: InboundMessage, name: string, args: string, signal?: AbortSignal): Promise<string> {
    const { scheduler } = this.deps;
    switch (name) {
      case 'stop':
        return say.stopText(scheduler.stop(message.sessionKey));
      case 'stopall':
        return say.stopAllText(
          scheduler.stopAll(message.sessionKey, { platformMessageId: message.platformMessageId, sentAt: message.sentAt }),
        );
      case 'status': {
        const session = scheduler.session(message.sessionKey);
        return say.statusText(session, session === undefined ? undefined : scheduler.lane(session.lane).stats());
      }
      case 'help':
      case 'start': {
        const extra = Object.entries(this.deps.commands ?? {}).map(([n, c]) => ({ name: n, description: c.description }));
        const help = say.helpText(extra);
        return name === 'start' ? `Hi! Send me a message and I will answer.\n\n${help}` : help;
      }
      default: {
        const handler = this.deps.commands?.[name];
        if (handler === undefined) return say.helpText([]);
        return handler.run(message, args, signal);
      }
    }
  }

  // ── outcomes and runs ──────────────────────────────────────────────────────────────────────────────

  private admit(message: InboundMessage, submit: () => unknown, all: readonly InboundMessage[] = [message]): void {
    for (const m of all) this.inflight.set(m.id, m);
    try {
      submit();
    } catch (err) {
      for (const m of all) this.inflight.delete(m.id);
      if (isSwitchyardError(err, 'E_DRAINING')) {
        // Durable already: the next start recovers it. Nothing to tell the user now.
        this.log.info({ messageId: message.id }, 'accepted while draining; will run after restart');
        return;
      }
      throw err;
    }
  }

  private onOutcome(o: OutcomeRecord): void {
    const message = this.inflight.get(o.messageId);
    this.inflight.delete(o.messageId);
    const stored: StoredOutcome = {
      messageId: o.messageId,
      outcome: o.outcome,
      ownerId: o.ownerId,
      runId: o.runId,
      reason: o.reason,
      error: o.error?.message,
      at: this.now(),
    };
    if (o.outcome === 'merged' && o.ownerId !== undefined) {
      const list = this.mergedByOwner.get(o.ownerId) ?? [];
      list.push(stored);
      this.mergedByOwner.set(o.ownerId, list);
      return;
    }
    this.queueOutcome(stored);
    const merged = this.mergedByOwner.get(o.messageId);
    if (merged !== undefined) {
      this.mergedByOwner.delete(o.messageId);
      for (const m of merged) this.queueOutcome(m);
    }
    if (o.runId !== undefined) {
      const state = RUN_STATE_OF[o.outcome];
      if (state !== undefined) this.runStates.set(o.runId, state);
    }
    if (message === undefined) return;
    switch (o.outcome) {
      case 'dropped':
        this.notify(message, say.droppedText(undefined));
        break;
      case 'failed':
        this.notify(message, say.failedText(o.error));
        break;
      case 'stale':
        this.staleNotice(message);
        break;
      default:
        break; // answered: the reply is the notice; cancelled: the /stop answer; merged / superseded: the newer turn
    }
  }

  private staleNotice(message: InboundMessage): void {
    const key = message.sessionKey;
    const now = this.now();
    const last = this.staleNotices.get(key);
    if (last !== undefined && now - last.at < this.staleWindowMs) {
      last.held += 1;
      return;
    }
    this.staleNotices.delete(key);
    this.staleNotices.set(key, { at: now, held: 0 });
    this.sweepStaleNotices(now);
    this.notify(message, say.staleText((last?.held ?? 0) + 1));
  }

  /**
   * Forgets sessions whose stale-notice window has passed, once more than `STALE_SWEEP_AT` are held (below
   * that, a count held back is still added to the session's next notice, however late). Amortized O(1).
   */
  private sweepStaleNotices(now: number): void {
    if (this.staleNotices.size <= STALE_SWEEP_AT) return;
    for (const [key, s] of this.staleNotices) {
      if (now - s.at < this.staleWindowMs) break;
      this.staleNotices.delete(key);
    }
  }

  /** Sessions whose stale-notice throttle is held (bounded: see `staleNotices`). For tests and metrics. */
  get staleNoticeSessions(): number {
    return this.staleNotices.size;
  }

  private queueOutcome(o: StoredOutcome): void {
    this.outcomeBatch.push(o);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flushOutcomes());
  }

  /** Outcomes of one tick go to the store as one batch (one transaction in SQLite). */
  private flushOutcomes(): void {
    this.flushScheduled = false;
    if (this.outcomeBatch.length === 0) return;
    const batch = this.outcomeBatch;
    this.outcomeBatch = [];
    this.write('outcomes', () => this.deps.store.recordOutcomes(batch));
  }

  private saveRun(turn: Turn<InboundMessage>, state: RunState): void {
    const now = this.now();
    const record: RunRecord = {
      runId: turn.id,
      sessionKey: turn.sessionKey,
      messageIds: turn.messages.map((m) => m.id),
      state,
      attempt: turn.attempt,
      createdAt: now,
      updatedAt: now,
    };
    this.write('run', () => this.deps.store.saveRun(record));
  }

  /**
   * Issues a store write, tracked in `pendingWrites` until it settles. The first attempt is a plain promise
   * chain (three writes a turn: no async frame, no `finally` promise); only a refused write enters the retry loop.
   */
  private write(what: 'outcomes' | 'run', attempt: () => Promise<unknown>): void {
    let first: Promise<unknown>;
    try {
      first = attempt();
    } catch (err) {
      first = Promise.reject(err);
    }
    const settled = (): void => {
      this.pendingWrites.delete(tracked);
    };
    const tracked: Promise<void> = first.then(settled, (err: unknown) => this.retryWrite(what, attempt, err).then(settled));
    this.pendingWrites.add(tracked);
  }

  /** Retries `attempt` after its first try failed with `firstError`, until it commits; retries only `E_STORE_WRITE` (see the module comment). Never rejects. */
  private async retryWrite(what: string, attempt: () => Promise<unknown>, firstError: unknown): Promise<void> {
    const signal = this.retries.signal;
    let raw = firstError;
    for (let n = 1; ; n++) {
      const err = toError(raw);
      const code = isSwitchyardError(err) ? err.code : undefined;
      if (code !== 'E_STORE_WRITE' || signal.aborted) {
        this.log.error({ err, code, what, attempts: n }, code === 'E_STORE_WRITE' ? 'store write given up at shutdown; recovery redoes it' : 'store write failed');
        return;
      }
      const delay = Math.min(this.writeRetry.maxMs, this.writeRetry.initialMs * 2 ** Math.min(20, n - 1));
      this.log.error({ err, code, what, attempt: n, retryInMs: delay }, 'store write refused; retrying');
      await sleep(delay, signal).catch(() => undefined); // stopped: one last try, then give up
      try {
        await attempt();
        this.log.info({ what, attempts: n + 1 }, 'store write committed after retries');
        return;
      } catch (next) {
        raw = next;
      }
    }
  }

  private notify(message: InboundMessage, text: string): void {
    const adapter = this.deps.channel(message.channelId);
    if (adapter === undefined) {
      this.log.warn({ channelId: message.channelId }, 'no adapter to send a notice through');
      return;
    }
    adapter.notify(replyTargetOf(message), text).catch((err: unknown) => {
      this.log.warn({ err: toError(err), channelId: message.channelId }, 'notice could not be sent');
    });
  }
}

const RUN_STATE_OF: Partial<Record<OutcomeRecord['outcome'], RunState>> = {
  answered: 'answered',
  failed: 'failed',
  cancelled: 'cancelled',
  superseded: 'superseded',
};
