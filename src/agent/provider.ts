/**
 * The model provider client: OpenAI-compatible Chat Completions over HTTP (OpenAI, Ollama, vLLM, LM Studio,
 * OpenRouter), on our own lean HTTP + SSE client (`ChatHttpClient`, chat-http.ts / sse.ts) and our own retry loop.
 *
 * Why not the `openai` SDK (used until this change): with one small streamed request per message, the SDK and
 * what it needs (a WHATWG fetch: undici Response/Headers, web streams, AbortSignal/EventTarget, TextDecoder)
 * were ~17 % of the gateway's self CPU at 1,000 msgs/s plus much of its GC; the SDK's own SSE iteration alone
 * was 8.4 %. Figures before/after: docs/notes/agent.md.
 * What the SDK gave us, and how we keep it:
 * - robust SSE (multi-line data, comments, CRLF, `[DONE]`, `error` events, chunks split anywhere, split UTF-8):
 *   test/agent/sse.test.ts replays a recorded stream split at every byte;
 * - typed errors by status (401/403, 429 + Retry-After, overflow 400/413/422, 408/5xx) and errno codes:
 *   test/agent/chat-http.test.ts against a raw node:http server, test/agent/provider.test.ts against the fake;
 * - wire compatibility: the fake model server is checked with the real SDK (test/agent/fake-server.test.ts),
 *   and our client is tested against that fake.
 * Why our own retry loop (as before): a retry after the first streamed delta would duplicate text the chat
 * already shows, Retry-After needs a cap, and every attempt should be in our logs.
 *
 * Invariants:
 * - After `signal` aborts, no delta is delivered and the HTTP request is torn down (the socket closes).
 * - A request is retried only before its first delta reached the caller.
 * - `timeoutMs` bounds the silence before the first byte and between stream chunks (a stalled stream fails
 *   with E_PROVIDER_TIMEOUT instead of hanging until the run timeout).
 */
import { InvalidOptionError, toError } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { ChatApiError, ChatHttpClient, type ChatCall, type ChatCallHandlers } from './chat-http.js';
import { ProviderBadResponseError, ProviderError, ProviderTimeoutError } from './errors.js';
import { notify, type AgentObserver } from './observer.js';
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
  /** The HTTP client (one keep-alive agent per provider). */
  private readonly http: ChatHttpClient;
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
    this.http = new ChatHttpClient({ baseUrl: options.baseUrl, apiKey: options.apiKey });
  }

  /**
   * Sends `messages` and resolves with the whole answer. With `onDelta` the answer is streamed and each delta
   * is handed over as it arrives. Rejects with a `ProviderError` (after retries), or the signal's reason.
   */
  async chat(messages: readonly ChatMessage[], options: ChatRequestOptions = {}): Promise<ChatResult> {
    const { signal } = options;
    const model = options.model ?? this.model;
    // The messages part of the body is the same for every attempt: serialised once.
    const messagesJson = JSON.stringify(messages, chatMessageFields(messages));
    for (let attempt = 1; ; attempt += 1) {
      // An abort listener added to an already-aborted signal never fires: check first.
      if (signal?.aborted) throw toError(signal.reason);
      const current = new Attempt(options, options.timeoutMs ?? this.timeoutMs);
      try {
        current.send(this.http, this.requestJson(model, messagesJson, options, current.streamed));
        const result = current.finish(await current.call!.result);
        const { observer } = options;
        const usage = result.usage;
        if (observer !== undefined && usage !== undefined) {
          notify(this.log, 'tokens', () => observer.tokens(model, { prompt: usage.promptTokens, completion: usage.completionTokens }));
        }
        result.attempts = attempt;
        return result;
      } catch (err) {
        if (signal?.aborted) throw toError(signal.reason);
        const emitted = current.emitted;
        if (current.streamed && !emitted && this.includeUsage && rejectsStreamOptions(err)) {
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

  /** The request JSON around the already serialised messages (field order as before: model, messages, …). */
  private requestJson(model: string, messagesJson: string, options: ChatRequestOptions, streamed: boolean): string {
    let json = `{"model":${JSON.stringify(model)},"messages":${messagesJson}`;
    if (options.maxTokens !== undefined) json += `,"max_tokens":${JSON.stringify(options.maxTokens)}`;
    if (options.temperature !== undefined) json += `,"temperature":${JSON.stringify(options.temperature)}`;
    json += streamed ? (this.includeUsage ? ',"stream":true,"stream_options":{"include_usage":true}}' : ',"stream":true}') : ',"stream":false}';
    return json;
  }
}

/**
 * The replacer of `JSON.stringify(messages)`: undefined (no replacer, the fast path) when every message is a plain
 * `{role, content}` (the prompt builders make exactly those), else the two fields to keep, so nothing else a
 * caller's objects carry reaches the server.
 */
function chatMessageFields(messages: readonly ChatMessage[]): string[] | undefined {
  for (const m of messages) {
    const keys = Object.keys(m);
    if (keys.length !== 2 || keys[0] !== 'role' || keys[1] !== 'content') return ['role', 'content'];
  }
  return undefined;
}

/** A shared timer callback (no closure per attempt): the idle timeout of one attempt. */
function idleTimeout(attempt: Attempt): void {
  attempt.call?.abort(new ProviderTimeoutError(attempt.timeoutMs));
}

/**
 * One attempt's state, and its own handlers: the chat-http callbacks (`onChunk`, `onActivity`, `onSettled`) and
 * the caller signal's `abort` listener (`handleEvent`) are methods of this one object, so an attempt allocates
 * no closure, no AbortController and no promise beyond the call's own.
 */
class Attempt implements ChatCallHandlers {
  call: ChatCall | undefined;
  text = '';
  usage: TokenUsage | undefined;
  finishReason: string | undefined;
  /** A delta reached the caller: no retry from here on. */
  emitted = false;
  /** Present = streamed request (the `ChatCallHandlers` contract); undefined for a whole answer. */
  readonly onChunk: ((chunk: unknown) => void) | undefined;
  readonly streamed: boolean;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: ChatRequestOptions,
    readonly timeoutMs: number,
  ) {
    this.streamed = options.onDelta !== undefined;
    this.onChunk = this.streamed ? this.chunk : undefined;
  }

  send(http: ChatHttpClient, payload: string): void {
    this.call = http.postJson(payload, this); // settles on socket events only, never before this returns
    // One timer per attempt, pushed back on every chunk of bytes (`refresh` re-arms without an allocation).
    this.timer = setTimeout(idleTimeout, this.timeoutMs, this);
    // No AbortController per attempt: the caller's signal aborts the call directly (`handleEvent`).
    this.options.signal?.addEventListener('abort', this, { once: true });
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.call?.abort(toError(this.options.signal?.reason));
  }

  onActivity(): void {
    this.timer?.refresh();
  }

  onSettled(): void {
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this);
  }

  private chunk(this: Attempt, chunk: unknown): void {
    const c = chunk as StreamChunk;
    const choice = c.choices?.[0];
    const delta = choice?.delta?.content;
    if (typeof delta === 'string' && delta.length > 0) {
      this.text += delta;
      this.emitted = true;
      this.options.onDelta!(delta);
    }
    if (choice?.finish_reason) this.finishReason = choice.finish_reason;
    if (c.usage) this.usage = usageOf(c.usage);
  }

  /** The attempt's result from the call's answer (undefined for a stream); throws when it is not an answer. */
  finish(answer: unknown): ChatResult {
    if (!this.streamed) {
      const res = answer as Completion | null;
      const choice = res?.choices?.[0];
      const content = choice?.message?.content;
      if (typeof content === 'string' || content === null) {
        return { text: content ?? '', usage: usageOf(res?.usage), finishReason: choice?.finish_reason ?? undefined, attempts: 0 };
      }
      throw new ProviderBadResponseError('no choices[0].message.content');
    }
    if (this.finishReason === undefined && this.usage === undefined) {
      // The stream ended without a finish_reason: the server hung up mid-answer.
      throw new ProviderError('E_PROVIDER_CONNECTION', 'The model server ended the stream before the answer was complete. Try again.');
    }
    return { text: this.text, usage: this.usage, finishReason: this.finishReason, attempts: 0 };
  }
}

/** Usage as the server reports it. */
interface WireUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
}

/** The fields of a `chat.completion.chunk` we read. */
interface StreamChunk {
  choices?: { delta?: { content?: unknown }; finish_reason?: string | null }[];
  usage?: WireUsage | null;
}

/** The fields of a `chat.completion` we read. */
interface Completion {
  choices?: { message?: { content?: unknown }; finish_reason?: string | null }[];
  usage?: WireUsage | null;
}

function rejectsStreamOptions(err: unknown): boolean {
  if (!(err instanceof ChatApiError) || (err.status !== 400 && err.status !== 422)) return false;
  return /stream_options|include_usage/i.test(err.detail);
}

function usageOf(u: WireUsage | null | undefined): TokenUsage | undefined {
  if (!u || typeof u.prompt_tokens !== 'number') return undefined;
  return { promptTokens: u.prompt_tokens, completionTokens: typeof u.completion_tokens === 'number' ? u.completion_tokens : 0 };
}
