/**
 * A minimal HTTP/1.1 client for one server: one request at a time per kept-alive connection, the request written
 * as one string, the answer's body handed over as it is decoded. Two users: the Telegram adapter's `leanFetch`
 * (JSON calls, answers read whole: `send`) and the model client `ChatHttpClient` (JSON answers, SSE streams and
 * error bodies read incrementally: `exchange` with an `Http1Sink`).
 *
 * Why not node:http: per call it builds a ClientRequest (an OutgoingMessage stream with header validation), goes
 * through the agent's pool bookkeeping, defers the write to the next tick, and builds an IncomingMessage stream
 * with a headers object, parser buffers and slices. On the gateway's hot path (getUpdates, sendMessage and one
 * model call per message) that was most of each call's CPU and ~15 % of the bytes allocated per message. This
 * client does what those exchanges need:
 * - the request head and body go to the socket in one `write` (one syscall);
 * - the answer: status line, then the body by `content-length` or `transfer-encoding: chunked` (decoded
 *   incrementally: a chunk-size line or a head split across packets waits for the rest), or, without either, up
 *   to the close; `connection: close` and HTTP/1.0 honoured; 1xx interim answers skipped; headers parsed into a
 *   record only when asked for (`Http1Head.headers`: error answers);
 * - plain-TCP connections read into one shared buffer (node's `onread`): no ArrayBuffer per read, so a body piece
 *   given to a sink is only lent (`Http1Sink.onBody`);
 * - connections are kept alive in a LIFO pool (the warmest socket first), unref'd while idle so they never
 *   keep the process alive, and dropped when the server closes them or sends bytes nobody asked for;
 * - `abort()` destroys the exchange's socket at once: its sink hears nothing more, not even the rest of a packet
 *   being decoded;
 * - errors keep node's socket error (with its `code`: ECONNREFUSED...); a connection lost before the whole
 *   answer arrived fails with ECONNRESET; whether the request may have reached the server is for the caller
 *   (`Http1Failure.reused` / `answered`: see the resends of requests on stale kept-alive sockets in `leanFetch`
 *   and `ChatHttpClient`).
 */
import { connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** Where requests go. */
export interface Http1Target {
  https: boolean;
  /** Host name or IP (an IPv6 literal without brackets). */
  hostname: string;
  port: number | undefined;
  /** Extra trusted CA certificate(s) (PEM) for https with a private CA; default: Node's store. */
  ca?: string | Buffer | (string | Buffer)[] | undefined;
  /**
   * Opens a connection instead of node:net / node:tls to `hostname:port`: a unix socket, a proxy tunnel, or a test
   * that watches the bytes arrive (the pool's own listeners are added after it returns). A plain socket should
   * pass `onread` on to `net.connect` (the pool's shared read buffer, see READ_BUFFER); one that does not is read
   * through 'data' events instead.
   */
  connect?: ((onread: Http1OnRead) => Socket) | undefined;
}

/** node's `onread` socket option as the pool fills it: one shared buffer, a callback per connection. */
export type Http1OnRead = OnReadOpts & { buffer: Buffer };

/** The target of an http(s) URL: an IPv6 literal without its brackets, the port only when the URL names one. */
export function targetOfUrl(url: URL): Http1Target {
  const host = url.hostname;
  return {
    https: url.protocol === 'https:',
    hostname: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host,
    port: url.port === '' ? undefined : Number(url.port),
  };
}

/** The `authorization: Basic` header line (CRLF included) for credentials in a URL, as node:http sends it; '' when none. */
export function basicAuthLine(url: URL): string {
  if (url.username === '' && url.password === '') return '';
  const auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return `authorization: Basic ${Buffer.from(auth).toString('base64')}\r\n`;
}

/** An answer read in full. */
export interface Http1Answer {
  status: number;
  body: string;
}

/** What the caller needs to know about a failed exchange to decide whether resending is safe. */
export interface Http1Failure {
  /** The request went out on a kept-alive connection that had served an earlier request. */
  reused: boolean;
  /** Some of the answer had arrived. */
  answered: boolean;
}

/** A failed exchange's error: node's socket error (`code`) or ours (ECONNRESET, EPROTO), with `Http1Failure`. */
export type Http1Error = Error & Http1Failure & { code?: string };

/** The head of an answer, given to `Http1Sink.onHead` before any of the body. */
export interface Http1Head {
  readonly status: number;
  /** The status line's reason phrase ('' when none). */
  readonly reason: string;
  /** Every header by lower-case name (repeated ones joined with `, `), parsed from the head on first call. */
  headers(): Record<string, string>;
}

/**
 * Receives one exchange's answer as it arrives. Called as methods, so one object (the caller's per-request state)
 * serves without a closure per callback. Exactly one of `onEnd` / `onError` ends an exchange, unless it was
 * aborted (then nothing more is called). Callbacks should not throw; one that does (before the end) fails the
 * exchange with its error.
 */
export interface Http1Sink {
  /** The final answer's head (1xx interim answers skipped). */
  onHead(head: Http1Head): void;
  /**
   * A decoded piece of the body: a view into the pool's read buffer, valid only during this call (the next read
   * overwrites it). A sink that keeps bytes for later copies them (`Buffer.from(chunk)`).
   */
  onBody(chunk: Buffer): void;
  /** The body is complete; the connection is already back in the pool (or closed). */
  onEnd(): void;
  /** The exchange failed; its connection is closed. */
  onError(err: Http1Error): void;
}

/** An exchange in flight. */
export interface Http1Exchange {
  /** Destroys the exchange's socket now; its sink hears nothing more. No-op once the exchange ended. */
  abort(): void;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/**
 * The one buffer every plain-TCP connection reads into (node's `onread` option). Without it each read is a fresh
 * 64 KB allocation trimmed to size and wrapped in its own ArrayBuffer: ~4 per message at 1,000 msgs/s, and V8
 * frees them in the scavenge's array-buffer sweep (up to ~1.9 ms of a 2-3 ms pause when it had not finished in
 * the background). One buffer serves every socket because node calls `onread`'s callback synchronously, before
 * the next read: a read's bytes are decoded (or copied) before anything else is read into it. TLS sockets do not
 * take `onread`; they read as usual.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);
const LF = 10;
const CR = 13;
/** Bound on an answer head and on a chunk-size or trailer line (a server sending more is not speaking HTTP). */
const MAX_HEAD = 64 * 1024;
const MAX_LINE = 4096;

// Where an exchange is in the answer.
const S_HEAD = 0;
/** `remaining` bytes of a content-length body. */
const S_LENGTH = 1;
const S_CHUNK_SIZE = 2;
/** `remaining` bytes of the current chunk. */
const S_CHUNK_DATA = 3;
/** The CRLF after a chunk's data (`remaining` of its 2 bytes still expected). */
const S_CHUNK_END = 4;
/** Trailer lines after the last chunk, up to an empty line. */
const S_TRAILER = 5;
/** No length, no chunking: the body runs to the close. */
const S_TO_CLOSE = 6;
const S_DONE = 7;

function protocolError(message: string): Error {
  return Object.assign(new Error(message), { code: 'EPROTO' });
}

/** One kept-alive connection. */
class Conn {
  /** The exchange in progress, if any. */
  current: Exchange | undefined;
  dead = false;

  readonly socket: Socket;

  /** `open` makes the socket, passing `onread` on where it can (node then emits no 'data' events). */
  constructor(
    open: (onread: Http1OnRead) => Socket,
    private readonly pool: Http1Pool,
  ) {
    const socket = open({
      buffer: READ_BUFFER,
      callback: (n, buf) => {
        this.onRead((buf as Buffer).subarray(0, n));
        return true; // keep reading
      },
    });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onRead(chunk)); // a socket opened without `onread` (TLS, a test's)
    socket.on('error', (err: Error) => this.lost(err));
    socket.on('close', () => this.lost(undefined));
  }

  /** Bytes read from the socket: a view valid only during this call (see `Http1Sink.onBody`). */
  onRead(chunk: Buffer): void {
    const ex = this.current;
    if (ex === undefined) {
      this.socket.destroy(); // bytes nobody asked for: the connection cannot be trusted any more
      return;
    }
    try {
      ex.onData(chunk);
    } catch (err) {
      if (ex.ended) throw err;
      ex.fail(err as Error);
    }
  }

  private lost(err: Error | undefined): void {
    if (this.dead) return;
    this.dead = true;
    this.pool.forget(this);
    const ex = this.current;
    this.current = undefined;
    ex?.onLost(err);
  }
}

/** One request/answer exchange on a connection: the answer's incremental parser. */
class Exchange implements Http1Head, Http1Exchange {
  status = 0;
  reason = '';
  /** The answer ended (completed, failed or aborted): the sink hears nothing more. */
  ended = false;
  /** Some of the answer had arrived. */
  answered = false;
  private state = S_HEAD;
  /** Bytes of an incomplete head or chunk-size / trailer line. */
  private pending: Buffer | undefined;
  private remaining = 0;
  private length = -1;
  private chunked = false;
  private close = false;
  private rawHead = '';
  private parsed: Record<string, string> | undefined;

  constructor(
    private readonly conn: Conn,
    private readonly pool: Http1Pool,
    /** The request went out on a connection that had served an earlier one. */
    readonly reused: boolean,
    private readonly sink: Http1Sink,
  ) {}

  abort(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.conn.current === this) this.conn.current = undefined;
    this.conn.socket.destroy(); // its 'close' finds no exchange
  }

  headers(): Record<string, string> {
    if (this.parsed !== undefined) return this.parsed;
    const out: Record<string, string> = {};
    const lines = this.rawHead.split('\r\n');
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
    }
    this.parsed = out;
    return out;
  }

  onData(chunk: Buffer): void {
    this.answered = true;
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    const n = buf.length;
    let at = 0;
    while (at < n) {
      switch (this.state) {
        case S_HEAD: {
          const end = buf.indexOf(CRLF_CRLF, at);
          if (end < 0) {
            if (n - at > MAX_HEAD) return this.fail(protocolError('HTTP answer head too large'));
            this.pending = Buffer.from(buf.subarray(at)); // a copy: `buf` may be the shared read buffer
            return;
          }
          if (!this.parseHead(buf.toString('latin1', at, end))) return this.fail(protocolError('malformed HTTP answer'));
          at = end + 4;
          if (this.status < 200) {
            this.status = 0; // 1xx interim answer: the real one follows
            break;
          }
          this.sink.onHead(this);
          if (this.ended) return;
          if (this.status === 204 || this.status === 304 || (this.length === 0 && !this.chunked)) return this.finish(at === n);
          if (this.chunked) this.state = S_CHUNK_SIZE;
          else if (this.length > 0) {
            this.state = S_LENGTH;
            this.remaining = this.length;
          } else this.state = S_TO_CLOSE;
          break;
        }
        case S_LENGTH:
        case S_CHUNK_DATA: {
          const take = Math.min(this.remaining, n - at);
          const piece = at === 0 && take === n ? buf : buf.subarray(at, at + take);
          at += take;
          this.remaining -= take;
          this.sink.onBody(piece);
          if (this.ended) return;
          if (this.remaining > 0) break;
          if (this.state === S_LENGTH) return this.finish(at === n);
          this.state = S_CHUNK_END;
          this.remaining = 2;
          break;
        }
        case S_CHUNK_END: {
          // CRLF (a bare LF tolerated) after a chunk's data.
          const b = buf[at]!;
          if (this.remaining === 2 && b === CR) this.remaining = 1;
          else if (b === LF) this.state = S_CHUNK_SIZE;
          else return this.fail(protocolError('malformed chunked HTTP answer'));
          at += 1;
          break;
        }
        case S_CHUNK_SIZE:
        case S_TRAILER: {
          const lf = buf.indexOf(LF, at);
          if (lf < 0) {
            if (n - at > MAX_LINE) return this.fail(protocolError('malformed chunked HTTP answer'));
            this.pending = Buffer.from(buf.subarray(at));
            return;
          }
          const end = lf > at && buf[lf - 1] === CR ? lf - 1 : lf;
          const start = at;
          at = lf + 1;
          if (this.state === S_TRAILER) {
            if (end === start) return this.finish(at === n); // the empty line after the trailers (if any)
            break;
          }
          const size = chunkSize(buf, start, end);
          if (size < 0) return this.fail(protocolError('malformed chunked HTTP answer'));
          if (size === 0) this.state = S_TRAILER;
          else {
            this.state = S_CHUNK_DATA;
            this.remaining = size;
          }
          break;
        }
        case S_TO_CLOSE: {
          this.sink.onBody(at === 0 ? buf : buf.subarray(at));
          return;
        }
        default:
          return; // S_DONE: the exchange ended (finish released the connection)
      }
    }
  }

  onLost(err: Error | undefined): void {
    if (this.ended) return;
    // Without a length or chunking, the answer is everything up to the close.
    if (err === undefined && this.state === S_TO_CLOSE) {
      this.finish(false);
      return;
    }
    const e: Error & { code?: string } = err ?? Object.assign(new Error('connection closed before the response ended'), { code: 'ECONNRESET' });
    this.end();
    this.sink.onError(Object.assign(e, { reused: this.reused, answered: this.answered } satisfies Http1Failure));
  }

  /** Fails the exchange with `err` and closes its connection. */
  fail(err: Error): void {
    if (this.ended) return;
    this.end();
    this.conn.socket.destroy();
    this.sink.onError(Object.assign(err, { reused: this.reused, answered: this.answered } satisfies Http1Failure));
  }

  private end(): void {
    this.ended = true;
    this.state = S_DONE;
    this.pending = undefined;
    if (this.conn.current === this) this.conn.current = undefined;
  }

  /** The body is complete: the connection goes back to the pool (`keep`: nothing unexpected follows). */
  private finish(keep: boolean): void {
    this.end();
    this.pool.release(this.conn, keep && !this.close);
    this.sink.onEnd();
  }

  /**
   * Reads the status line and the three headers that frame the body. Scans the head in place (no regex, no
   * line array, no lower-cased copies): it runs for every answer (getUpdates, sendMessage, each model call).
   */
  private parseHead(head: string): boolean {
    this.rawHead = head;
    this.parsed = undefined;
    let eol = head.indexOf('\r\n');
    const statusEnd = eol < 0 ? head.length : eol;
    // `HTTP/1.<0|1> <3 digits>[ <reason>]`
    if (statusEnd < 12 || !head.startsWith('HTTP/1.')) return false;
    const minor = head.charCodeAt(7);
    if ((minor !== 48 && minor !== 49) || head.charCodeAt(8) !== 32) return false;
    let status = 0;
    for (let i = 9; i < 12; i++) {
      const d = head.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return false;
      status = status * 10 + d;
    }
    if (statusEnd > 12 && head.charCodeAt(12) !== 32) return false;
    const reason = statusEnd > 13 ? head.slice(13, statusEnd) : '';
    if (reason.includes('\n') || reason.includes('\r')) return false;
    this.status = status;
    this.reason = reason;
    this.close = minor === 48;
    this.length = -1;
    this.chunked = false;
    for (let at = statusEnd + 2; eol >= 0 && at < head.length; at = eol + 2) {
      eol = head.indexOf('\r\n', at);
      const end = eol < 0 ? head.length : eol;
      const colon = head.indexOf(':', at);
      if (colon <= at || colon >= end) continue;
      if (headerIs(head, at, colon, 'content-length')) {
        const length = digitsValue(head, colon + 1, end);
        if (length < 0) return false;
        this.length = length;
      } else if (headerIs(head, at, colon, 'transfer-encoding')) {
        this.chunked = head
          .slice(colon + 1, end)
          .toLowerCase()
          .split(',')
          .some((v) => v.trim() === 'chunked');
      } else if (headerIs(head, at, colon, 'connection')) {
        const tokens = head
          .slice(colon + 1, end)
          .toLowerCase()
          .split(',')
          .map((v) => v.trim());
        if (tokens.includes('close')) this.close = true;
        else if (tokens.includes('keep-alive')) this.close = false;
      }
    }
    if (this.chunked) this.length = -1;
    return true;
  }
}

const isBlank = (c: number): boolean => c === 32 || c === 9;

/** Whether `s[start, end)`, without surrounding blanks, is the header name `lower` in any letter case. */
function headerIs(s: string, start: number, end: number, lower: string): boolean {
  while (start < end && isBlank(s.charCodeAt(start))) start++;
  while (end > start && isBlank(s.charCodeAt(end - 1))) end--;
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = s.charCodeAt(start + i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The value of `s[start, end)` as 1 to 15 decimal digits between blanks; -1 when it is anything else. */
function digitsValue(s: string, start: number, end: number): number {
  while (start < end && isBlank(s.charCodeAt(start))) start++;
  while (end > start && isBlank(s.charCodeAt(end - 1))) end--;
  if (end === start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The hex size of a chunk-size line `buf[start, end)` (extensions after `;` ignored); -1 when malformed. */
function chunkSize(buf: Buffer, start: number, end: number): number {
  let size = 0;
  let digits = 0;
  let i = start;
  for (; i < end; i++) {
    const c = buf[i]!;
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else break;
    size = size * 16 + d;
    digits += 1;
  }
  if (digits === 0 || digits > 12) return -1;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 59) break; // ';' starts extensions
    if (c !== 32 && c !== 9) return -1;
  }
  return size;
}

/** The whole-answer reader behind `Http1Pool.send`. */
class WholeAnswer implements Http1Sink {
  readonly answer: Promise<Http1Answer>;
  exchange!: Exchange;
  private resolve!: (a: Http1Answer) => void;
  private reject!: (err: Error) => void;
  private status = 0;
  private parts: Buffer[] = [];

  constructor() {
    this.answer = new Promise<Http1Answer>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Tears the exchange down and rejects with `err` (with `Http1Failure`). No-op once it ended. */
  readonly cancel = (err: Error): void => {
    const ex = this.exchange;
    if (ex.ended) return;
    ex.abort();
    this.reject(Object.assign(err, { reused: ex.reused, answered: ex.answered } satisfies Http1Failure));
  };

  onHead(head: Http1Head): void {
    this.status = head.status;
  }

  onBody(chunk: Buffer): void {
    this.parts.push(Buffer.from(chunk)); // the chunk is only lent (Http1Sink.onBody)
  }

  onEnd(): void {
    const p = this.parts;
    const body = p.length === 0 ? '' : p.length === 1 ? p[0]!.toString('utf8') : Buffer.concat(p).toString('utf8');
    this.resolve({ status: this.status, body });
  }

  onError(err: Http1Error): void {
    this.reject(err);
  }
}

/** Kept-alive connections to one server, and the requests made on them. */
export class Http1Pool {
  private readonly idle: Conn[] = [];
  private readonly hostHeader: string;
  private closed = false;

  constructor(
    private readonly target: Http1Target,
    /** Most idle connections kept (others are closed when they finish). */
    private readonly maxIdle = 256,
  ) {
    const host = target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname;
    const defaultPort = target.https ? 443 : 80;
    this.hostHeader = target.port === undefined || target.port === defaultPort ? host : `${host}:${target.port}`;
  }

  /** The `host` header value for this server. */
  get host(): string {
    return this.hostHeader;
  }

  /** Idle connections held (for tests). */
  get idleCount(): number {
    return this.idle.length;
  }

  /**
   * Sends `request` (a complete HTTP/1.1 request: head and body) and feeds the answer to `sink` as it arrives.
   * `fresh` forces a new connection. The sink is only ever called from socket events, never before this returns.
   */
  exchange(request: string, fresh: boolean, sink: Http1Sink): Http1Exchange {
    return this.start(request, fresh, sink);
  }

  /**
   * Sends `request` and resolves with the whole answer. `fresh` forces a new connection. Returns a handle to
   * tear the exchange down (`cancel(err)` rejects `answer` with `err`).
   */
  send(request: string, fresh: boolean): { answer: Promise<Http1Answer>; cancel: (err: Error) => void } {
    const whole = new WholeAnswer();
    whole.exchange = this.start(request, fresh, whole);
    return whole;
  }

  /** Closes the idle connections (after one of them turned out closed by the server: the others are as old). */
  dropIdle(): void {
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
  }

  /** Closes the idle connections and keeps no more (shutdown; exchanges in flight finish). */
  close(): void {
    this.closed = true;
    this.dropIdle();
  }

  /** Called by a connection that closed. */
  forget(conn: Conn): void {
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Called by an exchange that completed: its connection is kept for the next request, or closed. */
  release(conn: Conn, keep: boolean): void {
    if (!keep || conn.dead || this.closed || this.idle.length >= this.maxIdle) {
      conn.socket.destroy();
      return;
    }
    conn.socket.unref();
    this.idle.push(conn);
  }

  private start(request: string, fresh: boolean, sink: Http1Sink): Exchange {
    let conn: Conn | undefined;
    if (!fresh) {
      while ((conn = this.idle.pop()) !== undefined && conn.dead);
    }
    const reused = conn !== undefined;
    conn ??= this.connect();
    conn.socket.ref();
    const ex = new Exchange(conn, this, reused, sink);
    conn.current = ex;
    conn.socket.write(request, 'utf8');
    return ex;
  }

  private connect(): Conn {
    const { https, hostname, port, ca, connect } = this.target;
    return new Conn((onread) => {
      if (connect !== undefined) return connect(onread);
      if (https) {
        return tlsConnect({
          host: hostname,
          port: port ?? 443,
          servername: hostname.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(hostname) ? undefined : hostname,
          ALPNProtocols: ['http/1.1'],
          ...(ca === undefined ? {} : { ca }),
        });
      }
      return netConnect({ host: hostname, port: port ?? 80, onread });
    }, this);
  }
}
