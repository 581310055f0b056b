/**
 * Run ids and run-state facts shared by every `Store` implementation. The scheduler names an attempt at a
 * turn `<owner message id>#<attempt>`; the store relies on that convention to link a delivery to the owner
 * message even when the run record itself was never saved (a crash between the send and the save).
 */
import type { RunState } from './store.js';
import type { Outcome } from '../scheduler/index.js';

/** The id of attempt `attempt` at the turn owned by `ownerMessageId`, as the scheduler names it. */
export function runIdOf(ownerMessageId: string, attempt: number): string {
  return `${ownerMessageId}#${attempt}`;
}

const ATTEMPT_SUFFIX = /#\d+$/;

/** The owner message id of a run id (`a:b:c#2` → `a:b:c`); a run id without the suffix is its own owner. */
export function ownerOfRunId(runId: string): string {
  return runId.replace(ATTEMPT_SUFFIX, '');
}

/** States a run never leaves. */
export const TERMINAL_RUN_STATES: ReadonlySet<RunState> = new Set<RunState>(['answered', 'failed', 'cancelled', 'superseded']);

/** True when a run in `state` is finished (saveRun ignores later transitions). */
export function isTerminalRunState(state: RunState): boolean {
  return TERMINAL_RUN_STATES.has(state);
}

/** The outcome of a run's owner message when the run ended in `state` (terminal states only). */
export function ownerOutcomeOf(state: RunState): Outcome {
  switch (state) {
    case 'answered':
    case 'failed':
    case 'cancelled':
    case 'superseded':
      return state;
    default:
      // A run that never finished answered nothing: recovery treats it as cancelled if it must decide.
      return 'cancelled';
  }
}

/** The terminal run state matching an owner's recorded outcome (`merged`, `dropped`, `stale` → cancelled). */
export function runStateOfOutcome(outcome: Outcome): RunState {
  switch (outcome) {
    case 'answered':
    case 'failed':
    case 'cancelled':
    case 'superseded':
      return outcome;
    default:
      return 'cancelled';
  }
}
