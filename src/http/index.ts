/**
 * Public surface of `src/http`: the HTTP server factory, the admin backend contract and its scheduler + store
 * implementation, and the loopback rule.
 */
export {
  createHttpServer,
  CHAT_SOCKET_PATH,
  READINESS_STATES,
  type HttpServer,
  type HttpServerOptions,
  type ReadinessState,
  type UpgradeTarget,
} from './server.js';
export type { AdminBackend, AdminSessionDetail } from './admin-backend.js';
export { SchedulerAdminBackend, type AdminStore, type SchedulerAdminBackendOptions } from './scheduler-admin-backend.js';
export { isLoopbackHost, isLoopbackHostHeader } from './bind.js';
export { HttpUnsafeBindError, UnauthorizedError, NotFoundError, BadRequestError } from './errors.js';
