/**
 * A minimal HTTP/1.1 client for small JSON exchanges with one server (the Bot API): one request at a time per
 * kept-alive connection, the request written as one string, the answer read whole. `leanFetch` sends grammY's
 * JSON calls through it.
 *
 * Why not node:http: per call it builds a ClientRequest (an OutgoingMessage stream with header validation), goes
 * through the agent's pool bookkeeping, defers the write to the next tick, and builds an IncomingMessage stream
 * with a headers object for an answer that is read whole anyway. On the gateway's hot path (one getUpdates and one
 * sendMessage per message) that was most of a Telegram call's CPU. This client does what those exchanges need:
 * - the request head and body go to the socket in one `write` (one syscall);
 * - the answer: status line, `content-length` or `transfer-encoding: chunked` (or, without either, up to the
 *   close), `connection: close` honoured; 1xx interim answers skipped;
 * - connections are kept alive in a LIFO pool (the warmest socket first), unref'd while idle so they never
 *   keep the process alive, and dropped when the server closes them;
 * - errors keep node's socket error (with its `code`: ECONNREFUSED...); a connection lost before the whole
 *   answer arrived rejects with ECONNRESET; whether the request may have reached the server is for the caller
 *   (`Http1Error.reused` / `answered`, see `leanFetch`'s resend of requests on stale kept-alive sockets).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** Where requests go. */
export interface Http1Target {
  https: boolean;
  /** Host name or IP (an IPv6 literal without brackets). */
  hostname: string;
  port: number | undefined;
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

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/** One kept-alive connection. */
class Conn {
  /** The exchange in progress, if any. */
  current: Exchange | undefined;
  /** Requests this connection has finished. */
  served = 0;
  dead = false;

  constructor(
    readonly socket: Socket,
    private readonly pool: Http1Pool,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.current !== undefined) this.current.onData(chunk);
      else socket.destroy(); // bytes nobody asked for: the connection cannot be trusted any more
    });
    socket.on('error', (err: Error) => this.lost(err));
    socket.on('close', () => this.lost(undefined));
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

/** One request/answer exchange on a connection. */
class Exchange {
  private head: Buffer | undefined;
  private status = 0;
  private length = -1;
  private chunked = false;
  private close = false;
  private body: Buffer[] = [];
  private bodyBytes = 0;
  private answered = false;
  settled = false;

  constructor(
    private readonly conn: Conn,
    private readonly reused: boolean,
    private readonly resolve: (a: Http1Answer) => void,
    private readonly reject: (err: Error) => void,
    private readonly done: (conn: Conn, keep: boolean) => void,
  ) {}

  onData(chunk: Buffer): void {
    this.answered = true;
    if (this.status === 0) {
      const buf = this.head === undefined ? chunk : Buffer.concat([this.head, chunk]);
      const end = buf.indexOf(CRLF_CRLF);
      if (end < 0) {
        this.head = buf;
        return;
      }
      this.head = undefined;
      if (!this.parseHead(buf.toString('latin1', 0, end))) {
        this.fail(Object.assign(new Error('malformed HTTP answer'), { code: 'EPROTO' }));
        return;
      }
      if (this.status < 200) {
        // 1xx interim answer: the real one follows.
        this.status = 0;
        if (buf.length > end + 4) this.onData(buf.subarray(end + 4));
        return;
      }
      if (buf.length > end + 4) this.push(buf.subarray(end + 4));
    } else {
      this.push(chunk);
    }
    this.tryFinish();
  }

  onLost(err: Error | undefined): void {
    if (this.settled) return;
    // Without a length or chunking, the answer is everything up to the close.
    if (err === undefined && this.status !== 0 && this.length < 0 && !this.chunked) {
      this.finish(Buffer.concat(this.body), false);
      return;
    }
    const e: Error & { code?: string } = err ?? Object.assign(new Error('connection closed before the response ended'), { code: 'ECONNRESET' });
    this.settle();
    Object.assign(e, { reused: this.reused, answered: this.answered } satisfies Http1Failure);
    this.reject(e);
  }

  private fail(err: Error): void {
    this.settle();
    this.conn.socket.destroy();
    this.reject(Object.assign(err, { reused: this.reused, answered: this.answered } satisfies Http1Failure));
  }

  private settle(): void {
    this.settled = true;
    if (this.conn.current === this) this.conn.current = undefined;
  }

  private push(b: Buffer): void {
    this.body.push(b);
    this.bodyBytes += b.length;
  }

  private parseHead(head: string): boolean {
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
    if (m === null) return false;
    this.status = Number(m[2]);
    this.close = m[1] === '0';
    this.length = -1;
    this.chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') this.length = Number(value);
      else if (name === 'transfer-encoding') this.chunked = value.split(',').some((v) => v.trim() === 'chunked');
      else if (name === 'connection') {
        const tokens = value.split(',').map((v) => v.trim());
        if (tokens.includes('close')) this.close = true;
        else if (tokens.includes('keep-alive')) this.close = false;
      }
    }
    if (this.chunked) this.length = -1;
    if (Number.isNaN(this.length)) return false;
    return true;
  }

  private tryFinish(): void {
    if (this.settled) return;
    if (this.status === 204 || this.status === 304) {
      this.finish(Buffer.alloc(0), !this.close);
      return;
    }
    if (this.length >= 0) {
      if (this.bodyBytes < this.length) return;
      const all = this.body.length === 1 ? this.body[0]! : Buffer.concat(this.body);
      this.finish(all.subarray(0, this.length), !this.close && this.bodyBytes === this.length);
      return;
    }
    if (this.chunked) {
      const decoded = decodeChunked(this.body.length === 1 ? this.body[0]! : Buffer.concat(this.body));
      if (decoded === undefined) return; // incomplete: wait for more
      if (decoded === 'bad') {
        this.fail(Object.assign(new Error('malformed chunked HTTP answer'), { code: 'EPROTO' }));
        return;
      }
      this.finish(decoded.body, !this.close && decoded.rest === 0);
    }
    // Neither: read up to the close (onLost).
  }

  private finish(body: Buffer, keep: boolean): void {
    this.settle();
    this.done(this.conn, keep);
    this.resolve({ status: this.status, body: body.toString('utf8') });
  }
}

/** Decodes a complete chunked body; `undefined` while incomplete; `rest` = bytes after the final chunk's end. */
function decodeChunked(buf: Buffer): { body: Buffer; rest: number } | undefined | 'bad' {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at, 'latin1');
    if (eol < 0) return undefined;
    const sizeText = buf.toString('latin1', at, eol).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) return 'bad';
    const size = parseInt(sizeText, 16);
    at = eol + 2;
    if (size === 0) {
      // Trailers (none expected) end with an empty line.
      const end = buf.indexOf('\r\n\r\n', at - 2, 'latin1');
      if (end < 0) return undefined;
      return { body: parts.length === 1 ? parts[0]! : Buffer.concat(parts), rest: buf.length - (end + 4) };
    }
    if (buf.length < at + size + 2) return undefined;
    parts.push(buf.subarray(at, at + size));
    at += size + 2;
  }
}

/** Kept-alive connections to one server, and the requests made on them. */
export class Http1Pool {
  private readonly idle: Conn[] = [];
  private readonly hostHeader: string;

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
   * Sends `request` (a complete HTTP/1.1 request: head and body) and resolves with the answer. `fresh` forces a
   * new connection. Returns a handle to tear the exchange down (`cancel(err)`).
   */
  send(request: string, fresh: boolean): { answer: Promise<Http1Answer>; cancel: (err: Error) => void } {
    let conn: Conn | undefined;
    if (!fresh) {
      while ((conn = this.idle.pop()) !== undefined && conn.dead);
    }
    const reused = conn !== undefined;
    conn ??= this.connect();
    conn.socket.ref();
    const c = conn;
    let ex!: Exchange;
    const answer = new Promise<Http1Answer>((resolve, reject) => {
      ex = new Exchange(c, reused, resolve, reject, (done, keep) => this.release(done, keep));
    });
    c.current = ex;
    c.socket.write(request, 'utf8');
    return {
      answer,
      cancel: (err) => {
        // This exchange only: once it settled, the connection may already serve another request.
        if (ex.settled) return;
        if (c.current === ex) c.current = undefined;
        c.socket.destroy(); // its 'close' finds no exchange: this one is settled here
        ex.onLost(err);
      },
    };
  }

  /** Called by a connection that closed. */
  forget(conn: Conn): void {
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private release(conn: Conn, keep: boolean): void {
    conn.served++;
    if (!keep || conn.dead || this.idle.length >= this.maxIdle) {
      conn.socket.destroy();
      return;
    }
    conn.socket.unref();
    this.idle.push(conn);
  }

  private connect(): Conn {
    const { https, hostname, port } = this.target;
    const socket = https
      ? tlsConnect({ host: hostname, port: port ?? 443, servername: hostname.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(hostname) ? undefined : hostname, ALPNProtocols: ['http/1.1'] })
      : netConnect({ host: hostname, port: port ?? 80 });
    return new Conn(socket, this);
  }
}
