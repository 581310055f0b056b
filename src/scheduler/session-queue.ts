/**
 * One session's queue: which of its messages run when, under its mode, cap, debounce, concurrency, throttle
 * and stale cutoff. See ../shared/DESIGN.md "Session queue semantics" for the contract; the choices the design
 * leaves open are stated where they are made.
 *
 * Invariants kept here:
 * - Every admitted message gets exactly one outcome: `merged` when its turn launches (if it is not the owner),
 *   the owner's when the run ends or is aborted, or `dropped` / `cancelled` / `superseded` while pending.
 *   Drain and reset withhold outcomes on purpose: that work is kept and re-run.
 * - `active` holds every launched run until it is `done`, including aborted runs still unwinding, so a session
 *   never has more than its effective `maxConcurrent` runs touching its history at once.
 * - Pending turns start in FIFO order: a turn still debouncing at the head holds back the ones behind it.
 * - User code (runner, listeners) runs only through the host's guarded paths; the pump is re-entrancy safe.
 */
import { Fifo } from './fifo.js';
import type { Lane } from './lane.js';
import { ActiveRun, type RunOwner } from './active-run.js';
import { RunAbortedError, RunFailedError, RunTimeoutError, type AbortCause } from './errors.js';
import type { SessionSettings } from './settings.js';
import { isStale, SeenHighWater } from './stale-cutoff.js';
import type { TurnKind, TurnRunner } from './turn.js';
import type { Outcome, OutcomeReason, SchedulableMessage, StaleCutoff, StaleCutoffStore } from './types.js';

/** What `submit` decided. Outcomes follow as events; this is only the admission. */
export type AdmissionStatus = 'admitted' | 'stale' | 'rejected';

/** Extra fields of an outcome. Internal. */
export interface OutcomeExtra {
  ownerId?: string;
  runId?: string;
  reason?: OutcomeReason;
  error?: Error;
  summary?: string;
}

/** What a session needs from its scheduler. Internal. */
export interface SessionHost<M extends SchedulableMessage> {
  now(): number;
  readonly generation: number;
  readonly draining: boolean;
  readonly runner: TurnRunner<M>;
  readonly cutoffs: StaleCutoffStore;
  readonly contextRatio: ((sessionKey: string) => number) | undefined;
  summarize(message: M): string;
  outcome(message: M, outcome: Outcome, extra?: OutcomeExtra): void;
  runStarted(run: ActiveRun<M>): void;
  runEnded(run: ActiveRun<M>, outcome: Outcome | undefined, error: Error | undefined): void;
  runLeaked(run: ActiveRun<M>): void;
  idle(session: SessionQueue<M>): void;
}

/** A turn that has not launched yet. Internal. */
class PendingTurn<M extends SchedulableMessage> {
  readonly messages: M[] = [];
  kind: TurnKind;
  attempt = 1;
  lastSender = '';
  lastArrival = 0;
  /** Set while debouncing: the turn may not launch before it fires. */
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Merged outcomes already reported (a turn put back by reset). */
  mergedReported = false;

  constructor(kind: TurnKind) {
    this.kind = kind;
  }
}

/** What /stop did. */
export interface StopResult {
  /** The run that was aborted, if any. */
  stopped: { runId: string; messageIds: string[] } | undefined;
  /** Pending messages cancelled (only when no run was active: a turn still debouncing). */
  cancelled: string[];
}

/** What /stopall did. */
export interface StopAllResult {
  aborted: string[];
  cancelled: string[];
  cutoff: StaleCutoff;
}

/** A point-in-time view of a session. */
export interface SessionSnapshot {
  key: string;
  mode: SessionSettings['mode'];
  lane: string;
  active: Array<{ runId: string; state: string; messages: number; startedAt: number | undefined }>;
  pending: number;
  pendingTurns: number;
  maxConcurrent: number;
  effectiveMaxConcurrent: number;
  cutoff: StaleCutoff | undefined;
}

/** One session's queue. Created on demand by the scheduler and dropped when idle. */
export class SessionQueue<M extends SchedulableMessage> implements RunOwner<M> {
  private readonly pending = new Fifo<PendingTurn<M>>();
  private pendingMessages = 0;
  private readonly active: ActiveRun<M>[] = [];
  private cutoff: StaleCutoff | undefined;
  private readonly seen = new SeenHighWater();
  private droppedSummaries: string[] | undefined;
  private pumping = false;

  constructor(
    readonly key: string,
    public settings: SessionSettings,
    public lane: Lane,
    private readonly host: SessionHost<M>,
    /** The message that created the session: the input of its settings resolver, kept for `reset`. */
    readonly firstMessage: M,
  ) {
    this.cutoff = host.cutoffs.get(key);
  }

  /** True when the session holds no work and may be forgotten. */
  get idle(): boolean {
    return this.active.length === 0 && this.pending.length === 0;
  }

  /** Admits a message (or decides it is stale / rejected). Outcomes follow through the host. */
  submit(message: M): AdmissionStatus {
    const now = this.host.now();
    if (this.cutoff !== undefined) {
      if (isStale(message, this.cutoff)) {
        this.host.outcome(message, 'stale', { reason: 'stale' });
        this.checkIdle();
        return 'stale';
      }
      // The first fresh message clears the cutoff (durably).
      this.cutoff = undefined;
      this.host.cutoffs.set(this.key, undefined);
    }
    this.seen.observe(message);
    const s = this.settings;

    if (s.mode === 'interrupt') {
      const last = this.pending.peekLast();
      if (last !== undefined && this.canDebounce(last, message, now)) {
        if (!this.makeRoom(message)) return 'rejected';
        this.append(this.pending.peekLast() ?? this.newTurn('message'), message, now, true);
      } else {
        this.supersedeAll();
        this.append(this.newTurn('message'), message, now, true);
      }
      this.pump();
      return 'admitted';
    }

    if (!this.makeRoom(message)) return 'rejected';
    const last = this.pending.peekLast();
    if (last !== undefined && this.canDebounce(last, message, now)) {
      this.append(last, message, now, true);
    } else if (s.mode === 'followup' && this.active.length >= this.effectiveMaxConcurrent()) {
      // At capacity: collect into the last waiting turn, which becomes the follow-up of the run(s) ahead.
      const target = last ?? this.newTurn('followup');
      target.kind = 'followup';
      this.append(target, message, now, false);
    } else {
      this.append(this.newTurn('message'), message, now, true);
    }
    this.pump();
    return 'admitted';
  }

  /** Re-queues a recovered turn as one turn, behind what is pending, bypassing debounce and cap. */
  resume(messages: readonly M[], attempt: number): AdmissionStatus {
    const fresh: M[] = [];
    for (const m of messages) {
      if (this.cutoff !== undefined && isStale(m, this.cutoff)) this.host.outcome(m, 'stale', { reason: 'stale' });
      else fresh.push(m);
    }
    if (fresh.length === 0) {
      this.checkIdle();
      return 'stale';
    }
    for (const m of fresh) this.seen.observe(m);
    const turn = new PendingTurn<M>(fresh.length > 1 ? 'followup' : 'message');
    turn.attempt = attempt;
    turn.messages.push(...fresh);
    this.pending.push(turn);
    this.pendingMessages += fresh.length;
    this.pump();
    return 'admitted';
  }

  /** /stop: aborts the oldest active run; with none, cancels the oldest pending turn (e.g. one debouncing). */
  stop(): StopResult {
    const run = this.active.find((r) => r.state === 'waiting' || r.state === 'running');
    if (run !== undefined) {
      this.abortRun(run, 'stop');
      this.pump();
      this.checkIdle();
      return { stopped: { runId: run.id, messageIds: run.messages.map((m) => m.id) }, cancelled: [] };
    }
    const turn = this.pending.shift();
    if (turn === undefined) return { stopped: undefined, cancelled: [] };
    const cancelled = this.cancelTurn(turn, 'cancelled', 'stop');
    this.pump();
    this.checkIdle();
    return { stopped: undefined, cancelled };
  }

  /** /stopall: aborts every active run, cancels every pending message, sets the stale cutoff. */
  stopAll(floor: StaleCutoff | undefined): StopAllResult {
    const aborted: string[] = [];
    for (const run of [...this.active]) if (this.abortRun(run, 'stopall')) aborted.push(run.id);
    const cancelled: string[] = [];
    for (const turn of this.pending.drain()) cancelled.push(...this.cancelTurn(turn, 'cancelled', 'stopall'));
    this.droppedSummaries = undefined;
    this.cutoff = this.seen.cutoff(floor, this.host.now());
    this.host.cutoffs.set(this.key, this.cutoff);
    this.checkIdle();
    return { aborted, cancelled, cutoff: this.cutoff };
  }

  /**
   * Generation reset (config reload): aborts active runs without an outcome and puts their turns back at the
   * front, in order, to run again (attempt + 1) under the new generation once the old runs have unwound.
   */
  reset(settings: SessionSettings, lane: Lane): void {
    this.settings = settings;
    // Put the turns back before aborting their runs: an abort releases slots and may make the session look
    // idle, and an idle session is forgotten by the scheduler, which would orphan the re-queued work.
    const victims = this.active.filter((r) => r.state === 'waiting' || r.state === 'running');
    for (let i = victims.length - 1; i >= 0; i--) {
      const run = victims[i]!;
      const turn = new PendingTurn<M>(run.kind);
      turn.messages.push(...run.messages);
      turn.attempt = run.attempt + 1;
      turn.mergedReported = true;
      this.pending.unshift(turn);
      this.pendingMessages += turn.messages.length;
    }
    this.lane = lane;
    for (const run of victims) this.abortRun(run, 'reset');
    this.pump();
  }

  /**
   * Drain, step 1: stop launching; hand back every message not yet started (pending, or launched but still
   * waiting for its lane) without an outcome. Running runs continue.
   */
  drainPending(): string[] {
    const ids: string[] = [];
    for (const turn of this.pending.drain()) {
      if (turn.timer !== undefined) clearTimeout(turn.timer);
      for (const m of turn.messages) ids.push(m.id);
    }
    this.pendingMessages = 0;
    for (const run of [...this.active]) {
      if (run.state === 'waiting' && run.lane?.cancel(run) === true) {
        run.outcomeSettled = true;
        run.state = 'done';
        this.active.splice(this.active.indexOf(run), 1);
        for (const m of run.messages) ids.push(m.id);
      }
    }
    return ids;
  }

  /** Drain, step 2 (deadline passed): aborts running runs without an outcome; returns their message ids. */
  abortForDrain(): string[] {
    const ids: string[] = [];
    for (const run of [...this.active]) {
      if (run.state === 'running' && this.abortRun(run, 'drain')) for (const m of run.messages) ids.push(m.id);
    }
    return ids;
  }

  /** Runs still holding a slot (running or unwinding). */
  get activeCount(): number {
    return this.active.length;
  }

  snapshot(): SessionSnapshot {
    return {
      key: this.key,
      mode: this.settings.mode,
      lane: this.lane.name,
      active: this.active.map((r) => ({
        runId: r.id,
        state: r.state,
        messages: r.messages.length,
        startedAt: r.state === 'waiting' ? undefined : r.startedAt,
      })),
      pending: this.pendingMessages,
      pendingTurns: this.pending.length,
      maxConcurrent: this.settings.maxConcurrent,
      effectiveMaxConcurrent: this.effectiveMaxConcurrent(),
      cutoff: this.cutoff,
    };
  }

  /** `maxConcurrent`, or 1 while the context is at or above `throttleRatio` of the window. */
  effectiveMaxConcurrent(): number {
    const max = this.settings.maxConcurrent;
    if (max === 1 || this.host.contextRatio === undefined) return max;
    let ratio: number;
    try {
      ratio = this.host.contextRatio(this.key);
    } catch {
      return 1; // A failing estimate must not unleash concurrency on a full context.
    }
    return ratio >= this.settings.throttleRatio ? 1 : max;
  }

  // ── RunOwner ────────────────────────────────────────────────────────────────────────────────────────

  begin(run: ActiveRun<M>): void {
    run.state = 'running';
    run.startedAt = this.host.now();
    run.armTimeout(this.settings.runTimeoutMs);
    this.host.runStarted(run);
    if (run.state !== 'running') return; // a run:start listener stopped it
    run.invoke(this.host.runner);
  }

  settled(run: ActiveRun<M>, error: unknown, failed: boolean): void {
    if (run.state === 'done') return; // released already (grace expired): a late settlement is a no-op
    const wasStarted = run.state !== 'waiting';
    run.clearTimers();
    run.state = 'done';
    let outcome: Outcome | undefined;
    let err: Error | undefined;
    if (!run.outcomeSettled && run.generation === this.host.generation) {
      run.outcomeSettled = true;
      const owner = run.messages[0]!;
      if (failed) {
        err = new RunFailedError(run.id, error);
        outcome = 'failed';
        this.host.outcome(owner, 'failed', { runId: run.id, reason: 'error', error: err });
      } else {
        outcome = 'answered';
        this.host.outcome(owner, 'answered', { runId: run.id });
      }
    }
    this.host.runEnded(run, outcome, err);
    this.release(run, wasStarted);
  }

  timedOut(run: ActiveRun<M>): void {
    run.timer = undefined;
    if (run.state === 'running') this.abortRun(run, 'timeout');
  }

  graceExpired(run: ActiveRun<M>): void {
    run.graceTimer = undefined;
    if (run.state !== 'aborting') return;
    run.state = 'done';
    this.host.runLeaked(run);
    this.release(run, true);
  }

  // ── internals ───────────────────────────────────────────────────────────────────────────────────────

  private newTurn(kind: TurnKind): PendingTurn<M> {
    const turn = new PendingTurn<M>(kind);
    this.pending.push(turn);
    return turn;
  }

  private append(turn: PendingTurn<M>, message: M, now: number, debounce: boolean): void {
    turn.messages.push(message);
    this.pendingMessages += 1;
    turn.lastSender = message.senderId;
    turn.lastArrival = now;
    const ms = this.settings.debounceMs;
    if (debounce && ms > 0) {
      if (turn.timer !== undefined) clearTimeout(turn.timer);
      turn.timer = setTimeout(() => {
        turn.timer = undefined;
        this.pump();
      }, ms);
    }
  }

  /** Debounce merges same-sender messages within the window into the newest turn that has not launched. */
  private canDebounce(turn: PendingTurn<M>, message: M, now: number): boolean {
    const ms = this.settings.debounceMs;
    return ms > 0 && turn.lastSender === message.senderId && now - turn.lastArrival <= ms;
  }

  /** Applies the drop policy when `cap` messages are pending. False = the incoming message was rejected. */
  private makeRoom(incoming: M): boolean {
    if (this.pendingMessages < this.settings.cap) return true;
    if (this.settings.drop === 'new') {
      this.host.outcome(incoming, 'dropped', { reason: 'cap' });
      return false;
    }
    while (this.pendingMessages >= this.settings.cap) {
      const head = this.pending.peek();
      if (head === undefined) break;
      const victim = head.messages.shift()!;
      this.pendingMessages -= 1;
      if (head.messages.length === 0) {
        this.pending.shift();
        if (head.timer !== undefined) clearTimeout(head.timer);
      }
      if (this.settings.drop === 'summarize') {
        const summary = this.host.summarize(victim);
        (this.droppedSummaries ??= []).push(summary);
        this.host.outcome(victim, 'dropped', { reason: 'cap', summary });
      } else {
        this.host.outcome(victim, 'dropped', { reason: 'cap' });
      }
    }
    return true;
  }

  /** Interrupt mode: a new message supersedes every active run and every pending message. */
  private supersedeAll(): void {
    for (const run of [...this.active]) this.abortRun(run, 'interrupt');
    for (const turn of this.pending.drain()) this.cancelTurn(turn, 'superseded', 'interrupt');
  }

  private cancelTurn(turn: PendingTurn<M>, outcome: Outcome, reason: OutcomeReason): string[] {
    if (turn.timer !== undefined) clearTimeout(turn.timer);
    this.pendingMessages -= turn.messages.length;
    const ids: string[] = [];
    for (const m of turn.messages) {
      ids.push(m.id);
      this.host.outcome(m, outcome, { reason });
    }
    return ids;
  }

  /** Launches ready turns from the head while the session has room. Safe to re-enter. */
  private pump(): void {
    if (this.pumping || this.host.draining) return;
    this.pumping = true;
    try {
      for (;;) {
        const head = this.pending.peek();
        if (head === undefined || head.timer !== undefined) break;
        if (this.active.length >= this.effectiveMaxConcurrent()) break;
        this.pending.shift();
        this.launch(head);
      }
    } finally {
      this.pumping = false;
    }
  }

  private launch(turn: PendingTurn<M>): void {
    this.pendingMessages -= turn.messages.length;
    const summaries = this.droppedSummaries ?? EMPTY;
    this.droppedSummaries = undefined;
    const run = new ActiveRun<M>(
      this,
      this.key,
      turn.messages,
      turn.kind,
      turn.attempt,
      summaries,
      this.host.generation,
      this.settings.model,
    );
    if (!turn.mergedReported && turn.messages.length > 1) {
      const ownerId = turn.messages[0]!.id;
      for (let i = 1; i < turn.messages.length; i++) {
        this.host.outcome(turn.messages[i]!, 'merged', { ownerId, runId: run.id });
      }
    }
    this.active.push(run);
    run.lane = this.lane;
    this.lane.enqueue(run);
  }

  /**
   * Aborts a run for `cause`. A waiting run leaves the lane at once; a running one is signalled and keeps its
   * slot until it settles or its grace period ends. The owner's outcome is reported now (the user hears
   * "stopped" at once), except for drain and reset, which keep the work. Returns false if already aborting.
   */
  private abortRun(run: ActiveRun<M>, cause: AbortCause): boolean {
    if (run.state !== 'waiting' && run.state !== 'running') return false;
    const reason = cause === 'timeout' ? new RunTimeoutError(run.id, this.settings.runTimeoutMs) : new RunAbortedError(cause, run.id);
    run.abort(reason);
    this.reportAbort(run, cause, reason);
    if (run.state === 'waiting') {
      run.lane?.cancel(run);
      run.state = 'done';
      this.host.runEnded(run, undefined, undefined);
      this.release(run, false);
    } else {
      run.state = 'aborting';
      run.armGrace(this.settings.abortGraceMs);
    }
    return true;
  }

  private reportAbort(run: ActiveRun<M>, cause: AbortCause, reason: Error): void {
    if (run.outcomeSettled) return;
    run.outcomeSettled = true;
    const owner = run.messages[0]!;
    switch (cause) {
      case 'stop':
      case 'stopall':
        this.host.outcome(owner, 'cancelled', { runId: run.id, reason: cause });
        break;
      case 'interrupt':
        this.host.outcome(owner, 'superseded', { runId: run.id, reason: 'interrupt' });
        break;
      case 'timeout':
        this.host.outcome(owner, 'failed', { runId: run.id, reason: 'timeout', error: reason });
        break;
      case 'drain':
      case 'reset':
        break; // kept: re-run later, no outcome now
    }
  }

  private release(run: ActiveRun<M>, laneSlot: boolean): void {
    const i = this.active.indexOf(run);
    if (i >= 0) this.active.splice(i, 1);
    if (laneSlot) run.lane?.release();
    this.pump();
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.active.length === 0 && this.pending.length === 0) this.host.idle(this);
  }
}

const EMPTY: readonly string[] = Object.freeze([]);
