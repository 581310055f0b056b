/**
 * Errors the scheduler raises. Each is one failure site with a catalog code (see src/errors/catalog.ts).
 */
import { SwitchyardError } from '../errors/index.js';

/** Why a run was aborted. `drain` and `reset` aborts carry no outcome: the work is kept for later. */
export type AbortCause = 'stop' | 'stopall' | 'interrupt' | 'timeout' | 'drain' | 'reset';

/** The scheduler is draining (shutdown): new work is refused. */
export class DrainingError extends SwitchyardError {
  constructor() {
    super('E_DRAINING');
  }
}

/** The abort reason a run's signal carries for stop, stopall, interrupt, drain and reset. */
export class RunAbortedError extends SwitchyardError {
  /** What aborted the run. */
  readonly abortCause: AbortCause;
  constructor(abortCause: AbortCause, runId: string) {
    super('E_RUN_ABORTED', `Run ${runId} was aborted (${abortCause})`, { context: { runId, abortCause } });
    this.abortCause = abortCause;
  }
}

/** The abort reason of a run that exceeded its timeout; also the `error` of its `failed` outcome. */
export class RunTimeoutError extends SwitchyardError {
  readonly abortCause: AbortCause = 'timeout';
  constructor(runId: string, timeoutMs: number) {
    super('E_RUN_TIMEOUT', `Run ${runId} exceeded its timeout of ${timeoutMs} ms and was aborted`, {
      context: { runId, timeoutMs },
    });
  }
}

/** A run threw or rejected: the `error` of its `failed` outcome wraps what it threw. */
export class RunFailedError extends SwitchyardError {
  constructor(runId: string, cause: unknown) {
    super('E_RUN_FAILED', `Run ${runId} failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
      context: { runId },
    });
  }
}

/** A session named a lane the scheduler does not have. */
export class UnknownLaneError extends SwitchyardError {
  constructor(lane: string, known: readonly string[]) {
    super('E_UNKNOWN_LANE', `No lane named ${JSON.stringify(lane)} (lanes: ${known.join(', ')})`, {
      context: { lane, known },
    });
  }
}
