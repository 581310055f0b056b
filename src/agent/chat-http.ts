/**
 * A lean Chat Completions client: POST `<baseUrl>/chat/completions` on our minimal keep-alive HTTP/1.1 client
 * (src/net/http1.ts, shared with the Telegram adapter), the request head and JSON body in one write, the answer
 * read as one JSON document or parsed as SSE straight from the socket's Buffers (`SseParser`) as the chunked
 * body is decoded. It replaced the `openai` SDK + a WHATWG fetch (~17 % of the gateway's CPU at 1,000 msgs/s),
 * then node:http (ClientRequest / agent / IncomingMessage per call: ~15 % of the bytes allocated per message).
 *
 * It only moves bytes and reports what happened; `ProviderClient` owns retries, the idle timer and deltas:
 * - Non-2xx: the body (first 64 KiB) is read and the call rejects with a `ChatApiError` carrying the status,
 *   the headers (Retry-After) and the server's `{error: {message, code}}`; `classifyError` types it.
 * - An `error` object inside a streamed data payload (or an `event: error`) rejects with a `ChatApiError`
 *   without status: the server failed mid-answer.
 * - A payload that is not JSON rejects with `ProviderBadResponseError`; a connection that fails or ends
 *   mid-answer with `ProviderConnectionError` naming the errno code (`ECONNREFUSED`, `ECONNRESET`…).
 * - `abort(reason)` destroys the exchange's socket at once and rejects with `reason`; no callback runs after
 *   it, not even for the rest of a packet already received.
 * - https with an extra trusted CA (`ca`), via node:tls; credentials in the URL are sent as Basic auth.
 *
 * Keep-alive race: a request reset (ECONNRESET / EPIPE) on a reused socket before any answer byte was sent as
 * the server closed that idle connection, so the server never read it. The pool's other idle sockets to the
 * server are as old, so they are dropped and the request is sent once more on a fresh connection (the pattern
 * Node documents for `request.reusedSocket`) instead of spending one of the provider's attempts on it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { basicAuthLine, Http1Pool, targetOfUrl, type Http1Error, type Http1Exchange, type Http1Head, type Http1Sink } from '../net/http1.js';
import { ProviderBadResponseError, ProviderConnectionError } from './errors.js';
import { SseParser } from './sse.js';

/** Most bytes of an error body read for its message (the rest is not waited for). */
export const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * The server's word on a failed request: an HTTP error status, or (`status` undefined) an error sent inside a
 * stream. Not thrown to callers of `ProviderClient`: `classifyError` maps it to a typed `ProviderError`.
 */
export class ChatApiError extends Error {
  /** HTTP status; undefined for an error inside a 2xx stream. */
  readonly status: number | undefined;
  /** Response headers (Retry-After), for HTTP errors. */
  readonly headers: IncomingHttpHeaders | undefined;
  /** `error.code` of the body, when it had a string one. */
  readonly code: string | undefined;
  /** `error.message` of the body, else the body's text (bounded), else the status line. */
  readonly detail: string;

  constructor(status: number | undefined, detail: string, code: string | undefined, headers?: IncomingHttpHeaders) {
    super(status === undefined ? `stream error: ${detail}` : `HTTP ${status}: ${detail}`);
    this.name = 'ChatApiError';
    this.status = status;
    this.detail = detail;
    this.code = code;
    this.headers = headers;
  }
}

/** Options of `ChatHttpClient`. */
export interface ChatHttpOptions {
  /** Base URL including `/v1`; `/chat/completions` is appended. */
  baseUrl: string;
  /** Bearer token; `none` (or empty / undefined) sends no Authorization header. */
  apiKey?: string | undefined;
  /** Extra trusted CA certificate(s) (PEM) for an https:// server with a private CA; default: Node's store. */
  ca?: string | Buffer | (string | Buffer)[] | undefined;
}

/**
 * What a streamed call reports as it reads. Called as methods (`handlers.onChunk(c)`), so one object with
 * methods (the provider's per-attempt state) serves as handlers without a closure per callback.
 */
export interface ChatCallHandlers {
  /** Each streamed data payload, parsed (a `chat.completion.chunk`). Present = streamed request. */
  onChunk?: ((chunk: unknown) => void) | undefined;
  /** Any bytes from the server (the response head, each body chunk): re-arms an idle timer. */
  onActivity?: (() => void) | undefined;
  /** Once, when the call settles either way, before `result` does (the caller's cleanup: timers, listeners). */
  onSettled?: (() => void) | undefined;
}

/** One request in flight: settles with the JSON answer (undefined for a stream), or rejects. */
export interface ChatCall {
  readonly result: Promise<unknown>;
  /** Destroys the request and its socket now; `result` rejects with `reason`. No-op once settled. */
  abort(reason: unknown): void;
}

function errorDetail(text: string, status: number, statusMessage: string | undefined): { detail: string; code: string | undefined } {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown } | null;
    const err = body?.error;
    if (err !== null && typeof err === 'object') {
      const { message, code } = err as { message?: unknown; code?: unknown };
      return { detail: typeof message === 'string' ? message : JSON.stringify(err), code: typeof code === 'string' ? code : undefined };
    }
    if (typeof err === 'string') return { detail: err, code: undefined };
    if (typeof body?.message === 'string') return { detail: body.message, code: undefined };
  } catch {
    // not JSON: the text itself says what happened
  }
  const trimmed = text.trim();
  return { detail: trimmed.length > 0 ? trimmed : `${status} ${statusMessage ?? ''}`.trim(), code: undefined };
}

/** The error of an `error` payload inside a stream. */
function streamError(payload: unknown, raw: string): ChatApiError {
  const err = (payload as { error?: unknown } | null)?.error;
  if (err !== null && typeof err === 'object') {
    const { message, code } = err as { message?: unknown; code?: unknown };
    return new ChatApiError(undefined, typeof message === 'string' ? message : JSON.stringify(err), typeof code === 'string' ? code : undefined);
  }
  const message = (payload as { message?: unknown } | null)?.message;
  if (typeof err === 'string') return new ChatApiError(undefined, err, undefined);
  return new ChatApiError(undefined, typeof message === 'string' ? message : raw.slice(0, 300), undefined);
}

/** How a call reads its answer's body. */
const READ_JSON = 0;
const READ_STREAM = 1;
const READ_ERROR = 2;

/** One Chat Completions request: its exchange on the pool, its parser and its settlement (it is the exchange's sink). */
class Call implements ChatCall, Http1Sink {
  readonly result: Promise<unknown>;
  private resolveResult!: (value: unknown) => void;
  private rejectResult!: (reason: unknown) => void;
  private exchange: Http1Exchange;
  private parser: SseParser | undefined;
  private settled = false;
  private resent = false;
  private mode = READ_JSON;
  /** Body pieces of a whole answer or an error body. */
  private parts: Buffer[] | undefined;
  private size = 0;
  private head: Http1Head | undefined;

  constructor(
    private readonly client: ChatHttpClient,
    /** The request body (the caller's string: the request, once written, is not kept; a resend builds it again). */
    private readonly payload: string,
    private readonly handlers: ChatCallHandlers,
  ) {
    this.result = new Promise<unknown>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    this.exchange = client.pool.exchange(client.requestOf(payload), false, this);
  }

  abort(reason: unknown): void {
    this.fail(reason);
  }

  onHead(head: Http1Head): void {
    this.handlers.onActivity?.();
    const status = head.status;
    if (status < 200 || status >= 300) {
      this.mode = READ_ERROR;
      this.head = head;
      this.parts = [];
    } else if (this.handlers.onChunk !== undefined) {
      this.mode = READ_STREAM;
      this.parser = this.streamParser();
    } else {
      this.parts = [];
    }
  }

  onBody(chunk: Buffer): void {
    if (this.settled) return;
    this.handlers.onActivity?.();
    if (this.mode === READ_STREAM) {
      this.parser!.push(chunk);
      return;
    }
    // The chunk is only lent (Http1Sink.onBody): what is kept is copied.
    if (this.mode === READ_JSON) {
      this.parts!.push(Buffer.from(chunk));
      return;
    }
    if (this.size >= ERROR_BODY_LIMIT) return;
    this.parts!.push(Buffer.from(this.size + chunk.length > ERROR_BODY_LIMIT ? chunk.subarray(0, ERROR_BODY_LIMIT - this.size) : chunk));
    this.size += chunk.length;
    if (this.size >= ERROR_BODY_LIMIT) this.failWithStatus(); // enough to say what failed; `fail` closes the rest
  }

  onEnd(): void {
    if (this.mode === READ_STREAM) {
      this.succeed(undefined);
      return;
    }
    if (this.mode === READ_ERROR) {
      this.failWithStatus();
      return;
    }
    const p = this.parts!;
    const text = p.length === 1 ? p[0]!.toString('utf8') : Buffer.concat(p).toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      this.fail(new ProviderBadResponseError(`the answer is not JSON: ${(err as Error).message}`, { cause: err }));
      return;
    }
    this.succeed(value);
  }

  onError(err: Http1Error): void {
    if (this.settled) return;
    if (!this.resent && err.reused && !err.answered && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
      // The keep-alive race: the server closed this idle connection as the request went out, so it never read it.
      this.resent = true;
      this.client.pool.dropIdle();
      this.exchange = this.client.pool.exchange(this.client.requestOf(this.payload), true, this);
      return;
    }
    this.fail(new ProviderConnectionError(err.code ?? err.message, { cause: err }));
  }

  private failWithStatus(): void {
    const head = this.head!;
    const text = Buffer.concat(this.parts!).toString('utf8');
    const { detail, code } = errorDetail(text, head.status, head.reason);
    this.fail(new ChatApiError(head.status, detail, code, head.headers()));
  }

  private fail(reason: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.parser?.stop();
    this.exchange.abort(); // no-op once the exchange ended; else its socket is destroyed now
    this.handlers.onSettled?.();
    this.rejectResult(reason);
  }

  private succeed(value: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.handlers.onSettled?.();
    this.resolveResult(value);
  }

  private streamParser(): SseParser {
    const handlers = this.handlers;
    let done = false;
    const parser = new SseParser((data, event) => {
      if (done) return;
      if (data.startsWith('[DONE]')) {
        // Settled at the body's end, as the SDK did: the socket is back in the pool before the caller goes on.
        done = true;
        parser.stop();
        return;
      }
      let payload: unknown;
      try {
        payload = JSON.parse(data);
      } catch (err) {
        this.fail(new ProviderBadResponseError(`a stream event is not JSON: ${(err as Error).message}`, { cause: err }));
        return;
      }
      if (event === 'error' || (payload as { error?: unknown } | null)?.error) {
        this.fail(streamError(payload, data));
        return;
      }
      try {
        handlers.onChunk!(payload);
      } catch (err) {
        this.fail(err); // a throwing callback fails the call (and closes it) instead of the socket's data handler
      }
    });
    return parser;
  }
}

/** A Chat Completions endpoint with its own pool of kept-alive connections; `post` sends one request. */
export class ChatHttpClient {
  /** @internal The connections to the server (shared by the calls). */
  readonly pool: Http1Pool;
  /**
   * The request head up to the content-length value: `POST <path> HTTP/1.1`, host, content-type, accept and
   * authorization, built once (each request appends its length, the blank line and the body).
   */
  private readonly head: string;

  constructor(options: ChatHttpOptions) {
    const url = new URL(options.baseUrl.replace(/\/+$/, '') + '/chat/completions');
    this.pool = new Http1Pool({ ...targetOfUrl(url), ca: options.ca });
    // `url.host` is what node:http sent: brackets around IPv6, the port unless the scheme's default.
    let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\naccept: application/json\r\n`;
    const key = options.apiKey;
    if (key !== undefined && key !== '' && key !== 'none') {
      if (/[\r\n\0]/.test(key)) throw new TypeError('ChatHttpClient: the API key contains a line break');
      head += `authorization: Bearer ${key}\r\n`;
    } else {
      head += basicAuthLine(url);
    }
    this.head = `${head}content-length: `;
  }

  /**
   * Sends `body` (a Chat Completions request, `stream: true` when `handlers.onChunk` is given) and returns the
   * call in flight. Never throws: failures reject `result`.
   */
  post(body: unknown, handlers: ChatCallHandlers = {}): ChatCall {
    return this.postJson(JSON.stringify(body), handlers);
  }

  /** As `post`, with the body already serialised (the provider writes its request JSON itself). */
  postJson(payload: string, handlers: ChatCallHandlers = {}): ChatCall {
    return new Call(this, payload, handlers);
  }

  /** @internal The whole request for `payload`: head and body, one string for one write. */
  requestOf(payload: string): string {
    return `${this.head}${Buffer.byteLength(payload)}\r\n\r\n${payload}`;
  }

  /** Closes idle connections and keeps no more (shutdown; calls in flight finish). */
  close(): void {
    this.pool.close();
  }
}
