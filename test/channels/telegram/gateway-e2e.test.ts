/**
 * The Telegram adapter inside the whole gateway (createGateway: MemoryStore, Ingress, access control,
 * Scheduler, agent) against the fake Bot API and the fake model server, over real sockets. The channel
 * factory below is the mapping from the config block to `TelegramChannelOptions` the gateway needs.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { TelegramChannel } from '../../../src/channels/telegram/index.js';
import { FakeOpenAIServer } from '../../../src/fakes/index.js';
import { FakeTelegramApi } from '../../../src/fakes/telegram-api.js';
import { CHANNEL_FACTORIES, createGateway, type ChannelFactory, type Gateway } from '../../../src/gateway/index.js';
import { MemoryStore } from '../../../src/store/index.js';
import { alice, bob, dmAlice, group } from './helpers.js';

const telegramFactory: ChannelFactory = (config, deps) => {
  if (config.type !== 'telegram') throw new Error('not a telegram block');
  return new TelegramChannel({
    id: config.id,
    token: config.token,
    apiRoot: config.apiRoot,
    ingress: deps.ingress,
    deliveries: deps.deliveries,
    mode: config.ingress,
    ...(config.webhook !== undefined ? { webhook: { ...config.webhook, path: config.webhook.path ?? `/telegram/${config.id}` } } : {}),
    groupScope: config.queue.groupScope,
    streaming: { enabled: config.streaming.enabled, editIntervalMs: config.streaming.editIntervalMs, minInitialChars: 5 },
    // Test timings: short long-polls, no pacing delay.
    polling: { timeoutSeconds: 1, backoffInitialMs: 50, backoffMaxMs: 200 },
    pacing: { chatIntervalMs: 0 },
    logger: deps.logger,
  });
};

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function world(options: { tokenDelayMs?: number } = {}) {
  const tg = await FakeTelegramApi.start({ maxPollMs: 200 });
  const model = new FakeOpenAIServer({ tokenDelayMs: options.tokenDelayMs ?? 0 });
  await model.start();
  cleanups.push(() => model.close(), () => tg.close());
  return { tg, model };
}

async function gatewayOn(tg: FakeTelegramApi, model: FakeOpenAIServer, access: string, storePath?: string): Promise<Gateway> {
  const yaml = `store: { path: "${storePath ?? ':memory:'}" }
http: { host: 127.0.0.1, port: 0 }
lanes: { main: 2 }
agents:
  default:
    provider: { baseUrl: "${model.url}", model: fake-model, timeoutMs: 5000, maxAttempts: 1 }
    contextWindow: 32768
channels:
  - id: tg
    type: telegram
    token: "${tg.token}"
    apiRoot: "${tg.apiRoot}"
    streaming: { editIntervalMs: 250 }
    queue: { debounceMs: 0 }
    access: ${access}
`;
  const config = parseConfig(yaml, 'test.yaml', {});
  const gateway = await createGateway(config, { ...(storePath === undefined ? { store: new MemoryStore() } : {}), channelFactories: { ...CHANNEL_FACTORIES, telegram: telegramFactory }, recover: true });
  cleanups.push(() => gateway.stop({ deadlineMs: 0 }));
  await gateway.start();
  return gateway;
}

const texts = (tg: FakeTelegramApi, chatId: number) => tg.messagesIn(chatId).map((m) => m.text);

describe('Telegram through the whole gateway', () => {
  it('pairing: a stranger gets a code, an admin approves it, then the stranger is answered', async () => {
    const { tg, model } = await world();
    model.respondWith(() => ({ kind: 'reply', text: 'Welcome aboard.' }));
    const gateway = await gatewayOn(tg, model, '{ dm: pairing, admins: ["1"] }');
    tg.pushMessage({ chat: dmAlice, from: alice, text: 'hello?' });
    await vi.waitFor(() => expect(texts(tg, dmAlice.id).join('\n')).toMatch(/code/i), { timeout: 10_000 });
    expect(model.chatRequests).toHaveLength(0);
    const [pending] = await gateway.access('tg')!.pending();
    expect(pending!.senderId).toBe(String(alice.id));
    await gateway.access('tg')!.approve(pending!.code);
    tg.pushMessage({ chat: dmAlice, from: alice, text: 'now?' });
    await vi.waitFor(() => expect(texts(tg, dmAlice.id)).toContain('Welcome aboard.'), { timeout: 10_000 });
  });

  it('groups: ignored without a mention, answered with one (as a reply to the message)', async () => {
    const { tg, model } = await world();
    model.respondWith(() => ({ kind: 'reply', text: 'Seen.' }));
    await gatewayOn(tg, model, '{ dm: open, requireMention: true }');
    tg.pushMessage({ chat: group, from: bob, text: 'talking among ourselves' });
    const asked = tg.pushMessage({
      chat: group,
      from: bob,
      text: `@${tg.bot.username!} mentioned you`,
      entities: [{ type: 'mention', offset: 0, length: tg.bot.username!.length + 1 }],
    });
    await vi.waitFor(() => expect(texts(tg, group.id)).toEqual(['Seen.']), { timeout: 10_000 });
    expect(model.chatRequests).toHaveLength(1);
    const prompt = JSON.stringify(model.chatRequests[0]!.body!.messages);
    expect(prompt).toContain('mentioned you');
    expect(prompt).not.toContain('among ourselves');
    expect(tg.messagesIn(group.id)[0]!.reply_to_message_id).toBe(asked.message.message_id);
  });

  it('/stop aborts the streaming reply (preview removed) and nothing more is sent', async () => {
    const { tg, model } = await world({ tokenDelayMs: 30 });
    model.respondWith(() => ({ kind: 'reply', text: Array.from({ length: 400 }, (_, i) => `token${i}`).join(' ') }));
    await gatewayOn(tg, model, '{ dm: open }');
    tg.pushMessage({ chat: dmAlice, from: alice, text: 'write a long essay' });
    // The preview appears and is being edited.
    await vi.waitFor(() => expect(tg.callsOf('editMessageText').length).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
    tg.pushMessage({ chat: dmAlice, from: alice, text: '/stop' });
    await vi.waitFor(() => expect(texts(tg, dmAlice.id).join('\n')).toMatch(/stopped/i), { timeout: 10_000 });
    await vi.waitFor(() => expect(texts(tg, dmAlice.id).some((t) => t.startsWith('token0'))).toBe(false), { timeout: 10_000 });
    const sendsAfterStop = tg.calls.filter((c) => c.method === 'sendMessage' || c.method === 'editMessageText').length;
    await new Promise((r) => setTimeout(r, 400));
    expect(tg.calls.filter((c) => c.method === 'sendMessage' || c.method === 'editMessageText').length).toBe(sendsAfterStop);
  });

  it('/stopall stops the run and the backlog, and a late message sent before it is ignored as stale', async () => {
    const { tg, model } = await world({ tokenDelayMs: 30 });
    model.respondWith(() => ({ kind: 'reply', text: Array.from({ length: 400 }, (_, i) => `token${i}`).join(' ') }));
    await gatewayOn(tg, model, '{ dm: open }');
    tg.pushMessage({ chat: dmAlice, from: alice, text: 'first question' });
    await vi.waitFor(() => expect(model.chatRequests).toHaveLength(1), { timeout: 10_000 });
    tg.pushMessage({ chat: dmAlice, from: alice, text: 'queued follow-up' });
    const lateId = tg.reserveMessageId(dmAlice.id); // sent now, delivered after /stopall
    const stopAll = tg.pushMessage({ chat: dmAlice, from: alice, text: '/stopall' });
    await vi.waitFor(() => expect(texts(tg, dmAlice.id).join('\n')).toMatch(/Stopped 1 reply and cancelled 1 waiting message/), { timeout: 10_000 });
    // A message sent before /stopall but delivered after it (a replay): stale, with one notice.
    tg.pushUpdate({ message: { message_id: lateId, date: (stopAll.message.date as number) - 5, chat: dmAlice, from: alice, text: 'late' } });
    await vi.waitFor(() => expect(texts(tg, dmAlice.id).join('\n')).toMatch(/Ignored 1 message sent before \/stopall/), { timeout: 10_000 });
    expect(model.chatRequests).toHaveLength(1);
    // The aborted run's preview is removed (its cleanup may land just after the notices).
    await vi.waitFor(() => expect(texts(tg, dmAlice.id).some((t) => t.startsWith('token0'))).toBe(false), { timeout: 10_000 });
  });

  it('a redelivered update after a restart is answered once (the store dedupes, the adapter confirms)', async () => {
    const { tg, model } = await world();
    model.respondWith(() => ({ kind: 'reply', text: 'Only once.' }));
    const dbPath = join(mkdtempSync(join(tmpdir(), 'sy-tg-')), 'db.sqlite');
    const first = await gatewayOn(tg, model, '{ dm: open }', dbPath);
    const { message } = tg.pushMessage({ chat: dmAlice, from: alice, text: 'ping' });
    await vi.waitFor(() => expect(texts(tg, dmAlice.id)).toEqual(['Only once.']), { timeout: 10_000 });
    await first.stop({ deadlineMs: 0 });
    // Telegram redelivers the same message under a new update id (e.g. the offset confirmation was lost).
    tg.pushUpdate({ message });
    const second = await gatewayOn(tg, model, '{ dm: open }', dbPath);
    tg.pushMessage({ chat: dmAlice, from: alice, text: 'marker' });
    await vi.waitFor(() => expect(texts(tg, dmAlice.id)).toEqual(['Only once.', 'Only once.']), { timeout: 10_000 });
    expect(model.chatRequests).toHaveLength(2); // 'ping' once, 'marker' once
    await second.stop({ deadlineMs: 0 });
  });
});
