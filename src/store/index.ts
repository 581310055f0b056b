/** Public surface of `src/store`: the durable `Store` contract and its implementations. */
export {
  RUN_STATES,
  type Store,
  type AcceptResult,
  type RunState,
  type RunRecord,
  type RunTransition,
  type RunTransitionListener,
  type StoredOutcome,
  type HistoryRole,
  type HistoryEntry,
  type NewHistoryEntry,
  type Pin,
  type PairingRequest,
  type RecoveryPlan,
  type RecentChat,
} from './store.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { runIdOf, ownerOfRunId, isTerminalRunState, TERMINAL_RUN_STATES } from './run-id.js';
export { StoreOpenError, StoreNotDatabaseError, StoreSchemaTooNewError, StoreWriteError, StoreClosedError, BackupError } from './errors.js';
export { backupFileName, listBackups, newestBackupTime } from './backup-files.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
export type { Durability } from './sqlite/open.js';
export { SCHEMA_VERSION } from './sqlite/schema.js';
export { Maintenance, type MaintenanceOptions, type MaintenanceTickResult, type BackupSchedule } from './maintenance.js';
export { RunStateWebhook, type RunStateEvent, type RunStateWebhookOptions, type RunStateWebhookStats } from './webhooks.js';
