/**
 * The scheduler: owns the lanes and the session queues, routes each message to its session, reports exactly
 * one outcome per admitted message, and drains on shutdown. Platform-free and storage-free: durability is the
 * caller's (ingress writes the store before `submit`, and records what the `outcome` events say).
 *
 * Sessions exist only while they hold work: an idle session is forgotten (its cutoff lives in the injected
 * `StaleCutoffStore`), so a million quiet chats cost nothing.
 */
import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import { TransientMap, TransientSet } from '../collections/transient.js';
import { silentLogger } from '../log/index.js';
import { toError } from '../errors/index.js';
import type { ActiveRun } from './active-run.js';
import { DrainingError, RunAbortedError, UnknownLaneError } from './errors.js';
import { Lane, type LaneOptions, type LaneStats, type LaneWaitWarning } from './lane.js';
import {
  SessionQueue,
  type AdmissionStatus,
  type OutcomeExtra,
  type SessionHost,
  type SessionSnapshot,
  type StopAllResult,
  type StopResult,
} from './session-queue.js';
import { resolveSessionSettings, type SessionSettings } from './settings.js';
import type { Turn, TurnRunner } from './turn.js';
import type { Outcome, OutcomeRecord, SchedulableMessage, StaleCutoff, StaleCutoffStore } from './types.js';

/** Lanes every scheduler has unless told otherwise. */
export const DEFAULT_LANES: Readonly<Record<string, number>> = Object.freeze({ main: 4, subagent: 8, background: 2 });

/** Construction options of a `Scheduler`. */
export interface SchedulerOptions<M extends SchedulableMessage> {
  /** Lane name → concurrency cap or full options. Default `DEFAULT_LANES`. */
  lanes?: Record<string, number | LaneOptions>;
  /** Settings of a new session, from its key and first message. Partial: the rest is defaulted. */
  settings?: (sessionKey: string, firstMessage: M) => Partial<SessionSettings> | undefined;
  /** Answers a turn (see `TurnRunner`). */
  run: TurnRunner<M>;
  /** Durable stale cutoffs. Default: in memory (lost on restart). */
  cutoffs?: StaleCutoffStore;
  /** Context fill (0..1) of a session, for the adaptive throttle. Must be cheap and synchronous. */
  contextRatio?: (sessionKey: string) => number;
  /** One line describing a message dropped by the `summarize` policy. Default: sender and text, shortened. */
  summarize?: (message: M) => string;
  logger?: Logger;
  /** Clock (ms). Default `Date.now`. */
  now?: () => number;
  /** How often lanes are checked for long waits (ms). Default 1000. */
  monitorIntervalMs?: number;
}

/** Payload of `run:end`. */
export interface RunEndEvent<M extends SchedulableMessage> {
  turn: Turn<M>;
  /** The owner's outcome when the run's end decided it; undefined when decided earlier (abort) or withheld. */
  outcome: Outcome | undefined;
  error: Error | undefined;
  /** From lane start to end; 0 if the run never started. */
  durationMs: number;
}

/** Events a scheduler emits. Listeners must not throw (a throwing listener is logged and ignored). */
export interface SchedulerEvents<M extends SchedulableMessage> {
  /** Exactly one per admitted message (and one for each stale or rejected message). */
  outcome: [record: OutcomeRecord];
  'run:start': [turn: Turn<M>];
  'run:end': [event: RunEndEvent<M>];
  /** An aborted run did not settle within `abortGraceMs`: its slot was freed anyway. */
  'run:leaked': [turn: Turn<M>];
  'lane:wait': [warning: LaneWaitWarning];
  /** A session ran out of work and was forgotten. */
  'session:idle': [sessionKey: string];
}

/** What `submit` returns. */
export interface SubmitResult {
  status: AdmissionStatus;
}

/** Called once with a message's outcome. */
export type OutcomeCallback = (record: OutcomeRecord) => void;

/** What `drain` leaves behind. */
export interface DrainResult {
  /** Messages that got no outcome (not started, or aborted at the deadline): re-run them on the next start. */
  unfinished: string[];
  /** Runs aborted because the deadline passed. */
  aborted: string[];
  /** Runs that had not unwound even after their abort grace period. */
  leaked: number;
}

/** A point-in-time view of the whole scheduler. */
export interface SchedulerSnapshot {
  generation: number;
  draining: boolean;
  lanes: LaneStats[];
  sessions: SessionSnapshot[];
}

/** Default `summarize`: who said what, in one short line. */
function defaultSummary(message: SchedulableMessage): string {
  const m = message as SchedulableMessage & { text?: unknown; senderName?: unknown };
  const who = typeof m.senderName === 'string' && m.senderName !== '' ? m.senderName : message.senderId;
  const text = typeof m.text === 'string' ? m.text.replace(/\s+/g, ' ').trim() : '';
  return text.length > 80 ? `${who}: ${text.slice(0, 79)}…` : `${who}: ${text}`;
}

/** An in-memory `StaleCutoffStore`, the default when nothing durable is injected. */
export class MemoryCutoffStore implements StaleCutoffStore {
  private readonly map = new Map<string, StaleCutoff>();
  get(sessionKey: string): StaleCutoff | undefined {
    return this.map.get(sessionKey);
  }
  set(sessionKey: string, cutoff: StaleCutoff | undefined): void {
    if (cutoff === undefined) this.map.delete(sessionKey);
    else this.map.set(sessionKey, cutoff);
  }
}

/**
 * Schedules messages into sessions and runs into lanes. See ../shared/DESIGN.md for the semantics; the
 * session-level rules live in `SessionQueue`, the global ones (lanes, drain, generations) here.
 */
export class Scheduler<M extends SchedulableMessage = SchedulableMessage> extends EventEmitter<SchedulerEvents<M>> {
  private readonly lanes = new Map<string, Lane>();
  // Entries come and go with every message: transient registries, so V8 does not promote what they held
  // (see collections/transient.ts).
  private readonly sessions = new TransientMap<string, SessionQueue<M>>();
  private readonly callbacks = new TransientMap<string, OutcomeCallback>();
  private readonly started = new TransientSet<ActiveRun<M>>();
  private readonly log: Logger;
  private readonly clock: () => number;
  private settingsOf: SchedulerOptions<M>['settings'];
  private readonly host: SessionHost<M>;
  private generationNo = 0;
  private drainingNow = false;
  private monitor: ReturnType<typeof setInterval> | undefined;
  private onQuiet: (() => void) | undefined;

  constructor(options: SchedulerOptions<M>) {
    super();
    if (typeof options.run !== 'function') throw new TypeError('Scheduler needs a `run` function');
    this.log = (options.logger ?? silentLogger).child({ component: 'scheduler' });
    this.clock = options.now ?? Date.now;
    this.settingsOf = options.settings;
    const laneHost = {
      now: this.clock,
      onWaitWarning: (w: LaneWaitWarning) => {
        this.log.warn({ lane: w.lane, key: w.key, waitedMs: w.waitedMs, pending: w.pending }, 'lane wait over threshold');
        this.safeEmit('lane:wait', w);
      },
    };
    for (const [name, spec] of Object.entries(options.lanes ?? DEFAULT_LANES)) {
      this.lanes.set(name, new Lane(name, typeof spec === 'number' ? { concurrency: spec } : spec, laneHost));
    }
    const cutoffs = options.cutoffs ?? new MemoryCutoffStore();
    const summarize = options.summarize ?? defaultSummary;
    // The host is the sessions' only door back into the scheduler; keeping it a separate object keeps these
    // callbacks off the public API.
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- getters below need the scheduler, not the host
    const self = this;
    this.host = {
      now: this.clock,
      get generation() {
        return self.generationNo;
      },
      get draining() {
        return self.drainingNow;
      },
      runner: options.run,
      cutoffs,
      contextRatio: options.contextRatio,
      summarize: (m) => {
        try {
          return summarize(m);
        } catch (err) {
          self.log.error({ err: toError(err) }, 'summarize threw; using the default summary');
          return defaultSummary(m);
        }
      },
      outcome: (m, outcome, extra) => self.reportOutcome(m, outcome, extra),
      runStarted: (run) => {
        self.started.add(run);
        self.safeEmit('run:start', run);
      },
      runEnded: (run, outcome, error) => {
        const wasStarted = self.started.delete(run);
        if (self.listenerCount('run:end') > 0) {
          const durationMs = wasStarted ? Math.max(0, self.clock() - run.startedAt) : 0;
          self.safeEmit('run:end', { turn: run, outcome, error, durationMs });
        }
        self.checkQuiet();
      },
      runLeaked: (run) => {
        self.started.delete(run);
        self.log.warn({ runId: run.id, sessionKey: run.sessionKey }, 'aborted run did not unwind within its grace period; slot freed');
        self.safeEmit('run:leaked', run);
        self.checkQuiet();
      },
      idle: (session) => {
        if (self.sessions.get(session.key) === session) {
          self.sessions.delete(session.key);
          self.safeEmit('session:idle', session.key);
        }
      },
    };
    const interval = options.monitorIntervalMs ?? 1_000;
    this.monitor = setInterval(() => {
      for (const lane of this.lanes.values()) lane.checkWaits();
    }, interval);
    this.monitor.unref?.();
  }

  /** Bumped by `reset`: runs launched under an older generation never complete into newer state. */
  get generation(): number {
    return this.generationNo;
  }

  /** True once `drain` was called: `submit` throws `E_DRAINING`. */
  get draining(): boolean {
    return this.drainingNow;
  }

  /** Sessions currently holding work (idle ones are forgotten). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Admits a message into its session, synchronously. `onOutcome` is called once with the message's outcome
   * (possibly before `submit` returns, for a stale or rejected message). Throws `E_DRAINING` while draining,
   * `E_UNKNOWN_LANE` / `E_INVALID_OPTION` when the session's settings are wrong (nothing is admitted then).
   */
  submit(message: M, onOutcome?: OutcomeCallback): SubmitResult {
    if (this.drainingNow) throw new DrainingError();
    const session = this.sessionFor(message);
    if (onOutcome !== undefined) this.callbacks.set(message.id, onOutcome);
    try {
      return { status: session.submit(message) };
    } catch (err) {
      this.callbacks.delete(message.id);
      throw err;
    }
  }

  /** `submit`, resolving with the message's outcome. Convenient for tests and request/response callers. */
  submitAndWait(message: M): Promise<OutcomeRecord> {
    return new Promise((resolve, reject) => {
      try {
        this.submit(message, resolve);
      } catch (err) {
        reject(toError(err));
      }
    });
  }

  /**
   * Re-queues a recovered turn (after a crash, or a drain): one turn, owner first, behind what is pending,
   * bypassing debounce and cap, at `attempt`. Messages behind the session's stale cutoff end `stale`.
   */
  resume(messages: readonly M[], options: { attempt: number; onOutcome?: OutcomeCallback }): SubmitResult {
    if (this.drainingNow) throw new DrainingError();
    const first = messages[0];
    if (first === undefined) return { status: 'rejected' };
    const session = this.sessionFor(first);
    if (options.onOutcome !== undefined) for (const m of messages) this.callbacks.set(m.id, options.onOutcome);
    return { status: session.resume(messages, options.attempt) };
  }

  /** `/stop`: aborts the oldest active run of the session (see `SessionQueue.stop`). */
  stop(sessionKey: string): StopResult {
    const session = this.sessions.get(sessionKey);
    return session === undefined ? { stopped: undefined, cancelled: [] } : session.stop();
  }

  /**
   * `/stopall`: aborts every active run, cancels every pending message, sets the stale cutoff. `floor` is the
   * command's own platform id and time, so messages sent before the command count as seen even when the
   * session was idle (and forgotten).
   */
  stopAll(sessionKey: string, floor?: StaleCutoff): StopAllResult {
    const session = this.sessions.get(sessionKey);
    if (session !== undefined) return session.stopAll(floor);
    const cutoff: StaleCutoff = floor ?? { sentAt: this.clock() };
    this.host.cutoffs.set(sessionKey, cutoff);
    return { aborted: [], cancelled: [], cutoff };
  }

  /** The lane called `name`, for background jobs (`schedule`) and resizing. */
  lane(name: string): Lane {
    const lane = this.lanes.get(name);
    if (lane === undefined) throw new UnknownLaneError(name, [...this.lanes.keys()]);
    return lane;
  }

  /** Names of every lane. */
  laneNames(): string[] {
    return [...this.lanes.keys()];
  }

  /** A point-in-time view of one session, or undefined when it holds no work. */
  session(sessionKey: string): SessionSnapshot | undefined {
    return this.sessions.get(sessionKey)?.snapshot();
  }

  /** A point-in-time view of every lane and every busy session. */
  snapshot(): SchedulerSnapshot {
    return {
      generation: this.generationNo,
      draining: this.drainingNow,
      lanes: [...this.lanes.values()].map((l) => l.stats()),
      sessions: [...this.sessions.values()].map((s) => s.snapshot()),
    };
  }

  /**
   * Starts a new generation (config reload): every session re-reads its settings (from `settings` if given,
   * else the original resolver); active runs are aborted without an outcome and re-run (attempt + 1) once
   * they have unwound. Returns the new generation.
   */
  reset(settings?: SchedulerOptions<M>['settings']): number {
    if (settings !== undefined) this.settingsOf = settings;
    this.generationNo += 1;
    for (const session of [...this.sessions.values()]) {
      const next = this.resolveSettings(session.key, session.firstMessage);
      session.reset(next, this.lane(next.lane));
    }
    return this.generationNo;
  }

  /**
   * Shutdown: refuse new work, hand back what has not started, let running runs finish up to `deadlineMs`,
   * then abort them (without an outcome: the caller persists them for the next start) and wait for them to
   * unwind (at most their abort grace). Background jobs are aborted at the deadline. Idempotent in effect.
   */
  async drain(options: { deadlineMs: number }): Promise<DrainResult> {
    this.drainingNow = true;
    const unfinished: string[] = [];
    for (const session of this.sessions.values()) unfinished.push(...session.drainPending());
    await this.quietOr(options.deadlineMs);
    const aborted: string[] = [];
    if (this.started.size > 0) {
      for (const session of this.sessions.values()) {
        const ids = session.abortForDrain();
        unfinished.push(...ids);
        if (ids.length > 0) aborted.push(...ids);
      }
    }
    const reason = new RunAbortedError('drain', 'background');
    for (const lane of this.lanes.values()) lane.abortJobs(reason);
    let leaked = 0;
    const countLeak = (): void => {
      leaked += 1;
    };
    this.on('run:leaked', countLeak);
    await this.quietOr(Number.POSITIVE_INFINITY); // bounded: every aborted run settles or hits its grace timer
    this.off('run:leaked', countLeak);
    if (this.monitor !== undefined) clearInterval(this.monitor);
    this.monitor = undefined;
    for (const id of unfinished) this.callbacks.delete(id);
    return { unfinished, aborted, leaked };
  }

  // ── internals ───────────────────────────────────────────────────────────────────────────────────────

  private sessionFor(message: M): SessionQueue<M> {
    let session = this.sessions.get(message.sessionKey);
    if (session === undefined) {
      const settings = this.resolveSettings(message.sessionKey, message);
      session = new SessionQueue<M>(message.sessionKey, settings, this.lane(settings.lane), this.host, message);
      this.sessions.set(message.sessionKey, session);
    }
    return session;
  }

  private resolveSettings(sessionKey: string, first: M): SessionSettings {
    return resolveSessionSettings(this.settingsOf?.(sessionKey, first));
  }

  private reportOutcome(message: M, outcome: Outcome, extra: OutcomeExtra | undefined): void {
    const callback = this.callbacks.get(message.id);
    if (callback === undefined && this.listenerCount('outcome') === 0) return;
    const record: OutcomeRecord = { messageId: message.id, sessionKey: message.sessionKey, outcome, ...extra };
    if (callback !== undefined) {
      this.callbacks.delete(message.id);
      try {
        callback(record);
      } catch (err) {
        this.log.error({ err: toError(err), messageId: message.id }, 'outcome callback threw');
      }
    }
    this.safeEmit('outcome', record);
  }

  /** Emits without letting a listener's exception into the queue's bookkeeping. */
  private safeEmit<E extends keyof SchedulerEvents<M>>(event: E, ...args: SchedulerEvents<M>[E]): void {
    try {
      (this.emit as (e: E, ...a: SchedulerEvents<M>[E]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error({ err: toError(err), event }, 'scheduler event listener threw');
    }
  }

  /** Resolves when no started run remains, or after `ms` (whichever is first). */
  private quietOr(ms: number): Promise<void> {
    if (this.started.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.onQuiet = undefined;
        resolve();
      };
      this.onQuiet = done;
      if (Number.isFinite(ms)) timer = setTimeout(done, Math.max(0, ms));
    });
  }

  private checkQuiet(): void {
    if (this.started.size === 0) this.onQuiet?.();
  }
}
