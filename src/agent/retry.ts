/**
 * Retry policy for model requests, as pure functions of the error (grammY `withRetries`, BullMQ attempts +
 * backoff): connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff and jitter;
 * a 429's `Retry-After` / `retry-after-ms` is honoured; every other status fails at once.
 */
import type { APIError } from 'openai';
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
import { loadedOpenAISdk, type OpenAISdkModule } from './openai-sdk.js';

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

/** Parses `retry-after-ms`, then `Retry-After` (seconds or an HTTP date). Undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers | undefined, now: number = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const v = Number(ms);
    if (Number.isFinite(v) && v >= 0) return v;
  }
  const ra = headers.get('retry-after');
  if (ra === null || ra.trim() === '') return undefined;
  const secs = Number(ra);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function detailOf(err: APIError): string {
  const body = err.error as { message?: unknown } | undefined;
  const msg = typeof body?.message === 'string' ? body.message : err.message;
  return msg.length > 300 ? `${msg.slice(0, 300)}…` : msg;
}

/** True when an API error says the prompt is over the context window. */
export function isContextOverflow(err: APIError): boolean {
  if (err.status !== 400 && err.status !== 413 && err.status !== 422) return false;
  const code = typeof err.code === 'string' ? err.code : undefined;
  if (code !== undefined && OVERFLOW_CODES.has(code)) return true;
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
  // The SDK is imported lazily (see openai-sdk.ts): if it is not loaded, `err` cannot be one of its errors.
  const sdk = loadedOpenAISdk();
  if (sdk !== undefined) {
    const verdict = classifySdkError(err, sdk, timeoutMs, now);
    if (verdict !== undefined) return verdict;
  }
  if (err instanceof SyntaxError) return { error: new ProviderBadResponseError(err.message, { cause: err }), retryable: false };
  // A body stream that broke mid-read ("terminated", ECONNRESET) surfaces as a plain TypeError / Error.
  const message = err instanceof Error ? err.message : String(err);
  return { error: new ProviderConnectionError(message, { cause: err }), retryable: true };
}

/** The verdict for an error of the SDK's own classes, or undefined when `err` is none of them. */
function classifySdkError(err: unknown, sdk: OpenAISdkModule, timeoutMs: number, now: number): ErrorVerdict | undefined {
  if (err instanceof sdk.APIConnectionTimeoutError) return { error: new ProviderTimeoutError(timeoutMs, { cause: err }), retryable: true };
  if (err instanceof sdk.APIConnectionError) {
    const cause = (err.cause as { cause?: { code?: string }; code?: string } | undefined) ?? undefined;
    const code = cause?.cause?.code ?? cause?.code;
    return { error: new ProviderConnectionError(code ?? err.message, { cause: err }), retryable: true };
  }
  if (err instanceof sdk.APIError && typeof err.status === 'number') {
    const status = err.status;
    const headers = err.headers as Headers | undefined;
    if (status === 401 || status === 403) return { error: new ProviderAuthError(status, { cause: err }), retryable: false };
    if (status === 429) {
      const after = retryAfterMs(headers, now);
      return { error: new ProviderRateLimitError(after, { cause: err }), retryable: true, retryAfterMs: after };
    }
    if (isContextOverflow(err)) return { error: new ContextOverflowError(detailOf(err), { cause: err }), retryable: false };
    const retryable = status === 408 || status >= 500;
    return { error: new ProviderHttpError(status, detailOf(err), { cause: err }), retryable, retryAfterMs: retryable ? retryAfterMs(headers, now) : undefined };
  }
  if (err instanceof sdk.APIError) {
    // An `error` event inside an SSE stream: the server failed mid-answer.
    return { error: new ProviderHttpError(500, detailOf(err), { cause: err }), retryable: true };
  }
  return undefined;
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
