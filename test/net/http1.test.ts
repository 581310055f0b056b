/**
 * `Http1Pool` against raw TCP servers on loopback: answers fed in pieces the client must put back together (a
 * head, a chunk-size line, a CRLF or a UTF-8 character split across packets), aborts, error statuses, closed
 * kept-alive connections. Each piece is written only after the client's socket delivered the previous one (the
 * pool opens its sockets through `connect`, so the test sees them), so pieces never merge in the kernel and every
 * split is exercised deterministically, without timers. The sockets read into the pool's one shared buffer, as
 * in production.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseParser } from '../../src/agent/sse.js';
import { Http1Pool, type Http1Error, type Http1Exchange, type Http1Head, type Http1Sink } from '../../src/net/http1.js';

interface Rig {
  pool: Http1Pool;
  /** Sockets the pool opened (client side), in order. */
  clients: Socket[];
  /** Server side of each connection, in order. */
  conns: Socket[];
  /** Resolves with the next complete request's server socket (head + content-length body). */
  nextRequest(): Promise<Socket>;
}

let server: Server | undefined;
/** Server-side sockets of the current test, destroyed after it (kept-alive ones would hold `close` up). */
let accepted: Socket[] = [];
afterEach(async () => {
  if (server === undefined) return;
  const s = server;
  server = undefined;
  for (const socket of accepted) socket.destroy();
  accepted = [];
  await new Promise<void>((r) => s.close(() => r()));
});

async function rig(): Promise<Rig> {
  const conns: Socket[] = [];
  const clients: Socket[] = [];
  const waiting: ((s: Socket) => void)[] = [];
  const ready: Socket[] = [];
  const srv = createServer((socket) => {
    conns.push(socket);
    accepted.push(socket);
    socket.setNoDelay(true); // each piece goes out at once (no Nagle wait for the previous one's ACK)
    socket.on('error', () => undefined);
    let buf = '';
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.slice(end + 4 + length);
        const w = waiting.shift();
        if (w) w(socket);
        else ready.push(socket);
      }
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  server = srv;
  const port = (srv.address() as AddressInfo).port;
  const pool = new Http1Pool({
    https: false,
    hostname: '127.0.0.1',
    port,
    // The pool's own `onread` (its shared read buffer) is passed on, so every piece below overwrites the bytes of
    // the one before: a parser that kept a view instead of a copy would read garbage. Each read is announced as a
    // 'delivered' event for `drip`.
    connect: (onread) => {
      const s: Socket = connect({
        host: '127.0.0.1',
        port,
        onread: {
          buffer: onread.buffer,
          callback: (n, buf) => {
            const more = onread.callback(n, buf);
            s.emit('delivered');
            return more;
          },
        },
      });
      clients.push(s);
      return s;
    },
  });
  return {
    pool,
    clients,
    conns,
    nextRequest: () => {
      const s = ready.shift();
      return s ? Promise.resolve(s) : new Promise<Socket>((r) => waiting.push(r));
    },
  };
}

const REQUEST = 'POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n{}';

/** Writes `pieces` to `server` one by one, each once `client` delivered the previous one. */
async function drip(server: Socket, client: Socket, pieces: (string | Buffer)[]): Promise<void> {
  for (const p of pieces) {
    const got = once(client, 'delivered');
    server.write(p);
    await got;
  }
}

/** A sink that records what it hears; `done` settles at the end or the error. */
class Recorder implements Http1Sink {
  events: string[] = [];
  head: Http1Head | undefined;
  body: Buffer[] = [];
  error: Http1Error | undefined;
  readonly done: Promise<void>;
  private settle!: () => void;
  /** Called after each body piece is recorded. */
  onPiece: ((r: Recorder) => void) | undefined;

  constructor() {
    this.done = new Promise((r) => (this.settle = r));
  }

  onHead(head: Http1Head): void {
    this.head = head;
    this.events.push(`head ${head.status}`);
  }

  onBody(chunk: Buffer): void {
    this.body.push(Buffer.from(chunk));
    this.events.push('body');
    this.onPiece?.(this);
  }

  onEnd(): void {
    this.events.push('end');
    this.settle();
  }

  onError(err: Http1Error): void {
    this.error = err;
    this.events.push(`error ${err.code}`);
    this.settle();
  }

  text(): string {
    return Buffer.concat(this.body).toString('utf8');
  }
}

/** A chunked SSE answer: three events in chunks cut mid-line and mid-character, with a chunk extension. */
function sseAnswer(): { bytes: Buffer; events: string[] } {
  const events = ['{"d":"Grü"}', '{"d":"ße 🙂"}', '[DONE]'];
  const body = Buffer.from(events.map((e) => `data: ${e}\n\n`).join(''));
  const cuts = [7, 19, 20, body.indexOf(Buffer.from('🙂')) + 2, body.length];
  const parts: Buffer[] = [];
  let at = 0;
  for (const [i, cut] of cuts.entries()) {
    const piece = body.subarray(at, cut);
    parts.push(Buffer.from(`${piece.length.toString(16)}${i === 1 ? ';ext=1' : ''}\r\n`), piece, Buffer.from('\r\n'));
    at = cut;
  }
  const head = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n';
  return { bytes: Buffer.concat([Buffer.from(head), ...parts, Buffer.from('0\r\n\r\n')]), events };
}

/** Splits `bytes` at `cuts` (ascending offsets). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(bytes.subarray(at, c));
    at = c;
  }
  return out;
}

function sseEvents(r: Recorder): string[] {
  const out: string[] = [];
  const parser = new SseParser((data) => out.push(data));
  for (const b of r.body) parser.push(b);
  return out;
}

describe('Http1Pool: answers read incrementally', () => {
  it('decodes a chunked SSE answer fed one byte per packet, and keeps the connection for the next request', async () => {
    const { pool, clients, conns, nextRequest } = await rig();
    const { bytes, events } = sseAnswer();
    const r = new Recorder();
    pool.exchange(REQUEST, false, r);
    const s = await nextRequest();
    await drip(s, clients[0]!, split(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)));
    await r.done;
    expect(r.events[0]).toBe('head 200');
    expect(r.events.at(-1)).toBe('end');
    expect(r.head!.headers()['content-type']).toBe('text/event-stream');
    expect(sseEvents(r)).toEqual(events);
    expect(pool.idleCount).toBe(1);

    const again = new Recorder();
    pool.exchange(REQUEST, false, again);
    (await nextRequest()).write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    await again.done;
    expect(again.text()).toBe('ok');
    expect(conns).toHaveLength(1);
  });

  it('decodes every two-packet split of a chunked answer (head, chunk-size line, CRLF and data cut anywhere)', async () => {
    const { pool, clients, conns, nextRequest } = await rig();
    const { bytes, events } = sseAnswer();
    for (let cut = 1; cut < bytes.length; cut += 1) {
      const r = new Recorder();
      pool.exchange(REQUEST, false, r);
      await drip(await nextRequest(), clients[0]!, split(bytes, [cut]));
      await r.done;
      expect(sseEvents(r), `cut at ${cut}`).toEqual(events);
      expect(r.events.at(-1)).toBe('end');
    }
    expect(conns).toHaveLength(1);
  });

  it('reads content-length bodies in pieces, skips 1xx answers, and reads a body without length to the close', async () => {
    const { pool, clients, nextRequest } = await rig();
    const r = new Recorder();
    pool.exchange(REQUEST, false, r);
    const body = Buffer.from('{"text":"é"}');
    await drip(await nextRequest(), clients[0]!, [
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-',
      `length: ${body.length}\r\n\r\n`,
      body.subarray(0, 10),
      body.subarray(10),
    ]);
    await r.done;
    expect(r.events).toEqual(['head 200', 'body', 'body', 'end']);
    expect(r.text()).toBe('{"text":"é"}');

    // Read whole (`send`), on the kept-alive connection: the pieces are copied out of the shared read buffer.
    const piecewise = pool.send(REQUEST, false);
    await drip(await nextRequest(), clients[0]!, [`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`, body.subarray(0, 10), body.subarray(10)]);
    await expect(piecewise.answer).resolves.toEqual({ status: 200, body: '{"text":"é"}' });

    const whole = pool.send(REQUEST, false);
    const s = await nextRequest();
    s.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end');
    await expect(whole.answer).resolves.toEqual({ status: 200, body: 'until the end' });
    expect(pool.idleCount).toBe(0);
  });

  it('an error status with a chunked body: head (headers on demand) before the body pieces', async () => {
    const { pool, clients, nextRequest } = await rig();
    const r = new Recorder();
    pool.exchange(REQUEST, false, r);
    await drip(await nextRequest(), clients[0]!, [
      'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nX-A: 1\r\nx-a: 2\r\nTransfer-Encoding: chunked\r\n\r\n',
      '9\r\n{"error":\r\n',
      '1',
      '2\r\n{"message":"busy"}\r',
      '\n1\r\n}\r\n0\r\nx-trailer: t\r\n\r\n',
    ]);
    await r.done;
    expect(r.head!.status).toBe(503);
    expect(r.head!.reason).toBe('Service Unavailable');
    expect(r.head!.headers()).toMatchObject({ 'retry-after': '2', 'x-a': '1, 2' });
    expect(r.text()).toBe('{"error":{"message":"busy"}}');
    expect(r.events.at(-1)).toBe('end');
    expect(pool.idleCount).toBe(1);
  });

  it('abort inside a body callback: nothing more is delivered, even from the same packet, and the socket closes', async () => {
    const { pool, conns, nextRequest } = await rig();
    const r = new Recorder();
    const ex: Http1Exchange = pool.exchange(REQUEST, false, r);
    r.onPiece = () => ex.abort(); // the exchange's sink is only called from socket events, after this line
    const s = await nextRequest();
    const closed = once(conns[0]!, 'close');
    s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n'); // the stream stays open
    await closed;
    expect(r.events).toEqual(['head 200', 'body']);
    expect(r.text()).toBe('a');
    expect(pool.idleCount).toBe(0);
    ex.abort(); // no-op once ended
  });

  it('drops a kept-alive connection the server closed between requests; the next request opens a new one', async () => {
    const { pool, clients, conns, nextRequest } = await rig();
    const first = pool.send(REQUEST, false);
    (await nextRequest()).write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n1');
    await expect(first.answer).resolves.toEqual({ status: 200, body: '1' });
    expect(pool.idleCount).toBe(1);
    const clientClosed = once(clients[0]!, 'close');
    conns[0]!.end();
    await clientClosed;
    expect(pool.idleCount).toBe(0);
    const second = pool.send(REQUEST, false);
    (await nextRequest()).write('HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n2');
    await expect(second.answer).resolves.toEqual({ status: 200, body: '2' });
    expect(conns).toHaveLength(2);
  });

  it('reads the framing headers in any letter case and with blanks around them; HTTP/1.0 and `connection: close` close', async () => {
    const { pool, nextRequest, conns } = await rig();
    const a = pool.send(REQUEST, false);
    (await nextRequest()).write('HTTP/1.1 201\r\nX-Other: 1\r\nCoNTENT-LENGTH: \t 5 \r\nConnection:  Keep-Alive\r\n\r\nhello');
    await expect(a.answer).resolves.toEqual({ status: 201, body: 'hello' });
    expect(pool.idleCount).toBe(1); // kept: no reason phrase is fine, keep-alive honoured
    const b = pool.send(REQUEST, false);
    (await nextRequest()).write('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\ncontent-length: 99\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n');
    await expect(b.answer).resolves.toEqual({ status: 200, body: 'hi' }); // chunked wins over a length
    expect(pool.idleCount).toBe(0); // closed as asked
    const c = pool.send(REQUEST, false);
    (await nextRequest()).write('HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok');
    await expect(c.answer).resolves.toEqual({ status: 200, body: 'ok' });
    expect(pool.idleCount).toBe(0); // HTTP/1.0 without keep-alive
    expect(conns).toHaveLength(2); // the first kept-alive one, then a new one after the close
    for (const head of ['HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n', 'HTTP/1.1 20 OK\r\n\r\n', 'HTTP/2 200\r\n\r\n', 'HTTP/1.1 2000\r\n\r\n']) {
      const bad = pool.send(REQUEST, false);
      (await nextRequest()).write(head);
      await expect(bad.answer).rejects.toMatchObject({ code: 'EPROTO' });
    }
  });

  it('a malformed chunk size fails with EPROTO and closes the socket; a connection lost mid-body with ECONNRESET', async () => {
    const { pool, nextRequest } = await rig();
    const bad = new Recorder();
    pool.exchange(REQUEST, false, bad);
    const first = await nextRequest();
    const closed = once(first, 'close');
    first.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n');
    await bad.done;
    await closed;
    expect(bad.events).toEqual(['head 200', 'error EPROTO']);
    expect(bad.error).toMatchObject({ reused: false, answered: true });

    const lost = new Recorder();
    pool.exchange(REQUEST, false, lost);
    const s = await nextRequest();
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc', () => s.destroy());
    await lost.done;
    expect(lost.events).toEqual(['head 200', 'body', 'error ECONNRESET']);
    expect(lost.error).toMatchObject({ reused: false, answered: true });
  });
});
