/**
 * Public surface of `src/scheduler`: sessions, lanes and the scheduler that owns them. Knows nothing of any
 * platform. (Work in progress: the implementation lands with issue 2.)
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
