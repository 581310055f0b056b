/**
 * Turns and runs: what a session hands to its runner. A turn is one or more messages answered together (the
 * first owns it); a run is one attempt at a turn, holding a session slot and, once started, a lane slot.
 */
import type { SchedulableMessage } from './types.js';

/** Why a turn carries several messages. */
export type TurnKind = 'message' | 'followup';

/** What the runner answers. Immutable for the runner. */
export interface Turn<M extends SchedulableMessage = SchedulableMessage> {
  /** `<owner message id>#<attempt>`: unique per attempt, stable across a crash and recovery. */
  readonly id: string;
  readonly sessionKey: string;
  /** Owner first, then merged messages in arrival order. */
  readonly messages: readonly M[];
  /** `followup`: collected while the session was busy; list each message with its sender. */
  readonly kind: TurnKind;
  /** 1 for the first attempt; recovery and reset re-run a turn with attempt + 1. */
  readonly attempt: number;
  /** One line per message dropped by the `summarize` policy since the last turn, to prepend to the prompt. */
  readonly droppedSummaries: readonly string[];
}

/** What a running turn gets besides the turn itself. */
export interface RunContext {
  /**
   * Fires on /stop, /stopall, interrupt, drain, reset and the run's timeout. Materialized on first read, so
   * runs that never look at it cost nothing (a signal costs ~2 µs; see REFERENCE.md).
   */
  readonly signal: AbortSignal;
}

/**
 * Answers a turn. Resolve = `answered`; throw or reject (with anything, Error or not) = `failed`. Must honour
 * `ctx.signal`: after it fires, send nothing more to the chat and settle soon (within `abortGraceMs`).
 */
export type TurnRunner<M extends SchedulableMessage = SchedulableMessage> = (
  turn: Turn<M>,
  ctx: RunContext,
) => unknown;
