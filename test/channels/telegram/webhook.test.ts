import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { alice, dmAlice, harness, type Harness } from './helpers.js';

describe('TelegramChannel webhook ingress', () => {
  let h: Harness | undefined;
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await h?.close();
    h = undefined;
    server = undefined;
  });

  async function setup(): Promise<Harness> {
    server = createServer();
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const hh = await harness({
      mode: 'webhook',
      webhook: { secretToken: 'right-secret', path: '/tg/hook', url: `http://127.0.0.1:${port}/tg/hook`, timeoutMs: 2000 },
    });
    server.on('request', (req, res) => void hh.channel.webhookHandler(req, res));
    await hh.channel.start();
    return hh;
  }

  const update = (text: string, messageId: number) => ({
    message: { message_id: messageId, date: Math.floor(Date.now() / 1000), chat: dmAlice, from: alice, text },
  });

  it('registers the webhook with its secret on start', async () => {
    h = await setup();
    expect(h.fake.webhookInfo?.url).toMatch(/\/tg\/hook$/);
    expect(h.fake.webhookInfo?.secret_token).toBe('right-secret');
    expect(h.fake.webhookInfo?.max_connections).toBe(1); // one update at a time: order preserved
    expect(h.fake.callsOf('getUpdates')).toHaveLength(0);
  });

  it('answers 200 only after ingress accepted the update', async () => {
    h = await setup();
    let release!: () => void;
    h.ingress.gate = new Promise<void>((r) => (release = r));
    let answered = false;
    const status = h.fake.deliverWebhook(update('hi', 1)).then((s) => {
      answered = true;
      return s;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(answered).toBe(false); // still waiting on ingress
    release();
    expect(await status).toBe(200);
    expect(h.ingress.received.map((m) => m.text)).toEqual(['hi']);
  });

  it('rejects a wrong or missing secret with 401 and hands nothing to ingress', async () => {
    h = await setup();
    expect(await h.fake.deliverWebhook(update('forged', 2), 'wrong-secret')).toBe(401);
    expect(await h.fake.deliverWebhook(update('forged', 3), null)).toBe(401);
    expect(h.ingress.received).toHaveLength(0);
  });

  it('answers 500 when ingress fails, so Telegram redelivers; the redelivery is accepted', async () => {
    h = await setup();
    h.ingress.failTimes = 1;
    const u = { ...update('retry me', 4), update_id: 77 };
    expect(await h.fake.deliverWebhook(u)).toBe(500);
    expect(await h.fake.deliverWebhook(u)).toBe(200);
    expect(h.ingress.received.map((m) => m.text)).toEqual(['retry me']);
  });

  it('answers 404 for another path and 503 once stopped', async () => {
    h = await setup();
    const port = (server!.address() as AddressInfo).port;
    const other = await fetch(`http://127.0.0.1:${port}/elsewhere`, { method: 'POST', body: '{}' });
    expect(other.status).toBe(404);
    await h.channel.stop();
    expect(await h.fake.deliverWebhook(update('late', 5))).toBe(503);
  });
});

describe('TelegramChannel webhook on fastify', () => {
  it('routes through webhookFastify: 200 after accept, 401 on a wrong secret', async () => {
    const app = Fastify();
    const h = await harness({ mode: 'webhook', webhook: { secretToken: 'fastify-secret', path: '/telegram/tg-test' } });
    try {
      app.post(h.channel.webhookPath!, h.channel.webhookFastify);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.address() as AddressInfo).port;
      await h.channel.bot.api.setWebhook(`http://127.0.0.1:${port}/telegram/tg-test`, { secret_token: 'fastify-secret' });
      await h.channel.start();
      const u = { message: { message_id: 1, date: 1, chat: dmAlice, from: alice, text: 'via fastify' } };
      expect(await h.fake.deliverWebhook(u)).toBe(200);
      expect(await h.fake.deliverWebhook({ ...u, message: { ...u.message, message_id: 2 } }, 'nope')).toBe(401);
      expect(h.ingress.received.map((m) => m.text)).toEqual(['via fastify']);
      h.ingress.failTimes = 1;
      expect(await h.fake.deliverWebhook({ ...u, message: { ...u.message, message_id: 3 } })).toBe(500);
    } finally {
      await app.close();
      await h.close();
    }
  });
});
