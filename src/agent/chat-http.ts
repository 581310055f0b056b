/**
 * A lean Chat Completions client over node:http / node:https: POST `<baseUrl>/chat/completions` on a keep-alive
 * agent, the JSON body in one write, the answer read as one JSON document or parsed as SSE straight from the
 * socket's Buffers (`SseParser`). It replaces the `openai` SDK + a WHATWG fetch on the request path, which
 * cost ~17 % of the gateway's CPU at 1,000 msgs/s (SDK, undici Response/Headers, web streams, AbortSignal).
 *
 * It only moves bytes and reports what happened; `ProviderClient` owns retries, the idle timer and deltas:
 * - Non-2xx: the body (first 64 KiB) is read and the call rejects with a `ChatApiError` carrying the status,
 *   the headers (Retry-After) and the server's `{error: {message, code}}`; `classifyError` types it.
 * - An `error` object inside a streamed data payload (or an `event: error`) rejects with a `ChatApiError`
 *   without status: the server failed mid-answer.
 * - A payload that is not JSON rejects with `ProviderBadResponseError`; a connection that fails or ends
 *   mid-answer with `ProviderConnectionError` naming the errno code (`ECONNREFUSED`, `ECONNRESET`…).
 * - `abort(reason)` destroys the request and its socket at once and rejects with `reason`; no callback runs
 *   after it, not even for the rest of a chunk already received.
 *
 * Keep-alive race: a request reset (ECONNRESET / EPIPE) on a reused socket before any answer byte was sent as
 * the server closed that idle connection, so the server never read it. The agent's other idle sockets to the
 * server are as old, so they are dropped and the request is sent once more on a fresh connection (Node's
 * documented `request.reusedSocket` pattern) instead of spending one of the provider's attempts on it.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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

function connectionError(err: Error & { code?: string }): ProviderConnectionError {
  return new ProviderConnectionError(err.code ?? err.message, { cause: err });
}

/** One Chat Completions request: the node:http request, its parser and its settlement. */
class Call implements ChatCall {
  readonly result: Promise<unknown>;
  private resolveResult!: (value: unknown) => void;
  private rejectResult!: (reason: unknown) => void;
  private req: ClientRequest | undefined;
  private parser: SseParser | undefined;
  private settled = false;

  constructor(
    private readonly client: ChatHttpClient,
    private readonly payload: string,
    private readonly handlers: ChatCallHandlers,
  ) {
    this.result = new Promise<unknown>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    this.send(false);
  }

  abort(reason: unknown): void {
    this.fail(reason);
  }

  private fail(reason: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.parser?.stop();
    this.req?.destroy();
    this.handlers.onSettled?.();
    this.rejectResult(reason);
  }

  private succeed(value: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.handlers.onSettled?.();
    this.resolveResult(value);
  }

  private send(resent: boolean): void {
    const req = this.client.request(this.payload);
    this.req = req;
    let answered = false;
    req.on('error', (err: Error & { code?: string }) => {
      if (this.settled || this.req !== req) return;
      if (!answered && !resent && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
        this.client.dropIdleSockets();
        this.send(true);
        return;
      }
      this.fail(connectionError(err));
    });
    req.on('response', (res: IncomingMessage) => {
      answered = true;
      if (this.settled) {
        res.destroy();
        return;
      }
      this.handlers.onActivity?.();
      res.on('error', (err: Error & { code?: string }) => this.fail(connectionError(err)));
      // A connection lost mid-answer: 'close' without 'end' (Node does not always emit 'error' then).
      res.on('close', () => {
        if (!res.complete) this.fail(new ProviderConnectionError('ECONNRESET: the connection closed before the response ended'));
      });
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) this.readError(res, status);
      else if (this.handlers.onChunk !== undefined) this.readStream(res);
      else this.readJson(res);
    });
    req.end(this.payload);
  }

  private readError(res: IncomingMessage, status: number): void {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (): void => {
      const text = Buffer.concat(chunks).toString('utf8');
      const { detail, code } = errorDetail(text, status, res.statusMessage);
      this.fail(new ChatApiError(status, detail, code, res.headers));
    };
    res.on('data', (c: Buffer) => {
      if (size >= ERROR_BODY_LIMIT) return;
      this.handlers.onActivity?.();
      chunks.push(size + c.length > ERROR_BODY_LIMIT ? c.subarray(0, ERROR_BODY_LIMIT - size) : c);
      size += c.length;
      if (size >= ERROR_BODY_LIMIT) finish(); // enough to say what failed; `fail` destroys the rest
    });
    res.on('end', finish);
  }

  private readJson(res: IncomingMessage): void {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => {
      this.handlers.onActivity?.();
      chunks.push(c);
    });
    res.on('end', () => {
      const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        this.fail(new ProviderBadResponseError(`the answer is not JSON: ${(err as Error).message}`, { cause: err }));
        return;
      }
      this.succeed(value);
    });
  }

  private readStream(res: IncomingMessage): void {
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
    this.parser = parser;
    res.on('data', (c: Buffer) => {
      if (this.settled) return;
      handlers.onActivity?.();
      parser.push(c);
    });
    res.on('end', () => this.succeed(undefined));
  }
}

/** A Chat Completions endpoint with its own keep-alive agent; `post` sends one request. */
export class ChatHttpClient {
  private readonly agent: HttpAgent;
  private readonly hostname: string;
  private readonly port: number | undefined;
  private readonly path: string;
  /**
   * The request head's fixed headers as node:http's flat `[name, value, …]` list (content-length is appended per
   * request). A list goes straight to `_storeHeader`: no `setHeader` per header (each allocates its own entry
   * and lower-cased key), so `Host` and `Authorization` are ours to send.
   */
  private readonly headers: readonly string[];
  private readonly isHttps: boolean;

  constructor(options: ChatHttpOptions) {
    const url = new URL(options.baseUrl.replace(/\/+$/, '') + '/chat/completions');
    this.isHttps = url.protocol === 'https:';
    this.agent = this.isHttps
      ? new HttpsAgent({ keepAlive: true, scheduling: 'lifo', ...(options.ca === undefined ? {} : { ca: options.ca }) })
      : new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
    // `url.host` is what node:http would send: brackets around IPv6, the port unless the scheme's default.
    const headers = ['Host', url.host, 'Content-Type', 'application/json', 'Accept', 'application/json'];
    const key = options.apiKey;
    if (key !== undefined && key !== '' && key !== 'none') headers.push('Authorization', `Bearer ${key}`);
    else if (url.username !== '' || url.password !== '') {
      const auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      headers.push('Authorization', `Basic ${Buffer.from(auth).toString('base64')}`);
    }
    this.headers = headers;
    this.hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port === '' ? undefined : Number(url.port);
    this.path = url.pathname + url.search;
  }

  /**
   * Sends `body` (a Chat Completions request, `stream: true` when `handlers.onChunk` is given) and returns the
   * call in flight. Never throws: failures reject `result`.
   */
  post(body: unknown, handlers: ChatCallHandlers = {}): ChatCall {
    return new Call(this, JSON.stringify(body), handlers);
  }

  /** As `post`, with the body already serialised (the provider writes its request JSON itself). */
  postJson(payload: string, handlers: ChatCallHandlers = {}): ChatCall {
    return new Call(this, payload, handlers);
  }

  /** @internal The node:http request for one attempt (sent by the caller with `end(payload)`). */
  request(payload: string): ClientRequest {
    const headers = [...this.headers, 'Content-Length', String(Buffer.byteLength(payload))];
    const options: RequestOptions = { hostname: this.hostname, port: this.port, path: this.path, method: 'POST', agent: this.agent, headers };
    return (this.isHttps ? httpsRequest : httpRequest)(options);
  }

  /** @internal Destroys the idle kept-alive sockets (after one of them turned out closed by the server). */
  dropIdleSockets(): void {
    for (const sockets of Object.values(this.agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
  }

  /** Closes idle sockets and stops keeping new ones (shutdown; calls in flight finish). */
  close(): void {
    this.agent.destroy();
  }
}
