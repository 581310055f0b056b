/**
 * Telegram in webhook mode through the gateway's built-in channel factory and HTTP server: the route exists on
 * the gateway's own port, a wrong secret is refused with 401, and the right one is accepted and answered.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';
import { FakeTelegramApi } from '../../src/fakes/telegram-api.js';
import { createGateway } from '../../src/gateway/index.js';
import { MemoryStore } from '../../src/store/index.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

/** A port that was free a moment ago (the webhook URL must be known before the gateway listens). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

describe('Telegram webhook through the gateway', () => {
  it('mounts the webhook route, refuses a wrong secret, answers a real update', async () => {
    const tg = await FakeTelegramApi.start({ maxPollMs: 200 });
    const model = new FakeOpenAIServer({ tokenDelayMs: 0 });
    await model.start();
    model.respondWith(() => ({ kind: 'reply', text: 'pong' }));
    cleanups.push(() => model.close(), () => tg.close());
    const port = await freePort();
    const yaml = `store: { path: ":memory:" }
http: { host: 127.0.0.1, port: ${port} }
agents:
  default:
    provider: { baseUrl: "${model.url}", model: fake-model, timeoutMs: 5000, maxAttempts: 1 }
    contextWindow: 32768
channels:
  - id: tg
    type: telegram
    token: "${tg.token}"
    apiRoot: "${tg.apiRoot}"
    ingress: webhook
    webhook: { secretToken: sekret, url: "http://127.0.0.1:${port}/telegram/tg" }
    streaming: { enabled: false }
    queue: { debounceMs: 0 }
    access: { dm: open }
`;
    const gateway = await createGateway(parseConfig(yaml, 'test.yaml', {}), { store: new MemoryStore() });
    cleanups.push(() => gateway.stop({ deadlineMs: 0 }));
    await gateway.start();

    const update = {
      message: { message_id: 7, date: Math.floor(Date.now() / 1000), chat: { id: 42, type: 'private', first_name: 'Ann' }, from: { id: 42, is_bot: false, first_name: 'Ann' }, text: 'ping' },
    };
    expect(await tg.deliverWebhook({ ...update, update_id: 1 }, 'wrong')).toBe(401);
    expect(await tg.deliverWebhook({ ...update, update_id: 2 })).toBe(200);
    await vi.waitFor(() => {
      expect(tg.messagesIn(42).map((m) => m.text)).toContain('pong');
    }, { timeout: 5_000, interval: 20 });
    expect(tg.messagesIn(42)).toHaveLength(1);
  });
});
