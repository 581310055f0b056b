/**
 * The model provider client: OpenAI-compatible Chat Completions over HTTP (OpenAI, Ollama, vLLM, LM Studio,
 * OpenRouter), built on the `openai` v6 package with its own retries off (`maxRetries: 0`).
 *
 * Why the SDK and not a lean fetch client: it already parses SSE robustly (multi-line events, `error` events,
 * `[DONE]`), types every error by status, and is what operators' servers are tested against. Why our own retry
 * loop: the SDK's loop cannot be told to stop after the first streamed delta (a retry then would duplicate text
 * the chat already shows), its backoff has no cap on Retry-After, and it would hide attempts from our logs.
 *
 * Invariants:
 * - After `signal` aborts, no delta is delivered and the HTTP request is torn down (the socket closes).
 * - A request is retried only before its first delta reached the caller.
 * - `timeoutMs` bounds the silence before the first byte and between stream chunks (a stalled stream fails
 *   with E_PROVIDER_TIMEOUT instead of hanging until the run timeout).
 */
import type OpenAI from 'openai';
import { InvalidOptionError, toError } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { ProviderBadResponseError, ProviderError, ProviderTimeoutError } from './errors.js';
import { notify, type AgentObserver } from './observer.js';
import { loadedOpenAISdk, loadOpenAISdk } from './openai-sdk.js';
import { httpFetch } from './http-fetch.js';
import { classifyError, DEFAULT_RETRY_POLICY, retryDelay, type RetryPolicy } from './retry.js';

/** One message of a prompt. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Token usage the provider reported. */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

/** The answer to one chat request. */
export interface ChatResult {
  text: string;
  /** As reported by the server; undefined when it sent none. */
  usage: TokenUsage | undefined;
  finishReason: string | undefined;
  /** Attempts it took (1 = no retry). */
  attempts: number;
}

/** Options of one request. */
export interface ChatRequestOptions {
  /** Overrides the client's model (the classifier uses another). */
  model?: string | undefined;
  maxTokens?: number | undefined;
  temperature?: number | undefined;
  /** Called with each streamed text delta, never after `signal` aborted. Present = streamed request. */
  onDelta?: ((text: string) => void) | undefined;
  /** Tears down the request; the call rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Overrides the client's idle timeout for this request (a long summary may think longer). */
  timeoutMs?: number | undefined;
  /**
   * Told the reported usage of a successful request (nothing when the server reported none) and the typed
   * error of every failed attempt (`retried` when another attempt follows). Calls are guarded: a throwing
   * observer is logged and ignored.
   */
  observer?: Pick<AgentObserver, 'tokens' | 'providerError'> | undefined;
}

/** Options of `ProviderClient`. */
export interface ProviderOptions {
  /** Base URL of the OpenAI-compatible API, including `/v1` (`http://127.0.0.1:11434/v1`). */
  baseUrl: string;
  /** Bearer token. Local servers often need none; default `none`. Never logged. */
  apiKey?: string | undefined;
  /** Model id sent with each request. */
  model: string;
  /** Silence allowed before the first byte and between stream chunks (ms). Default 60000. */
  timeoutMs?: number | undefined;
  /** Most attempts per request (connection errors, 408, 429, 5xx). Default 3. */
  maxAttempts?: number | undefined;
  /** Backoff tuning. */
  retry?: Partial<Omit<RetryPolicy, 'maxAttempts'>> | undefined;
  /** Ask for `stream_options.include_usage` (some old servers reject it). Default true. */
  includeUsage?: boolean | undefined;
  logger?: Logger | undefined;
  /** Jitter source (tests make it deterministic). Default Math.random. */
  random?: (() => number) | undefined;
  /** Waits between attempts. Default: an abortable setTimeout. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  /** The `fetch` the SDK uses. Default `httpFetch()` (node:http, cheaper per request than the built-in fetch). */
  fetch?: typeof fetch | undefined;
}

/** Abortable wait; rejects with the signal's reason. Internal default of `ProviderOptions.sleep`. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(toError(signal.reason));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(toError(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new InvalidOptionError(name, 'an integer >= 1', value);
  return value;
}

/** A Chat Completions client with streaming, abort, idle timeout and a retry loop we control. */
export class ProviderClient {
  /** The default model. */
  readonly model: string;
  /** Idle timeout (ms). */
  readonly timeoutMs: number;
  /** The resolved retry policy. */
  readonly policy: RetryPolicy;
  /** Built on the first request: the SDK is imported then, not when the gateway starts (see openai-sdk.ts). */
  private client: OpenAI | undefined;
  private readonly clientOptions: { baseURL: string; apiKey: string; maxRetries: number; timeout: number; fetch: typeof fetch };
  /** Turned off for good when the server rejects `stream_options` (older OpenAI-compatible servers). */
  private includeUsage: boolean;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: ProviderOptions) {
    if (typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
      throw new InvalidOptionError('provider.baseUrl', 'an http(s) URL such as http://127.0.0.1:11434/v1', options.baseUrl);
    }
    if (typeof options.model !== 'string' || options.model.length === 0) throw new InvalidOptionError('provider.model', 'a model id', options.model);
    this.model = options.model;
    this.timeoutMs = positiveInt('provider.timeoutMs', options.timeoutMs, 60_000);
    this.policy = Object.freeze({
      ...DEFAULT_RETRY_POLICY,
      ...options.retry,
      maxAttempts: positiveInt('provider.maxAttempts', options.maxAttempts, DEFAULT_RETRY_POLICY.maxAttempts),
    });
    this.includeUsage = options.includeUsage ?? true;
    this.log = options.logger ?? silentLogger;
    this.random = options.random ?? Math.random;
    this.sleep = options.sleep ?? abortableSleep;
    this.clientOptions = {
      baseURL: options.baseUrl.replace(/\/+$/, ''),
      apiKey: options.apiKey === undefined || options.apiKey === '' ? 'none' : options.apiKey,
      maxRetries: 0,
      timeout: this.timeoutMs,
      fetch: options.fetch ?? httpFetch(),
    };
  }

  /** The SDK client, importing the SDK on first use. */
  private async sdkClient(): Promise<OpenAI> {
    if (this.client === undefined) {
      const sdk = await loadOpenAISdk();
      this.client ??= new sdk.OpenAI(this.clientOptions);
    }
    return this.client;
  }

  /**
   * Sends `messages` and resolves with the whole answer. With `onDelta` the answer is streamed and each delta
   * is handed over as it arrives. Rejects with a `ProviderError` (after retries), or the signal's reason.
   */
  async chat(messages: readonly ChatMessage[], options: ChatRequestOptions = {}): Promise<ChatResult> {
    const { signal } = options;
    const model = options.model ?? this.model;
    for (let attempt = 1; ; attempt += 1) {
      // An abort listener added to an already-aborted signal never fires: check first.
      if (signal?.aborted) throw toError(signal.reason);
      let emitted = false;
      const onDelta = options.onDelta === undefined ? undefined : (text: string): void => {
        emitted = true;
        options.onDelta?.(text);
      };
      try {
        const result = await this.attempt(messages, model, options, onDelta);
        const { observer } = options;
        const usage = result.usage;
        if (observer !== undefined && usage !== undefined) {
          notify(this.log, 'tokens', () => observer.tokens(model, { prompt: usage.promptTokens, completion: usage.completionTokens }));
        }
        return { ...result, attempts: attempt };
      } catch (err) {
        if (signal?.aborted) throw toError(signal.reason);
        if (onDelta !== undefined && !emitted && this.includeUsage && rejectsStreamOptions(err)) {
          // An older server that does not know `stream_options`: ask again without it, not counted as an attempt.
          this.includeUsage = false;
          this.log.warn({ model }, 'model server rejects stream_options; continuing without usage figures');
          attempt -= 1;
          continue;
        }
        const verdict = classifyError(err, options.timeoutMs ?? this.timeoutMs);
        verdict.error.attempts = attempt;
        // Never retry after the chat has seen text: the retry would answer differently and duplicate it.
        const delay = emitted ? undefined : retryDelay(verdict, attempt, this.policy, this.random);
        const { observer } = options;
        if (observer !== undefined) notify(this.log, 'providerError', () => observer.providerError(verdict.error.code, model, delay !== undefined));
        if (delay === undefined) throw verdict.error;
        this.log.warn({ code: verdict.error.code, status: verdict.error.status, attempt, delayMs: delay, model }, 'model request failed, retrying');
        await this.sleep(delay, signal);
      }
    }
  }

  private async attempt(
    messages: readonly ChatMessage[],
    model: string,
    options: ChatRequestOptions,
    onDelta: ((text: string) => void) | undefined,
  ): Promise<Omit<ChatResult, 'attempts'>> {
    const outer = options.signal;
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    // Our own controller: the caller's signal is never aborted by us, and our timer can abort the request.
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(outer?.reason);
    outer?.addEventListener('abort', onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    // One timer per attempt, pushed back on every chunk (`refresh` re-arms without a new allocation).
    const arm = (): void => {
      if (timer !== undefined) {
        timer.refresh();
        return;
      }
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new ProviderTimeoutError(timeoutMs));
      }, timeoutMs);
    };
    const body = {
      model,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      ...(options.maxTokens === undefined ? {} : { max_tokens: options.maxTokens }),
      ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
    };
    try {
      arm();
      const client = await this.sdkClient();
      if (onDelta === undefined) {
        const res = await client.chat.completions.create({ ...body, stream: false }, { signal: controller.signal, timeout: timeoutMs });
        if (timedOut) throw new ProviderTimeoutError(timeoutMs);
        const choice = res.choices?.[0];
        if (choice === undefined || typeof choice.message?.content !== 'string') {
          if (choice?.message?.content === null) return { text: '', usage: usageOf(res.usage), finishReason: choice.finish_reason ?? undefined };
          throw new ProviderBadResponseError('no choices[0].message.content');
        }
        return { text: choice.message.content, usage: usageOf(res.usage), finishReason: choice.finish_reason ?? undefined };
      }
      const stream = await client.chat.completions.create(
        { ...body, stream: true, ...(this.includeUsage ? { stream_options: { include_usage: true } } : {}) },
        { signal: controller.signal, timeout: timeoutMs },
      );
      let text = '';
      let usage: TokenUsage | undefined;
      let finishReason: string | undefined;
      for await (const chunk of stream) {
        // The SDK ends the loop quietly on abort; the check below stops deltas in the same tick as the abort.
        if (controller.signal.aborted) break;
        arm();
        const choice = chunk.choices?.[0];
        const delta = choice?.delta?.content;
        if (typeof delta === 'string' && delta.length > 0) {
          text += delta;
          onDelta(delta);
        }
        if (choice?.finish_reason) finishReason = choice.finish_reason;
        if (chunk.usage) usage = usageOf(chunk.usage);
      }
      if (controller.signal.aborted) {
        if (timedOut) throw new ProviderTimeoutError(timeoutMs);
        throw toError(outer?.reason);
      }
      if (finishReason === undefined && usage === undefined) {
        // The stream ended without a finish_reason: the server hung up mid-answer.
        throw new ProviderError('E_PROVIDER_CONNECTION', 'The model server ended the stream before the answer was complete. Try again.');
      }
      return { text, usage, finishReason };
    } catch (err) {
      if (timedOut && !(err instanceof ProviderError)) throw new ProviderTimeoutError(timeoutMs, { cause: err });
      throw err;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
  }
}

function rejectsStreamOptions(err: unknown): boolean {
  const sdk = loadedOpenAISdk();
  if (sdk === undefined || !(err instanceof sdk.APIError) || (err.status !== 400 && err.status !== 422)) return false;
  const body = err.error as { message?: unknown } | undefined;
  const text = `${typeof body?.message === 'string' ? body.message : ''} ${err.message}`;
  return /stream_options|include_usage/i.test(text);
}

function usageOf(u: OpenAI.CompletionUsage | null | undefined): TokenUsage | undefined {
  if (!u || typeof u.prompt_tokens !== 'number') return undefined;
  return { promptTokens: u.prompt_tokens, completionTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0 };
}
