/**
 * Public surface of `src/scheduler`: sessions, lanes and the scheduler that owns them. Knows nothing of any
 * platform or storage.
 */
export {
  OUTCOMES,
  type Outcome,
  type OutcomeReason,
  type OutcomeRecord,
  type SchedulableMessage,
  type StaleCutoff,
  type StaleCutoffStore,
} from './types.js';
export type { Turn, TurnKind, TurnRunner, RunContext } from './turn.js';
export {
  QUEUE_MODES,
  DROP_POLICIES,
  DEFAULT_SESSION_SETTINGS,
  resolveSessionSettings,
  type QueueMode,
  type DropPolicy,
  type SessionSettings,
} from './settings.js';
export {
  Lane,
  LANE_POLICIES,
  JobTimeoutError,
  type LaneOptions,
  type LaneStats,
  type LaneWaitWarning,
  type LaneEntry,
  type ScheduleOptions,
} from './lane.js';
export { FairPolicy, FifoPolicy, type LanePolicy, type LaneTask } from './lane-policy.js';
export { DrainingError, RunAbortedError, RunTimeoutError, RunFailedError, UnknownLaneError, type AbortCause } from './errors.js';
export type { AdmissionStatus, SessionSnapshot, StopResult, StopAllResult } from './session-queue.js';
export { isStale, compareDecimal } from './stale-cutoff.js';
export {
  Scheduler,
  MemoryCutoffStore,
  DEFAULT_LANES,
  type SchedulerOptions,
  type SchedulerEvents,
  type RunEndEvent,
  type SubmitResult,
  type OutcomeCallback,
  type DrainResult,
  type SchedulerSnapshot,
} from './scheduler.js';
