/**
 * A small `fetch` for grammY's `client.fetch` option: Bot API calls with a JSON body go over our minimal
 * HTTP/1.1 client (`net/http1.ts`: kept-alive connections, request written in one go, answer read whole); anything
 * else (multipart uploads) goes to the platform's `fetch`.
 *
 * Why: grammY on Node defaults to node-fetch, which wraps every call in WHATWG Request/Headers/Body objects and
 * streams; the end-to-end benchmark profiled grammY + node-fetch at ~11 % of the gateway's CPU. grammY only
 * ever reads `res.json()` from the answer. node:http with the body as one string cut ~20 % of that; going
 * under node:http (no ClientRequest / agent / IncomingMessage per call) cut the client's CPU per call again by
 * about half (see docs/notes/telegram.md).
 *
 * Semantics kept: the request is torn down when `signal` aborts (rejecting with an `AbortError`, as
 * node-fetch does); socket errors keep their `code` (`ECONNREFUSED`…), which `isUnsentError` relies on;
 * HTTP error statuses resolve (grammY reads `ok: false` and `error_code` from the JSON body); credentials in
 * the URL are sent as basic auth. A request still open after `timeoutMs` is destroyed (`ETIMEDOUT`).
 *
 * Per call it does only what the request needs: the URL of each method is parsed once into its request-line
 * prefix (grammY builds the same `<root>/bot<token>/<method>` string every call), the request is one string
 * (head + grammY's body), and the answer is one object whose methods live on its prototype.
 *
 * Keep-alive race: a server closes an idle kept-alive connection just as a request is written on it, and the
 * request fails with ECONNRESET / EPIPE before any answer. The server never read it, so it is sent again (the
 * pattern Node's docs give for `request.reusedSocket`). A burst leaves many sockets idle together, and the
 * server drops them together: the pool may hand the resend another stale socket, so a request is tried on
 * pooled sockets at most `POOLED_STALE_TRIES` times and then once on a connection of its own, which cannot be
 * stale. Without the resend, the 1M-message soak lost ~1 reply in 100k to "Network request for 'sendMessage'
 * failed"; with a single resend a 1,000/s bench still lost 3 replies of a burst now and then.
 */
import { TransientMap } from '../../collections/transient.js';
import { basicAuthLine, Http1Pool, targetOfUrl, type Http1Failure } from '../../net/http1.js';

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
  pool: Http1Pool;
  /** Request line up to the method: ` <path> HTTP/1.1\r\nhost: <host>\r\n` (+ authorization). */
  head: string;
}

/** Bound on cached URLs (a bot calls a dozen methods; this only guards against an unbounded set of URLs). */
const MAX_TARGETS = 256;

/** Tries of one request on pooled sockets that turned out stale, before it gets a connection of its own. */
const POOLED_STALE_TRIES = 2;

/** A header name or value that would break the request head (CR, LF or NUL). */
const UNSAFE_HEADER = /[\r\n\0]/;

/** Builds a fetch for grammY with its own keep-alive connections (one pool per server, shared by every call). */
export function leanFetch(options: LeanFetchOptions = {}): LeanFetch {
  const pools = new Map<string, Http1Pool>();
  const targets = new Map<string, Target>();
  const timeoutMs = options.timeoutMs ?? 500_000;
  /**
   * Exchanges in flight by serial number, in start order, with when each started (ms). A transient registry
   * keyed by number (see collections/transient.ts): a Map keyed by the cancel closures made V8 promote every
   * exchange it ever held.
   */
  const inflight = new TransientMap<number, { cancel: (err: Error) => void; started: number }>();
  let serial = 0;
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = (): void => {
    const now = Date.now();
    for (const [id, { cancel, started }] of inflight) {
      if (now - started < timeoutMs) break; // in start order: the rest are younger
      inflight.delete(id);
      cancel(Object.assign(new Error(`request timed out after ${timeoutMs} ms`), { name: 'TimeoutError', code: 'ETIMEDOUT' }));
    }
    if (inflight.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  const track = (cancel: (err: Error) => void): number => {
    const id = ++serial;
    inflight.set(id, { cancel, started: Date.now() });
    if (sweeper === undefined) {
      sweeper = setInterval(sweep, Math.min(1000, timeoutMs));
      sweeper.unref();
    }
    return id;
  };
  const resolveTarget = (input: string | URL): Target => {
    const key = typeof input === 'string' ? input : input.href;
    let t = targets.get(key);
    if (t === undefined) {
      const url = typeof input === 'string' ? new URL(input) : input;
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`leanFetch: unsupported protocol ${url.protocol}`);
      const target = targetOfUrl(url);
      const poolKey = `${target.https ? 's' : ''}|${target.hostname}|${target.port ?? ''}`;
      let pool = pools.get(poolKey);
      if (pool === undefined) {
        pool = new Http1Pool(target);
        pools.set(poolKey, pool);
      }
      t = { pool, head: ` ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${pool.host}\r\n${basicAuthLine(url)}` };
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
    let request: string;
    let target: Target;
    try {
      target = resolveTarget(input);
      request = (init.method ?? 'GET') + target.head;
      const h = init.headers;
      if (h !== undefined) {
        const entries = (h instanceof Headers || Array.isArray(h) ? h : Object.entries(h)) as Iterable<[string, string]>;
        for (const [k, v] of entries) {
          const name = k.toLowerCase();
          if (name === 'content-length' || name === 'host') continue; // ours
          if (UNSAFE_HEADER.test(k) || UNSAFE_HEADER.test(v)) throw new TypeError(`leanFetch: invalid header ${JSON.stringify(k)}`);
          request += `${k}: ${v}\r\n`;
        }
      }
      request += body === undefined || body === null ? 'content-length: 0\r\n\r\n' : `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const signal = init.signal ?? undefined;
    const send = (staleTries: number): Promise<LeanResponse> => {
      if (signal?.aborted) return Promise.reject(abortError(signal));
      // After stale pooled sockets, a connection of its own: new, so not stale.
      const { answer, cancel } = target.pool.send(request, staleTries >= POOLED_STALE_TRIES);
      const id = track(cancel);
      const onAbort = (): void => cancel(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        inflight.delete(id);
        signal?.removeEventListener('abort', onAbort);
      };
      return answer.then(
        (a) => {
          done();
          return new LeanAnswer(a.status, a.body);
        },
        (err: Error & Partial<Http1Failure> & { code?: string }) => {
          done();
          // The server closed a kept-alive connection as the request was written: it never read it, send again.
          const stale = err.reused === true && err.answered !== true && !signal?.aborted && (err.code === 'ECONNRESET' || err.code === 'EPIPE');
          if (stale) return send(staleTries + 1);
          throw err;
        },
      );
    };
    return send(0);
  };
}
