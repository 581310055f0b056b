/**
 * How the Telegram adapter talks to the Bot API: grammY's client plus two retry layers, each a pure function of
 * the error (the grammY / BullMQ habit).
 *
 * - `@grammyjs/auto-retry` honours 429 `retry_after` (bounded by `maxRetryAfterSeconds`, so a flood wait of an
 *   hour fails the send instead of stalling the run) and retries 5xx a bounded number of times.
 * - Network failures are *not* retried blindly: a `sendMessage` whose response was lost may already be in the
 *   chat, and sending it again is the duplicate users complain about. `retryUnsent` retries only failures that
 *   prove the request never reached the server (connection refused, DNS failure); an ambiguous failure
 *   (reset, timeout) surfaces as an error. Idempotent methods (`getUpdates`, `sendChatAction`, edits) may be
 *   retried by their callers.
 */
import { GrammyError, HttpError, type Api, type Transformer } from 'grammy';
import { autoRetry } from '@grammyjs/auto-retry';
import { sleep } from '../../outbound/index.js';

/** Errors that mean the request was never delivered to the server. */
const UNSENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Whether a grammY error proves the request never reached the Bot API server. */
export function isUnsentError(err: unknown): boolean {
  if (!(err instanceof HttpError)) return false;
  const inner = err.error as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = inner?.code ?? inner?.cause?.code;
  return typeof code === 'string' && UNSENT_CODES.has(code);
}

/** Transformer: retries requests that provably never left this machine, with capped exponential backoff. */
export function retryUnsent(maxAttempts = 4, baseDelayMs = 250): Transformer {
  return async (prev, method, payload, signal) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await prev(method, payload, signal);
      } catch (err) {
        if (attempt >= maxAttempts || !isUnsentError(err) || signal?.aborted) throw err;
        await sleep(Math.min(10_000, baseDelayMs * 2 ** (attempt - 1)), signal as AbortSignal | undefined);
      }
    }
  };
}

/** What a 429 said, for metrics. */
export interface RateLimitInfo {
  method: string;
  retryAfterSeconds: number | undefined;
}

/** Transformer: reports every raw 429 answer (before any retry) to `onRateLimited`. Never changes the result. */
export function observeRateLimits(onRateLimited: (info: RateLimitInfo) => void): Transformer {
  return async (prev, method, payload, signal) => {
    const result = await prev(method, payload, signal);
    if (!result.ok && result.error_code === 429) {
      try {
        onRateLimited({ method, retryAfterSeconds: result.parameters?.retry_after });
      } catch {
        // A metrics hook must never break a send.
      }
    }
    return result;
  };
}

/**
 * The transformers to install with `api.config.use(...)`, innermost first (grammY wraps each new transformer
 * around the previous ones): the rate-limit observer sees every raw 429, auto-retry waits them out, and the
 * unsent-request retry wraps it all.
 */
export function telegramRetryTransformers(options: {
  maxRetryAfterSeconds: number;
  maxRetries: number;
  onRateLimited?: ((info: RateLimitInfo) => void) | undefined;
}): Transformer[] {
  return [
    ...(options.onRateLimited !== undefined ? [observeRateLimits(options.onRateLimited)] : []),
    autoRetry({
      maxDelaySeconds: options.maxRetryAfterSeconds,
      maxRetryAttempts: options.maxRetries,
      rethrowHttpErrors: true,
      rethrowInternalServerErrors: false,
    }),
    retryUnsent(),
  ];
}

/** Telegram refused the `parse_mode` markup: resend as plain text. */
export function isParseEntitiesError(err: unknown): boolean {
  return err instanceof GrammyError && err.error_code === 400 && /can't parse entities|unsupported start tag|can't find end/i.test(err.description);
}

/** An edit that changes nothing: success for our purposes. */
export function isNotModifiedError(err: unknown): boolean {
  return err instanceof GrammyError && err.error_code === 400 && /message is not modified/i.test(err.description);
}

/** The message to edit or delete no longer exists (deleted by a user or an admin). */
export function isMessageGoneError(err: unknown): boolean {
  return err instanceof GrammyError && err.error_code === 400 && /message to (edit|delete) not found|message can't be (edited|deleted)/i.test(err.description);
}

/**
 * grammY types its signals with the `abort-controller` polyfill; the runtime accepts a native `AbortSignal`.
 * This cast is the one place the two types meet.
 */
export type GrammySignal = Parameters<Api['getMe']>[0];
/** Casts a native signal to grammY's signal type. */
export function grammySignal(signal: AbortSignal | undefined): GrammySignal {
  return signal as unknown as GrammySignal;
}

/**
 * The Bot API server does not offer `sendMessageDraft` (older or self-hosted server, or not a private chat):
 * stream by editing a preview message instead.
 */
export function isDraftUnsupportedError(err: unknown): boolean {
  if (!(err instanceof GrammyError)) return false;
  return err.error_code === 404 || (err.error_code === 400 && /method not found|private chat|draft/i.test(err.description));
}
