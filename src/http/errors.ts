/**
 * Errors the HTTP layer raises, one class per failure site, each with its catalog code and HTTP status. The
 * server's error handler turns any `SwitchyardError` into `{ code, message, hint }` with the status below.
 */
import { SwitchyardError, type ErrorCode } from '../errors/index.js';

/** HTTP status for a catalog code; anything not listed is a 500 (unknown) or 400 (known user mistakes). */
export function statusOf(code: ErrorCode): number {
  switch (code) {
    case 'E_UNAUTHORIZED':
      return 401;
    case 'E_NOT_FOUND':
    case 'E_PAIRING_INVALID':
      return 404;
    case 'E_HTTP_BAD_REQUEST':
    case 'E_INVALID_OPTION':
    case 'E_UNKNOWN_LANE':
    case 'E_WEBCHAT_PROTOCOL':
      return 400;
    case 'E_ACCESS_DENIED':
      return 403;
    case 'E_DRAINING':
      return 503;
    default:
      return 500;
  }
}

/** `createHttpServer` was asked to listen beyond loopback with no admin token: the admin API would be open. */
export class HttpUnsafeBindError extends SwitchyardError {
  constructor(host: string) {
    super(
      'E_HTTP_UNSAFE_BIND',
      `Refusing to listen on ${host} without an admin token: the admin API and dashboard would be reachable by anyone on the network. Set http.adminToken or bind to 127.0.0.1.`,
      { context: { host } },
    );
  }
}

/** A request to a protected route had no bearer token, or the wrong one. The token is never echoed. */
export class UnauthorizedError extends SwitchyardError {
  constructor(why: string) {
    super('E_UNAUTHORIZED', `${why}. Send Authorization: Bearer <http.adminToken>.`);
  }
}

/** A request named something that does not exist (session, pin, route). */
export class NotFoundError extends SwitchyardError {
  constructor(what: string) {
    super('E_NOT_FOUND', `${what} was not found`);
  }
}

/** A request body or parameter failed validation. `issues` lists each problem with its path. */
export class BadRequestError extends SwitchyardError {
  constructor(message: string, issues: string[] = []) {
    super('E_HTTP_BAD_REQUEST', issues.length > 0 ? `${message}: ${issues.join('; ')}` : message, { context: { issues } });
  }
}
