/**
 * Retry policy for model requests, as pure functions of the error (grammY `withRetries`, BullMQ attempts +
 * backoff): connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff and jitter;
 * a 429's `Retry-After` / `retry-after-ms` is honoured; every other status fails at once.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { ChatApiError } from './chat-http.js';
import {
  ContextOverflowError,
  ProviderAuthError,
  ProviderBadResponseError,
  ProviderConnectionError,
  ProviderError,
  ProviderHttpError,
  ProviderRateLimitError,
  ProviderTimeoutError,
} from './errors.js';

/** Backoff settings, fully defaulted by `resolveRetryPolicy`. */
export interface RetryPolicy {
  /** Most attempts per request, >= 1. Default 3. */
  readonly maxAttempts: number;
  /** First backoff (ms); doubles per attempt. Default 500. */
  readonly baseDelayMs: number;
  /** Backoff ceiling (ms). Default 8000. */
  readonly maxDelayMs: number;
  /** A Retry-After longer than this fails the request at once instead of holding the turn. Default 30000. */
  readonly maxRetryAfterMs: number;
}

/** Defaults of `RetryPolicy`. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 8_000, maxRetryAfterMs: 30_000 });

/** What the retry loop should do with an error. */
export interface ErrorVerdict {
  /** The typed error to throw if not retrying. */
  error: ProviderError;
  retryable: boolean;
  /** Server-requested wait (ms), from Retry-After headers. */
  retryAfterMs?: number | undefined;
}

const OVERFLOW_CODES = new Set(['context_length_exceeded', 'context_window_exceeded', 'string_above_max_length']);
const OVERFLOW_TEXT = /context length|context window|maximum context|too many tokens|prompt is too long|exceeds the context/i;

/** Response headers as either a WHATWG `Headers` or node:http's header record. */
export type HeaderSource = Headers | IncomingHttpHeaders;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const v = (headers as IncomingHttpHeaders)[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Parses `retry-after-ms`, then `Retry-After` (seconds or an HTTP date). Undefined when absent or unreadable. */
export function retryAfterMs(headers: HeaderSource | undefined, now: number = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && ms.trim() !== '') {
    const v = Number(ms);
    if (Number.isFinite(v) && v >= 0) return v;
  }
  const ra = header(headers, 'retry-after');
  if (ra === undefined || ra.trim() === '') return undefined;
  const secs = Number(ra);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function detailOf(err: ChatApiError): string {
  const msg = err.detail;
  return msg.length > 300 ? `${msg.slice(0, 300)}…` : msg;
}

/** True when the server's error says the prompt is over the context window (400/413/422 by code or text). */
export function isContextOverflow(err: ChatApiError): boolean {
  if (err.status !== 400 && err.status !== 413 && err.status !== 422) return false;
  if (err.code !== undefined && OVERFLOW_CODES.has(err.code)) return true;
  return OVERFLOW_TEXT.test(detailOf(err));
}

/**
 * Maps anything a request threw to a typed error and a retry verdict. `timeoutMs` names the timeout when our
 * own idle timer fired. Pure: no I/O, no clock other than `now` for HTTP-date Retry-After.
 */
export function classifyError(err: unknown, timeoutMs: number, now: number = Date.now()): ErrorVerdict {
  if (err instanceof ProviderError) {
    const retryable = err.code === 'E_PROVIDER_CONNECTION' || err.code === 'E_PROVIDER_TIMEOUT';
    return { error: err, retryable };
  }
  if (err instanceof ChatApiError) return classifyApiError(err, now);
  if (err instanceof SyntaxError) return { error: new ProviderBadResponseError(err.message, { cause: err }), retryable: false };
  if (isTimeout(err)) return { error: new ProviderTimeoutError(timeoutMs, { cause: err }), retryable: true };
  // Anything else from the transport (a socket error with its errno code, a stream that broke mid-read).
  const code = (err as { code?: unknown } | null)?.code;
  const message = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  return { error: new ProviderConnectionError(message, { cause: err }), retryable: true };
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || (err as { code?: unknown }).code === 'ETIMEDOUT');
}

/** The verdict for the server's own error: by HTTP status, or a failure inside a stream (retryable as a 500). */
function classifyApiError(err: ChatApiError, now: number): ErrorVerdict {
  const status = err.status;
  // An `error` event inside an SSE stream: the server failed mid-answer.
  if (status === undefined) return { error: new ProviderHttpError(500, detailOf(err), { cause: err }), retryable: true };
  if (status === 401 || status === 403) return { error: new ProviderAuthError(status, { cause: err }), retryable: false };
  if (status === 429) {
    const after = retryAfterMs(err.headers, now);
    return { error: new ProviderRateLimitError(after, { cause: err }), retryable: true, retryAfterMs: after };
  }
  if (isContextOverflow(err)) return { error: new ContextOverflowError(detailOf(err), { cause: err }), retryable: false };
  const retryable = status === 408 || status >= 500;
  return { error: new ProviderHttpError(status, detailOf(err), { cause: err }), retryable, retryAfterMs: retryable ? retryAfterMs(err.headers, now) : undefined };
}

/**
 * The wait before attempt `attempt + 1` (attempt is 1-based), or undefined to give up now. Equal jitter:
 * half the exponential step plus a random half, so concurrent clients spread out but never retry at once.
 * A server-requested wait is honoured as is (plus up to 10 % jitter), unless it exceeds `maxRetryAfterMs`.
 */
export function retryDelay(verdict: ErrorVerdict, attempt: number, policy: RetryPolicy, random: () => number = Math.random): number | undefined {
  if (!verdict.retryable || attempt >= policy.maxAttempts) return undefined;
  if (verdict.retryAfterMs !== undefined) {
    if (verdict.retryAfterMs > policy.maxRetryAfterMs) return undefined;
    return Math.round(verdict.retryAfterMs * (1 + 0.1 * random()));
  }
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(step / 2 + (step / 2) * random());
}
