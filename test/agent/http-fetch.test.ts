/**
 * `httpFetch` edges the provider tests do not reach (they use it for every request): a redirect and a
 * non-string body go to the fallback fetch; an answer streams through a real WHATWG Response.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { httpFetch } from '../../src/agent/http-fetch.js';
import { startKeepAliveRaceServer } from '../support/keepalive-race-server.js';

describe('httpFetch', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('streams a body and passes status and headers through', async () => {
    const base = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'text/plain', 'x-seen': req.headers['x-key'] as string });
        res.write('a:');
        res.end(body);
      });
    });
    const res = await httpFetch()(`${base}/v1/x`, { method: 'POST', headers: { 'X-Key': 'k' }, body: 'hello' });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-seen')).toBe('k');
    expect(await res.text()).toBe('a:hello');
  });

  it('hands redirects and non-string bodies to the fallback', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(307, { location: '/elsewhere' }).end();
    });
    const calls: string[] = [];
    const fallback = (async (input: string | URL | Request) => {
      calls.push(String(input));
      return new Response('moved', { status: 200 });
    }) as typeof fetch;
    const f = httpFetch(fallback);
    expect(await (await f(`${base}/v1/x`, { method: 'POST', body: '{}' })).text()).toBe('moved');
    expect(await (await f(`${base}/v1/y`, { method: 'POST', body: new Uint8Array([1]) })).text()).toBe('moved');
    expect(calls).toEqual([`${base}/v1/x`, `${base}/v1/y`]);
  });
  it('sends a request again once when the server closed the kept-alive connection as it was written', async () => {
    const race = await startKeepAliveRaceServer();
    try {
      const f = httpFetch();
      const post = async (text: string): Promise<unknown> =>
        (await f(`${race.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) })).json();
      expect(await post('first')).toEqual({ ok: true, result: { n: 1 } });
      expect(await post('second')).toEqual({ ok: true, result: { n: 2 } });
      expect(race.connections).toBe(2);
      expect(race.bodies).toEqual(['{"text":"first"}', '{"text":"second"}']);
    } finally {
      await race.close();
    }
  });
});
