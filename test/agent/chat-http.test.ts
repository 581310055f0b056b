/**
 * `ChatHttpClient` against a raw node:http server on loopback (what the fake model server cannot send: odd
 * chunking, error events, malformed payloads, arbitrary statuses and bodies), and the error mapping
 * `classifyError` applies to what it reports. No timers: every step waits on a server or client event.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ChatApiError, ChatHttpClient, ERROR_BODY_LIMIT } from '../../src/agent/chat-http.js';
import { ProviderError } from '../../src/agent/errors.js';
import { ProviderClient } from '../../src/agent/provider.js';
import { classifyError } from '../../src/agent/retry.js';
import { startKeepAliveRaceServer } from '../support/keepalive-race-server.js';
import { LOOPBACK_CERT, LOOPBACK_KEY } from '../support/loopback-tls.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** Serves each request with the next handler (the last one repeats); resolves with the base URL. */
async function serve(...handlers: Handler[]): Promise<{ url: string; seen: { headers: IncomingMessage['headers']; body: string }[] }> {
  const seen: { headers: IncomingMessage['headers']; body: string }[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      const h = handlers[Math.min(seen.length - 1, handlers.length - 1)]!;
      h(req, res, body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, seen };
}

const sse = (res: ServerResponse): ServerResponse => res.writeHead(200, { 'content-type': 'text/event-stream' });
const delta = (content: string, finish: string | null = null): string => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('ChatHttpClient: requests and streams', () => {
  it('POSTs the JSON body with its length and the bearer key, and resolves a whole answer', async () => {
    const { url, seen } = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices":[{"message":{"content":"hi"}}]}'));
    const answer = await new ChatHttpClient({ baseUrl: `${url}/`, apiKey: 'sk-1' }).post({ model: 'm', messages: [{ role: 'user', content: 'é' }] }).result;
    expect(answer).toEqual({ choices: [{ message: { content: 'hi' } }] });
    expect(seen[0]!.body).toBe('{"model":"m","messages":[{"role":"user","content":"é"}]}');
    expect(seen[0]!.headers).toMatchObject({ authorization: 'Bearer sk-1', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(seen[0]!.body)) });
    expect(seen[0]!.headers.host).toBe(new URL(url).host);
    await new ChatHttpClient({ baseUrl: url, apiKey: 'none' }).post({}).result;
    expect(seen[1]!.headers.authorization).toBeUndefined();
    // Credentials in the URL: Basic auth, as node:http's `auth` option sent it (the head is ours now).
    const withUser = new URL(url);
    withUser.username = 'u';
    withUser.password = 'p w';
    await new ChatHttpClient({ baseUrl: withUser.href }).post({}).result;
    expect(seen[2]!.headers.authorization).toBe(`Basic ${Buffer.from('u:p w').toString('base64')}`);
  });

  it('streams chunks written in odd pieces (a multibyte character split across writes) and stops at [DONE]', async () => {
    const { url } = await serve((_req, res) => {
      const bytes = Buffer.from(`: ping\r\n${delta('Grü')}${delta('ße 🙂', 'stop')}data: [DONE]\n\n`);
      sse(res);
      // One write per 5 bytes, each after the previous one was flushed (the kernel may still merge them; sse.test.ts
      // covers every split deterministically).
      let i = 0;
      const next = (): void => {
        if (i >= bytes.length) {
          res.end();
          return;
        }
        res.write(bytes.subarray(i, i + 5), next);
        i += 5;
      };
      next();
    });
    const chunks: unknown[] = [];
    let activity = 0;
    const call = new ChatHttpClient({ baseUrl: url }).post({ stream: true }, { onChunk: (c) => chunks.push(c), onActivity: () => (activity += 1) });
    await expect(call.result).resolves.toBeUndefined();
    const text = chunks.map((c) => (c as { choices: { delta: { content: string } }[] }).choices[0]!.delta.content).join('');
    expect(text).toBe('Grüße 🙂');
    expect(activity).toBeGreaterThanOrEqual(2); // the response head and at least one body chunk
  });

  it('ignores anything after [DONE] and settles when the body ends', async () => {
    const { url } = await serve((_req, res) => sse(res).end(`${delta('a', 'stop')}data: [DONE]\n\ndata: {"error":{"message":"late"}}\n\ndata: not json\n\n`));
    const chunks: unknown[] = [];
    await expect(new ChatHttpClient({ baseUrl: url }).post({}, { onChunk: (c) => chunks.push(c) }).result).resolves.toBeUndefined();
    expect(chunks).toHaveLength(1);
  });

  it('a chunk callback that throws fails the call with its error and closes the request', async () => {
    let serverRes: ServerResponse | undefined;
    const { url } = await serve((_req, res) => {
      serverRes = res;
      sse(res).write(`${delta('a')}${delta('b')}`);
    });
    const boom = new Error('consumer failed');
    let calls = 0;
    const call = new ChatHttpClient({ baseUrl: url }).post({}, {
      onChunk: () => {
        calls += 1;
        throw boom;
      },
    });
    await expect(call.result).rejects.toBe(boom);
    expect(calls).toBe(1);
    if (!serverRes!.destroyed) await once(serverRes!, 'close');
  });

  it('an abort inside a chunk callback delivers nothing more, rejects with the reason and closes the socket', async () => {
    let serverRes: ServerResponse | undefined;
    const { url } = await serve((_req, res) => {
      serverRes = res;
      sse(res).write(`${delta('a')}${delta('b')}`); // two events in one write, then the stream stays open
    });
    const client = new ChatHttpClient({ baseUrl: url });
    const reason = new Error('stop');
    const chunks: unknown[] = [];
    const call = client.post({ stream: true }, {
      onChunk: (c) => {
        chunks.push(c);
        call.abort(reason);
      },
    });
    await expect(call.result).rejects.toBe(reason);
    expect(chunks).toHaveLength(1);
    if (!serverRes!.destroyed) await once(serverRes!, 'close');
    expect(serverRes!.writableFinished).toBe(false);
  });

  it('a payload with an `error` object, or an `event: error`, is a server failure mid-stream: retryable as a 500', async () => {
    const { url } = await serve(
      (_req, res) => sse(res).end(`${delta('x')}data: {"error":{"message":"model crashed","code":"server_error"}}\n\n`),
      (_req, res) => sse(res).end('event: error\ndata: {"message":"overloaded"}\n\n'),
    );
    const client = new ChatHttpClient({ baseUrl: url });
    for (const detail of ['model crashed', 'overloaded']) {
      const err = await rejection(client.post({ stream: true }, { onChunk: () => undefined }).result);
      expect(err).toBeInstanceOf(ChatApiError);
      const v = classifyError(err, 1000);
      expect(v).toMatchObject({ retryable: true, error: { code: 'E_PROVIDER_HTTP', status: 500 } });
      expect(v.error.message).toContain(detail);
    }
  });

  it('a payload that is not JSON, and a 200 answer that is not JSON, are E_PROVIDER_BAD_RESPONSE (not retried)', async () => {
    const { url } = await serve(
      (_req, res) => sse(res).end('data: {"choices":[\n\n'),
      (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>proxy login</html>'),
    );
    const client = new ChatHttpClient({ baseUrl: url });
    for (const handlers of [{ onChunk: () => undefined }, {}]) {
      const v = classifyError(await rejection(client.post({}, handlers).result), 1000);
      expect(v).toMatchObject({ retryable: false, error: { code: 'E_PROVIDER_BAD_RESPONSE' } });
    }
  });

  it('a connection closed mid-stream and a refused connection are E_PROVIDER_CONNECTION with the errno code', async () => {
    const { url } = await serve((_req, res) => {
      sse(res).write(delta('a'), () => res.socket?.destroy());
    });
    const err = await rejection(new ChatHttpClient({ baseUrl: url }).post({}, { onChunk: () => undefined }).result);
    expect(err).toMatchObject({ code: 'E_PROVIDER_CONNECTION' });
    expect((err as Error).message).toContain('ECONNRESET');

    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await rejection(new ChatHttpClient({ baseUrl: `http://127.0.0.1:${port}/v1` }).post({}).result);
    expect(refused).toMatchObject({ code: 'E_PROVIDER_CONNECTION' });
    expect((refused as Error).message).toContain('ECONNREFUSED');
    expect(classifyError(refused, 1000).retryable).toBe(true);
  });

  it('streams over https (base URL https://) and reuses the TLS connection', async () => {
    let connections = 0;
    const tls = createHttpsServer({ key: LOOPBACK_KEY, cert: LOOPBACK_CERT }, (req, res) => {
      req.resume();
      req.on('end', () => sse(res).end(`${delta('secure', 'stop')}data: [DONE]\n\n`));
    });
    tls.on('secureConnection', () => (connections += 1));
    tls.listen(0, '127.0.0.1');
    await once(tls, 'listening');
    try {
      const client = new ChatHttpClient({ baseUrl: `https://127.0.0.1:${(tls.address() as AddressInfo).port}/v1`, ca: LOOPBACK_CERT });
      for (let i = 0; i < 2; i += 1) {
        const chunks: unknown[] = [];
        await client.post({ stream: true }, { onChunk: (c) => chunks.push(c) }).result;
        expect(chunks).toHaveLength(1);
      }
      expect(connections).toBe(1);
      client.close();
    } finally {
      tls.closeAllConnections();
      await new Promise<void>((r) => tls.close(() => r()));
    }
  });

  it('sends a request again once when the server closed the kept-alive connection as it was written', async () => {
    const race = await startKeepAliveRaceServer();
    try {
      const client = new ChatHttpClient({ baseUrl: `${race.url}/v1` });
      expect(await client.post({ text: 'first' }).result).toEqual({ ok: true, result: { n: 1 } });
      expect(await client.post({ text: 'second' }).result).toEqual({ ok: true, result: { n: 2 } });
      expect(race.connections).toBe(2);
      expect(race.bodies).toEqual(['{"text":"first"}', '{"text":"second"}']);
      client.close();
    } finally {
      await race.close();
    }
  });
});

describe('ChatHttpClient: HTTP errors, classified as the SDK errors were', () => {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}): Handler => (_req, res) =>
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(typeof body === 'string' ? body : JSON.stringify(body));
  const err = (message: string, code: string | null = null): unknown => ({ error: { message, type: 'x', param: null, code } });

  it.each([
    ['401', json(401, err('Incorrect API key', 'invalid_api_key')), { code: 'E_PROVIDER_AUTH', status: 401 }, false, undefined],
    ['403', json(403, err('forbidden')), { code: 'E_PROVIDER_AUTH', status: 403 }, false, undefined],
    ['429 retry-after-ms', json(429, err('slow down'), { 'retry-after-ms': '250', 'retry-after': '9' }), { code: 'E_PROVIDER_RATE_LIMITED', retryAfterMs: 250 }, true, 250],
    ['429 Retry-After seconds', json(429, err('slow down'), { 'retry-after': '3' }), { code: 'E_PROVIDER_RATE_LIMITED', retryAfterMs: 3000 }, true, 3000],
    ['429 without a wait', json(429, err('slow down')), { code: 'E_PROVIDER_RATE_LIMITED' }, true, undefined],
    ['400 overflow by code', json(400, err('too big', 'context_length_exceeded')), { code: 'E_CONTEXT_OVERFLOW' }, false, undefined],
    ['413 overflow by text', json(413, err('prompt is too long: 9000 tokens')), { code: 'E_CONTEXT_OVERFLOW' }, false, undefined],
    ['422 overflow by text', json(422, { error: 'This model has a maximum context length of 4096 tokens' }), { code: 'E_CONTEXT_OVERFLOW' }, false, undefined],
    ['400 other', json(400, err('bad temperature')), { code: 'E_PROVIDER_HTTP', status: 400 }, false, undefined],
    ['404', json(404, err('no such model')), { code: 'E_PROVIDER_HTTP', status: 404 }, false, undefined],
    ['408', json(408, err('timeout')), { code: 'E_PROVIDER_HTTP', status: 408 }, true, undefined],
    ['500', json(500, err('boom')), { code: 'E_PROVIDER_HTTP', status: 500 }, true, undefined],
    ['503 with Retry-After', json(503, err('warming up'), { 'retry-after': '2' }), { code: 'E_PROVIDER_HTTP', status: 503 }, true, 2000],
    ['502 from a proxy (text body)', json(502, '<html>Bad Gateway</html>'), { code: 'E_PROVIDER_HTTP', status: 502 }, true, undefined],
  ] as const)('%s', async (_name, handler, shape, retryable, after) => {
    const { url } = await serve(handler);
    const e = await rejection(new ChatHttpClient({ baseUrl: url }).post({}, { onChunk: () => undefined }).result);
    expect(e).toBeInstanceOf(ChatApiError);
    const v = classifyError(e, 1000);
    expect(v.error).toBeInstanceOf(ProviderError);
    expect(v.error).toMatchObject(shape);
    expect(v.retryable).toBe(retryable);
    expect(v.retryAfterMs).toBe(after);
  });

  it('reads an error body sent chunked in several writes, with its Retry-After', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '2' }); // no length: chunked
      res.write('{"error":{"message":"warm', () => res.end('ing up","code":"busy"}}'));
    });
    const e = (await rejection(new ChatHttpClient({ baseUrl: url }).post({}, { onChunk: () => undefined }).result)) as ChatApiError;
    expect(e).toBeInstanceOf(ChatApiError);
    expect(e).toMatchObject({ status: 503, detail: 'warming up', code: 'busy' });
    expect(classifyError(e, 1000)).toMatchObject({ retryable: true, retryAfterMs: 2000 });
  });

  it('names the server message in the error, and reads at most 64 KiB of a huge error body', async () => {
    const { url } = await serve(json(400, err('bad temperature')), (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('x'.repeat(ERROR_BODY_LIMIT * 4));
    });
    const client = new ChatHttpClient({ baseUrl: url });
    expect(classifyError(await rejection(client.post({}).result), 1000).error.message).toContain('HTTP 400: bad temperature');
    const huge = (await rejection(client.post({}).result)) as ChatApiError;
    expect(huge.detail.length).toBe(ERROR_BODY_LIMIT);
    expect(classifyError(huge, 1000).error.message.length).toBeLessThan(600);
  });
});

describe('ProviderClient over ChatHttpClient', () => {
  it('retries an error event that arrived before any delta, and sends no Authorization without a key', async () => {
    const { url, seen } = await serve(
      (_req, res) => sse(res).end('event: error\ndata: {"error":{"message":"overloaded"}}\n\n'),
      (_req, res) => sse(res).end(`${delta('fine', 'stop')}data: [DONE]\n\n`),
    );
    const client = new ProviderClient({ baseUrl: url, model: 'm', sleep: async () => undefined });
    const deltas: string[] = [];
    await expect(client.chat([{ role: 'user', content: 'x' }], { onDelta: (d) => deltas.push(d) })).resolves.toMatchObject({ text: 'fine', attempts: 2, finishReason: 'stop' });
    expect(deltas).toEqual(['fine']);
    expect(seen.map((s) => s.headers.authorization)).toEqual([undefined, undefined]);
  });
});
