/**
 * `leanFetch` under grammY's real `Api` against the fake Bot API (real HTTP on loopback): results, Bot API
 * errors, an abort tearing the request down, a refused connection keeping its code (so `isUnsentError` can
 * retry it), and non-string bodies handed to the fallback.
 */
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Api, GrammyError, HttpError } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import { leanFetch } from '../../../src/channels/telegram/index.js';
import { isUnsentError } from '../../../src/channels/telegram/transport.js';
import { FakeTelegramApi } from '../../../src/fakes/telegram-api.js';
import { startKeepAliveRaceServer } from '../../support/keepalive-race-server.js';

/** Posts `sendMessage` with `text` to a raw test server through `f` and resolves with the parsed answer. */
function sendMessageTo(base: string, f: ReturnType<typeof leanFetch>): (text: string) => Promise<unknown> {
  return (text) =>
    f(`${base}/bot1:x/sendMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) }).then((r) => r.json());
}

describe('leanFetch', () => {
  let fake: FakeTelegramApi | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const apiOf = (f: FakeTelegramApi, apiRoot = f.apiRoot): Api =>
    new Api(f.token, { apiRoot, fetch: leanFetch() as unknown as typeof fetch });

  it('sends JSON calls and reads results and Bot API errors', async () => {
    fake = await FakeTelegramApi.start();
    const api = apiOf(fake);
    const sent = await api.sendMessage(42, 'hello <b>world</b>', { parse_mode: 'HTML' });
    expect(sent.message_id).toBeGreaterThan(0);
    expect(fake.messagesIn(42).map((m) => m.parse_mode)).toEqual(['HTML']);
    const err = await api.editMessageText(42, 999, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrammyError);
    expect((err as GrammyError).description).toMatch(/message to edit not found/);
    expect((await api.getMe()).username).toBe(fake.bot.username);
  });

  it('tears the request down when the signal aborts', async () => {
    fake = await FakeTelegramApi.start();
    const api = apiOf(fake);
    fake.failNext('sendMessage', { kind: 'delay', ms: 5000 });
    const ac = new AbortController();
    const pending = api.sendMessage(42, 'slow', undefined, ac.signal as never).catch((e: unknown) => e);
    // Abort once the request reached the server.
    while (fake.callsOf('sendMessage').length === 0) await new Promise((r) => setImmediate(r));
    ac.abort();
    const err = await pending;
    expect(err).toBeInstanceOf(HttpError);
    expect(((err as HttpError).error as Error).name).toBe('AbortError');
  });

  it('keeps the code of a refused connection, so the call counts as never sent', async () => {
    fake = await FakeTelegramApi.start();
    const closed = fake.apiRoot;
    await fake.close();
    fake = undefined;
    const api = new Api('1:x', { apiRoot: closed, fetch: leanFetch() as unknown as typeof fetch });
    const err = await api.getMe().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect(isUnsentError(err)).toBe(true);
  });

  it('rejects when the connection drops in the middle of the answer', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"ok":tr');
      setImmediate(() => res.socket?.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bot1:x/getMe`;
      const err = await leanFetch()(url, { method: 'POST', body: '{}' }).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('ECONNRESET');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('sends a request again once when the server closed the kept-alive connection as it was written', async () => {
    // The request was never read by the server, so sending it again on a fresh connection is safe.
    const race = await startKeepAliveRaceServer();
    try {
      const post = sendMessageTo(race.url, leanFetch());
      expect(await post('first')).toEqual({ ok: true, result: { n: 1 } });
      expect(await post('second')).toEqual({ ok: true, result: { n: 2 } }); // reset on the reused socket, sent again
      expect(race.connections).toBe(2);
      expect(race.bodies).toEqual(['{"text":"first"}', '{"text":"second"}']);
    } finally {
      await race.close();
    }
  });

  it('keeps resending while the pool hands it stale kept-alive sockets (a burst left several idle at once)', async () => {
    // Three calls at once leave three kept-alive sockets; the server then drops each of them unread. The next
    // call meets them one after another (a retry may get another stale socket, not a fresh one) and must
    // still go through, on a new connection.
    const race = await startKeepAliveRaceServer();
    try {
      const post = sendMessageTo(race.url, leanFetch());
      await Promise.all([post('a'), post('b'), post('c')]);
      expect(race.connections).toBe(3);
      expect(await post('after the burst')).toMatchObject({ ok: true });
      expect(race.connections).toBe(4);
      expect(race.bodies.at(-1)).toBe('{"text":"after the burst"}');
    } finally {
      await race.close();
    }
  });

  it('hands a non-string body (an upload) to the fallback fetch', async () => {
    const seen: unknown[] = [];
    const fallback = (async (_url: unknown, init?: RequestInit) => {
      seen.push(init?.body);
      return new Response(JSON.stringify({ ok: true, result: true }), { status: 200 });
    }) as typeof fetch;
    const lean = leanFetch({ fallback });
    const body = new Uint8Array([1, 2, 3]);
    const res = await lean('http://127.0.0.1:9/bot1:x/sendDocument', { method: 'POST', body });
    expect(await res.json()).toEqual({ ok: true, result: true });
    expect(seen).toEqual([body]);
  });

  it('reuses each parsed URL: bytes counted in UTF-8, answers in many chunks, IPv6 hosts, query and credentials kept', async () => {
    const seen: Array<{ url: string; length: string | undefined; auth: string | undefined; body: string }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', length: req.headers['content-length'], auth: req.headers.authorization, body });
        res.writeHead(200, { 'content-type': 'application/json' }); // chunked: the answer comes in pieces
        const answer = JSON.stringify({ ok: true, result: { echo: body, pad: 'é'.repeat(70_000) } });
        res.write(answer.slice(0, 10));
        res.write(answer.slice(10, 40_000));
        res.end(answer.slice(40_000));
      });
    });
    await new Promise<void>((r) => server.listen(0, '::1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const f = leanFetch();
      const text = 'привет 👋 <b>';
      for (let i = 0; i < 2; i++) {
        const res = await f(`http://[::1]:${port}/bot1:x/sendMessage?x=0`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
        const json = (await res.json()) as { result: { echo: string; pad: string } };
        expect(JSON.parse(json.result.echo)).toEqual({ text });
        expect(json.result.pad).toHaveLength(70_000);
      }
      await f(`http://user:pw@[::1]:${port}/bot1:x/getMe`, { method: 'POST', body: '{}' });
      expect(seen.map((r) => r.url)).toEqual(['/bot1:x/sendMessage?x=0', '/bot1:x/sendMessage?x=0', '/bot1:x/getMe']);
      expect(seen[0]!.length).toBe(String(Buffer.byteLength(JSON.stringify({ text }))));
      expect(seen[2]!.auth).toBe(`Basic ${Buffer.from('user:pw').toString('base64')}`);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('reads answers that end with the connection (HTTP/1.0, no length) and honours connection: close', async () => {
    // Raw answers, one per connection, in the shapes node:http would also accept.
    const answers = [
      'HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{"ok":true,"result":1}',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 22\r\n\r\n{"ok":true,"result":2}',
      'HTTP/1.1 200 OK\r\ncontent-length: 22\r\n\r\n{"ok":true,"result":3}',
    ];
    let connections = 0;
    const sockets: Array<{ destroy(): void }> = [];
    const server = createNetServer((socket) => {
      sockets.push(socket);
      const answer = answers[connections++] ?? '';
      socket.on('error', () => undefined);
      socket.once('data', () => {
        if (answer.startsWith('HTTP/1.0')) socket.end(answer);
        else socket.write(answer);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const post = sendMessageTo(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, leanFetch());
      expect(await post('a')).toEqual({ ok: true, result: 1 });
      expect(await post('b')).toEqual({ ok: true, result: 2 });
      expect(await post('c')).toEqual({ ok: true, result: 3 });
      expect(connections).toBe(3); // none of the first two connections was reused
    } finally {
      for (const socket of sockets) socket.destroy(); // the third is kept alive by the client
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('an abort after the answer does not touch the next request on the same kept-alive connection', async () => {
    fake = await FakeTelegramApi.start();
    const api = apiOf(fake);
    const ac = new AbortController();
    await api.sendMessage(42, 'first', undefined, ac.signal as never);
    const second = api.sendMessage(42, 'second');
    ac.abort(); // the first call's signal: its exchange is over
    expect((await second).text).toBe('second');
  });
});

