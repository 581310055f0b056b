/**
 * Bearer-token check for the admin API and dashboard feed. The comparison is constant-time (both sides hashed
 * to equal-length digests, then `timingSafeEqual`), so response timing leaks neither the token nor its length.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopbackHostHeader } from './bind.js';
import { UnauthorizedError } from './errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Decides whether a request may use protected routes. Built once per server. */
export class AdminAuth {
  private readonly expected: Buffer | undefined;

  /** `token` empty or undefined means "no token": only loopback requests under a loopback Host are allowed. */
  constructor(token: string | undefined) {
    this.expected = token !== undefined && token !== '' ? digest(token) : undefined;
  }

  /** True when a token is configured. */
  get enabled(): boolean {
    return this.expected !== undefined;
  }

  /**
   * Throws `UnauthorizedError` unless the request may proceed. With a token: `Authorization: Bearer <token>`
   * must match. Without one (the server is loopback-only then): the `Host` header must be a loopback name, which
   * stops a foreign web page from reaching the API through DNS rebinding, and an `Origin` header, when
   * present, must be the server itself.
   */
  check(headers: { authorization?: string | undefined; host?: string | undefined; origin?: string | undefined }): void {
    if (this.expected === undefined) {
      if (!isLoopbackHostHeader(headers.host)) throw new UnauthorizedError('Without an admin token, the admin API answers only loopback hosts');
      // A page on another site can send simple (no-preflight) requests to a loopback server; browsers mark
      // them with Origin. Without a token, only same-origin pages (the dashboard) and non-browser clients pass.
      if (!isSameOrigin(headers.origin, headers.host)) throw new UnauthorizedError('Cross-origin requests need the admin token');
      return;
    }
    const header = headers.authorization;
    if (header === undefined || header === '') throw new UnauthorizedError('Missing Authorization header');
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (m === null) throw new UnauthorizedError('The Authorization header is not a Bearer token');
    if (!timingSafeEqual(digest(m[1]!), this.expected)) throw new UnauthorizedError('Wrong bearer token');
  }
}

/**
 * True when a browser `Origin` is absent (not a browser, or a same-origin GET) or names the same host and port as
 * the `Host` header. Used for the token-less admin API and for webchat WebSocket upgrades.
 */
export function isSameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined || origin === '') return true;
  if (host === undefined || origin === 'null') return false;
  try {
    return new URL(origin).host.toLowerCase() === host.trim().toLowerCase();
  } catch {
    return false;
  }
}
