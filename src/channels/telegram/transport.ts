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
import type { LeanFetch } from './lean-fetch.js';

/** Errors that mean the request was never delivered to the server. */
const UNSENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Whether a grammY error proves the request never reached the Bot API server. */
export function isUnsentError(err: unknown): boolean {
  if (!(err instanceof HttpError)) return false;
  const inner = err.error as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = inner?.code ?? inner?.cause?.code;
  return typeof code === 'string' && UNSENT_CODES.has(code);
}

/**
 * Transformer: retries requests that provably never left this machine, with capped exponential backoff. The
 * first attempt is a bare promise (no async frame per call); only a failure enters the retry loop.
 */
export function retryUnsent(maxAttempts = 4, baseDelayMs = 250): Transformer {
  return (prev, method, payload, signal) =>
    prev(method, payload, signal).catch(async (first: unknown) => {
      let err = first;
      for (let attempt = 1; ; attempt++) {
        if (attempt >= maxAttempts || !isUnsentError(err) || signal?.aborted) throw err;
        await sleep(Math.min(10_000, baseDelayMs * 2 ** (attempt - 1)), signal as AbortSignal | undefined);
        try {
          return await prev(method, payload, signal);
        } catch (next) {
          err = next;
        }
      }
    });
}

/**
 * `@grammyjs/auto-retry` with a fast path: the first attempt is made here, and an answer that needs no retry
 * (`ok`, or an error that is neither a 429 nor a 5xx) is returned as is; anything else goes to the plugin, which
 * is handed that first answer as its first attempt and makes every retry itself. The plugin builds two async
 * functions and two closures per call, which every successful call (nearly all of them) paid for nothing.
 */
export function fastAutoRetry(options: Parameters<typeof autoRetry>[0]): Transformer {
  const plugin = autoRetry(options);
  return (prev, method, payload, signal) =>
    prev(method, payload, signal).then((first) => {
      if (first.ok || (typeof first.parameters?.retry_after !== 'number' && !(first.error_code >= 500))) return first;
      let handed = false;
      const replay: typeof prev = (m, p, s) => {
        if (handed) return prev(m, p, s);
        handed = true;
        return Promise.resolve(first) as ReturnType<typeof prev>;
      };
      return plugin(replay, method, payload, signal);
    });
}

/**
 * Bot API methods the direct path takes: their payloads are plain JSON (never a file upload), and they are the
 * ones a busy bot calls per message. Every other method goes through grammY's own request code.
 */
const DIRECT_METHODS: ReadonlySet<string> = new Set(['getUpdates', 'sendMessage', 'editMessageText', 'deleteMessage', 'sendChatAction', 'sendMessageDraft']);

/** The headers grammY sends with a JSON payload. */
const JSON_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'application/json', connection: 'keep-alive' };

/** grammY's JSON serialization: `null` values are left out. */
const dropNulls = (_key: string, value: unknown): unknown => value ?? undefined;

/**
 * Transformer, installed innermost: sends the hot JSON methods (`DIRECT_METHODS`) straight to `fetch` instead of
 * through grammY's base request function, which per call builds an `abort-controller` polyfill (an
 * event-target-shim EventTarget, forwarding the caller's signal to it), a 500 s timeout promise, a stream-error
 * promise and a `Promise.race` of the three, and scans the payload for files. What it keeps: the same URL, JSON
 * body (nulls dropped) and headers; the caller's native signal goes to `fetch` as is; a failed request or an
 * unreadable answer becomes grammY's `HttpError("Network request for '<method>' failed!")`; the answer goes back
 * up the chain, where grammY's `callApi` turns `ok: false` into a `GrammyError`. The bound on a request that
 * never ends is `fetch`'s own (`leanFetch`'s `timeoutMs`, 500 s like grammY's default).
 */
export function directJsonCalls(options: { apiRoot: string; token: string; fetch: LeanFetch }): Transformer {
  const { apiRoot, token, fetch } = options;
  const urls = new Map<string, string>();
  return (prev, method, payload, signal) => {
    if (!DIRECT_METHODS.has(method)) return prev(method, payload, signal);
    let url = urls.get(method);
    if (url === undefined) {
      url = `${apiRoot}/bot${token}/${method}`;
      urls.set(method, url);
    }
    const body = JSON.stringify(payload ?? {}, dropNulls);
    return fetch(url, { method: 'POST', headers: JSON_HEADERS, body, signal: signal as unknown as AbortSignal | undefined })
      .then((res) => res.json())
      .then(undefined, (err: unknown) => {
        throw new HttpError(`Network request for '${method}' failed!`, err);
      }) as ReturnType<typeof prev>;
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
 * around the previous ones): the direct JSON path (when `direct` is given) makes the request, the rate-limit
 * observer sees every raw 429, auto-retry waits them out, and the unsent-request retry wraps it all.
 */
export function telegramRetryTransformers(options: {
  maxRetryAfterSeconds: number;
  maxRetries: number;
  onRateLimited?: ((info: RateLimitInfo) => void) | undefined;
  direct?: { apiRoot: string; token: string; fetch: LeanFetch } | undefined;
}): Transformer[] {
  return [
    ...(options.direct !== undefined ? [directJsonCalls(options.direct)] : []),
    ...(options.onRateLimited !== undefined ? [observeRateLimits(options.onRateLimited)] : []),
    fastAutoRetry({
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
