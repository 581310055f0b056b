/**
 * A small `fetch` for grammY's `client.fetch` option: Bot API calls with a JSON body go straight over node:http
 * (or https) on a keep-alive agent; anything else (multipart uploads) goes to the platform's `fetch`.
 *
 * Why: grammY on Node defaults to node-fetch, which wraps every call in WHATWG Request/Headers/Body objects and
 * streams; the end-to-end benchmark profiled grammY + node-fetch at ~11 % of the gateway's CPU. grammY only
 * ever reads `res.json()` from the answer, so a plain request with the body as a string and the answer read
 * as one buffer gives the same result for less work (~20 % less CPU per call, both sides of loopback counted).
 *
 * Semantics kept: the request is torn down when `signal` aborts (rejecting with an `AbortError`, as
 * node-fetch does); socket errors keep their `code` (`ECONNREFUSED`…), which `isUnsentError` relies on;
 * HTTP error statuses resolve (grammY reads `ok: false` and `error_code` from the JSON body).
 *
 * Per call it does only what the request needs: the URL of each method is parsed once (grammY builds the same
 * `<root>/bot<token>/<method>` string every call; node would otherwise parse it into a URL and back into
 * request options each time), the body goes to the socket as the string grammY made (no Buffer copy; node
 * writes head and body as one string), and the answer is one object whose methods live on its prototype.
 *
 * Keep-alive race: a server closes an idle kept-alive connection just as a request is written on it, and the
 * request fails with ECONNRESET / EPIPE before any answer. The server never read it, so it is sent again (the
 * pattern Node's docs give for `request.reusedSocket`). A burst leaves many sockets idle together, and the
 * server drops them together: the pool may hand the resend another stale socket, so a request is tried on
 * pooled sockets at most `POOLED_STALE_TRIES` times and then once on a connection of its own (`agent: false`,
 * `connection: close`), which cannot be stale. Without the resend, the 1M-message soak lost ~1 reply in 100k to
 * "Network request for 'sendMessage' failed"; with a single resend a 1,000/s bench still lost 3 replies of a
 * burst now and then.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** The part of a fetch answer grammY uses. */
export interface LeanResponse {
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
  text(): Promise<string>;
}

/** Options of `leanFetch`. */
export interface LeanFetchOptions {
  /** Used for calls whose body is not a string (file uploads). Default: the global `fetch`. */
  fallback?: typeof fetch | undefined;
  /**
   * Bound (ms) on one request, answer included: one still open then is destroyed (`TimeoutError`), so a
   * connection that died without a reset cannot hang a long poll forever. Default 500 s, grammY's own default
   * (it is the bound of calls that skip grammY's timeout, see `directJsonCalls`). Checked about once a second
   * (or every `timeoutMs`, if shorter) by one timer for all requests, not a timer per request.
   */
  timeoutMs?: number | undefined;
}

/** `fetch` signature grammY calls (its option type is the DOM `fetch`). */
export type LeanFetch = (url: string | URL, init?: RequestInit & { agent?: unknown }) => Promise<LeanResponse>;

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const err = new Error('The operation was aborted.');
  err.name = 'AbortError';
  if (reason !== undefined) (err as Error & { cause?: unknown }).cause = reason;
  return err;
}

/** An answer read in full. */
class LeanAnswer implements LeanResponse {
  readonly ok: boolean;
  constructor(
    readonly status: number,
    private readonly body: string,
  ) {
    this.ok = status >= 200 && status < 300;
  }

  json(): Promise<unknown> {
    try {
      return Promise.resolve(JSON.parse(this.body) as unknown);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  text(): Promise<string> {
    return Promise.resolve(this.body);
  }
}

/** Where a URL's requests go: parsed once, reused for every call to it. */
interface Target {
  https: boolean;
  hostname: string;
  port: number | undefined;
  path: string;
}

/** Bound on cached URLs (a bot calls a dozen methods; this only guards against an unbounded set of URLs). */
const MAX_TARGETS = 256;

function targetOf(url: URL): Target | undefined {
  // Credentials in the URL need node's own URL handling (basic auth): not cached.
  if (url.username !== '' || url.password !== '') return undefined;
  const host = url.hostname;
  return {
    https: url.protocol === 'https:',
    // node's request options take an IPv6 literal without its brackets.
    hostname: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host,
    port: url.port === '' ? undefined : Number(url.port),
    path: `${url.pathname}${url.search}`,
  };
}

/** Tries of one request on pooled sockets that turned out stale, before it gets a connection of its own. */
const POOLED_STALE_TRIES = 2;

/** Builds a fetch for grammY with its own keep-alive agents (one per protocol, shared by every call). */
export function leanFetch(options: LeanFetchOptions = {}): LeanFetch {
  const http = new HttpAgent({ keepAlive: true });
  const https = new HttpsAgent({ keepAlive: true });
  const targets = new Map<string, Target | URL>();
  const timeoutMs = options.timeoutMs ?? 500_000;
  /** Requests in flight and when each started (ms). */
  const inflight = new Map<ClientRequest, number>();
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = (): void => {
    const now = Date.now();
    for (const [req, started] of inflight) {
      if (now - started < timeoutMs) break; // in start order: the rest are younger
      inflight.delete(req);
      req.destroy(Object.assign(new Error(`request timed out after ${timeoutMs} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' }));
    }
    if (inflight.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  const track = (req: ClientRequest): void => {
    inflight.set(req, Date.now());
    if (sweeper === undefined) {
      sweeper = setInterval(sweep, Math.min(1000, timeoutMs));
      sweeper.unref();
    }
  };
  const resolveTarget = (input: string | URL): Target | URL => {
    const key = typeof input === 'string' ? input : input.href;
    let t = targets.get(key);
    if (t === undefined) {
      const url = typeof input === 'string' ? new URL(input) : input;
      t = targetOf(url) ?? url;
      if (targets.size < MAX_TARGETS) targets.set(key, t);
    }
    return t;
  };
  return (input, init = {}) => {
    const body = init.body;
    if (body !== undefined && body !== null && typeof body !== 'string') {
      const fallback = options.fallback ?? globalThis.fetch;
      const { agent: _agent, ...rest } = init;
      return fallback(input, { ...rest, duplex: 'half' } as RequestInit) as unknown as Promise<LeanResponse>;
    }
    const target = resolveTarget(input);
    const signal = init.signal ?? undefined;
    const method = init.method ?? 'GET';
    const headers: Record<string, string> = {};
    const h = init.headers;
    if (h !== undefined) {
      if (h instanceof Headers || Array.isArray(h)) for (const [k, v] of h) headers[k] = v;
      else Object.assign(headers, h);
    }
    if (body !== undefined && body !== null) headers['content-length'] = String(Buffer.byteLength(body));
    const isHttps = target instanceof URL ? target.protocol === 'https:' : target.https;
    const agent = isHttps ? https : http;
    const requestOptions: RequestOptions =
      target instanceof URL ? { method, headers, agent } : { hostname: target.hostname, port: target.port, path: target.path, method, headers, agent };
    const send = (staleTries: number): Promise<LeanResponse> => new Promise<LeanResponse>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      // After stale pooled sockets, a connection of its own: new, so not stale; closed after the answer.
      const opts = staleTries < POOLED_STALE_TRIES ? requestOptions : { ...requestOptions, agent: false, headers: { ...headers, connection: 'close' } };
      const req = target instanceof URL ? (isHttps ? httpsRequest : httpRequest)(target, opts) : (isHttps ? httpsRequest : httpRequest)(opts);
      track(req);
      const onAbort = (): void => {
        req.destroy(abortError(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        inflight.delete(req);
        signal?.removeEventListener('abort', onAbort);
      };
      let answered = false;
      req.once('error', (err: Error & { code?: string }) => {
        done();
        const stale = req.reusedSocket && !answered && !signal?.aborted && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
        if (stale) resolve(send(staleTries + 1));
        else reject(err);
      });
      req.once('response', (res: IncomingMessage) => {
        answered = true;
        let first: Buffer | undefined;
        let more: Buffer[] | undefined;
        res.on('data', (c: Buffer) => {
          if (first === undefined) first = c;
          else (more ??= [first]).push(c);
        });
        res.once('error', (err) => {
          done();
          reject(err);
        });
        // A connection lost mid-answer: 'close' without 'end' (Node does not always emit 'error' then).
        res.once('close', () => {
          if (res.complete) return;
          done();
          reject(Object.assign(new Error('connection closed before the response ended'), { code: 'ECONNRESET' }));
        });
        res.once('end', () => {
          done();
          const text = more !== undefined ? Buffer.concat(more).toString('utf8') : first !== undefined ? first.toString('utf8') : '';
          resolve(new LeanAnswer(res.statusCode ?? 0, text));
        });
      });
      // The body as grammY's string: node writes it with the head in one go (a Buffer would be a second copy).
      if (body === undefined || body === null) req.end();
      else req.end(body, 'utf8');
    });
    return send(0);
  };
}
