/** Public surface of `src/store`: the durable `Store` contract and its implementations. */
export {
  RUN_STATES,
  type Store,
  type AcceptResult,
  type RunState,
  type RunRecord,
  type StoredOutcome,
  type HistoryRole,
  type HistoryEntry,
  type NewHistoryEntry,
  type Pin,
  type PairingRequest,
  type RecoveryPlan,
} from './store.js';
