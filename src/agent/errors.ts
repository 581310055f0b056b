/**
 * Errors the agent runtime raises, one class per failure site: the model server said no (`ProviderHttpError`),
 * the transport failed (`ProviderConnectionError`, `ProviderTimeoutError`), the conversation no longer fits
 * (`ContextOverflowError`), a background job failed or is over quota. Every one is a `SwitchyardError` with a
 * catalog code; messages say what happened and what the user or operator can do.
 */
import { SwitchyardError, type ErrorCode, type SwitchyardErrorOptions } from '../errors/index.js';

/** Codes a provider failure can carry. */
export type ProviderErrorCode = Extract<
  ErrorCode,
  | 'E_PROVIDER_CONNECTION'
  | 'E_PROVIDER_HTTP'
  | 'E_PROVIDER_AUTH'
  | 'E_PROVIDER_RATE_LIMITED'
  | 'E_PROVIDER_TIMEOUT'
  | 'E_PROVIDER_BAD_RESPONSE'
  | 'E_CONTEXT_OVERFLOW'
>;

/** Base of every failure talking to the model server. `status` is the HTTP status when there was one. */
export class ProviderError extends SwitchyardError {
  declare readonly code: ProviderErrorCode;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** Attempts made before giving up (set by the retry loop). */
  attempts = 1;

  constructor(code: ProviderErrorCode, message: string, options: SwitchyardErrorOptions & { status?: number | undefined } = {}) {
    super(code, message, options);
    this.status = options.status;
  }
}

/** The model server could not be reached, or the connection broke (reset, refused, ended mid-stream). */
export class ProviderConnectionError extends ProviderError {
  constructor(detail: string, options: SwitchyardErrorOptions = {}) {
    super('E_PROVIDER_CONNECTION', `The model server could not be reached (${detail}). Try again in a moment; if it persists, check that the model server is running.`, options);
  }
}

/** No response byte within the request timeout (first byte, or between stream chunks). */
export class ProviderTimeoutError extends ProviderError {
  constructor(timeoutMs: number, options: SwitchyardErrorOptions = {}) {
    super('E_PROVIDER_TIMEOUT', `The model server sent nothing for ${timeoutMs} ms and the request was abandoned. Try again; if it persists, the model may be overloaded.`, {
      ...options,
      context: { timeoutMs, ...options.context },
    });
  }
}

/** The model server answered with an HTTP error (other than auth, rate limit and overflow). */
export class ProviderHttpError extends ProviderError {
  constructor(status: number, detail: string, options: SwitchyardErrorOptions = {}) {
    const what = status >= 500 ? 'The model server failed' : 'The model server rejected the request';
    super('E_PROVIDER_HTTP', `${what} (HTTP ${status}: ${detail}).${status >= 500 ? ' Try again in a moment.' : ''}`, {
      ...options,
      status,
      context: { status, ...options.context },
    });
  }
}

/** 401 / 403: the API key is wrong or lacks access. Never retried. */
export class ProviderAuthError extends ProviderError {
  constructor(status: number, options: SwitchyardErrorOptions = {}) {
    super('E_PROVIDER_AUTH', `The model server rejected the API key (HTTP ${status}). The operator must fix the agent's provider.apiKey.`, {
      ...options,
      status,
      context: { status, ...options.context },
    });
  }
}

/** 429 until attempts ran out, or a Retry-After longer than the turn may wait. */
export class ProviderRateLimitError extends ProviderError {
  /** What the server asked us to wait, when it said (ms). */
  readonly retryAfterMs: number | undefined;
  constructor(retryAfterMs: number | undefined, options: SwitchyardErrorOptions = {}) {
    const wait = retryAfterMs === undefined ? 'a while' : `${Math.ceil(retryAfterMs / 1000)} s`;
    super('E_PROVIDER_RATE_LIMITED', `The model server is rate limiting requests (HTTP 429). Try again in ${wait}.`, {
      ...options,
      status: 429,
      context: { retryAfterMs, ...options.context },
    });
    this.retryAfterMs = retryAfterMs;
  }
}

/** The server answered 200 with something that is not Chat Completions. */
export class ProviderBadResponseError extends ProviderError {
  constructor(detail: string, options: SwitchyardErrorOptions = {}) {
    super('E_PROVIDER_BAD_RESPONSE', `The model server sent a response that is not valid Chat Completions (${detail}).`, options);
  }
}

/** The prompt does not fit the model's context window (HTTP 400 `context_length_exceeded` or equivalent). */
export class ContextOverflowError extends ProviderError {
  /** `advice` replaces the default "what to do" sentence. */
  constructor(detail: string, options: SwitchyardErrorOptions & { advice?: string } = {}) {
    const advice = options.advice ?? 'Older turns are being summarized; send the message again.';
    super('E_CONTEXT_OVERFLOW', `The conversation no longer fits the model's context window (${detail}). ${advice}`, { ...options, status: 400 });
  }
}

/** A compaction job failed (model error, timeout, abort). Logged; never fails a turn unless the turn needed it. */
export class CompactionError extends SwitchyardError {
  constructor(sessionKey: string, detail: string, options: SwitchyardErrorOptions = {}) {
    super('E_COMPACTION_FAILED', `Compaction of session ${sessionKey} failed: ${detail}`, {
      ...options,
      context: { sessionKey, ...options.context },
    });
  }
}

/** A background job was refused by its per-session quota (cooldown, one at a time, attempts used up). */
export class QuotaExceededError extends SwitchyardError {
  constructor(sessionKey: string, reason: 'busy' | 'cooldown' | 'attempts', options: SwitchyardErrorOptions = {}) {
    super('E_QUOTA_EXCEEDED', `Background job for session ${sessionKey} refused by its quota (${reason})`, {
      ...options,
      context: { sessionKey, reason, ...options.context },
    });
  }
}
