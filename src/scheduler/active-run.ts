/**
 * One attempt at a turn, from launch (a session slot is taken and the run waits for its lane) to release.
 * Internal to the scheduler: runners see it only as `Turn` and `RunContext`.
 *
 * States: `waiting` (in the lane) → `running` (lane slot held, runner called) → `aborting` (signal fired,
 * waiting for the runner to unwind) → `done`. A waiting run that is cancelled goes straight to `done`.
 * Invariant: `done` is entered exactly once, and only there are the session and lane slots given back.
 */
import { LeanAbortController } from '../signals/lean-abort.js';
import type { Lane, LaneEntry } from './lane.js';
import type { RunContext, Turn, TurnKind } from './turn.js';
import type { SchedulableMessage } from './types.js';

/** State of a run. */
export type RunState = 'waiting' | 'running' | 'aborting' | 'done';

/** What a run reports to its session. Internal. */
export interface RunOwner<M extends SchedulableMessage> {
  /** Called once when the runner settles or the grace period ends: give the slots back. */
  settled(run: ActiveRun<M>, error: unknown, failed: boolean): void;
  /** The timeout fired. */
  timedOut(run: ActiveRun<M>): void;
  /** The grace period after an abort ended and the runner still had not settled. */
  graceExpired(run: ActiveRun<M>): void;
  /** The lane granted a slot: call the runner. */
  begin(run: ActiveRun<M>): void;
}

/** One attempt at a turn. Doubles as the `Turn` and `RunContext` given to the runner (one object, no copies). */
export class ActiveRun<M extends SchedulableMessage> implements Turn<M>, RunContext, LaneEntry {
  readonly id: string;
  readonly key: string;
  enqueuedAt = 0;
  /** The lane the run was enqueued on (a reset may move the session to another lane meanwhile). */
  lane: Lane | undefined = undefined;
  state: RunState = 'waiting';
  startedAt = 0;
  /** Set once the owner message's outcome has been reported (or deliberately withheld: drain, reset). */
  outcomeSettled = false;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  graceTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  private controller: LeanAbortController | undefined = undefined;
  private abortReason: unknown = undefined;

  constructor(
    private readonly owner: RunOwner<M>,
    readonly sessionKey: string,
    readonly messages: readonly M[],
    readonly kind: TurnKind,
    readonly attempt: number,
    readonly droppedSummaries: readonly string[],
    /** Scheduler generation at launch: a run from an older generation never completes into newer state. */
    readonly generation: number,
    readonly model: string | undefined,
  ) {
    this.id = `${messages[0]!.id}#${attempt}`;
    this.key = sessionKey;
  }

  /** The abort signal, created on first read (see RunContext). */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new LeanAbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** True once an abort was requested. */
  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  /** The reason the run was aborted with, if it was. */
  get reason(): unknown {
    return this.abortReason;
  }

  /** Fires the signal (or arms it, if nobody read it yet). Idempotent. */
  abort(reason: unknown): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }

  /** Lane entry point: a slot was granted. */
  start(): void {
    this.owner.begin(this);
  }

  /** Calls the runner, turning a synchronous throw and any settlement into one `settled` call. */
  invoke(runner: (turn: Turn<M>, ctx: RunContext) => unknown): void {
    let result: unknown;
    try {
      result = runner(this, this);
    } catch (err) {
      result = Promise.reject(err);
    }
    Promise.resolve(result).then(
      () => this.owner.settled(this, undefined, false),
      (err: unknown) => this.owner.settled(this, err, true),
    );
  }

  /** Arms the run timeout. */
  armTimeout(timeoutMs: number): void {
    if (timeoutMs > 0) this.timer = setTimeout(() => this.owner.timedOut(this), timeoutMs);
  }

  /** Arms the grace period after an abort. */
  armGrace(graceMs: number): void {
    this.graceTimer = setTimeout(() => this.owner.graceExpired(this), graceMs);
  }

  clearTimers(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.timer = undefined;
    this.graceTimer = undefined;
  }
}
