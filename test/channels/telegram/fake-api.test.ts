/** The fake Bot API itself, driven by grammY's real `Api` client: it must say no where Telegram says no. */
import { createServer } from 'node:net';
import { Api, GrammyError } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeTelegramApi } from '../../../src/fakes/telegram-api.js';
import { isSwitchyardError } from '../../../src/errors/index.js';
import { retryUnsent } from '../../../src/channels/telegram/transport.js';
import { dmAlice, harness, targetOf, type Harness } from './helpers.js';

let fake: FakeTelegramApi | undefined;
let h: Harness | undefined;
afterEach(async () => {
  await fake?.close();
  await h?.close();
  fake = undefined;
  h = undefined;
});

async function api(): Promise<{ fake: FakeTelegramApi; api: Api }> {
  fake = await FakeTelegramApi.start({ maxPollMs: 200 });
  return { fake, api: new Api(fake.token, { apiRoot: fake.apiRoot }) };
}

const code = async (p: Promise<unknown>) => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  return err instanceof GrammyError ? `${err.error_code} ${err.description}` : String(err);
};

describe('FakeTelegramApi', () => {
  it('confirms updates by offset, long-polls, and keeps only the last |offset| for a negative offset', async () => {
    const { fake: f, api: a } = await api();
    const u1 = f.pushUpdate({ message: { message_id: 1, date: 1, chat: dmAlice, text: 'a' } });
    const u2 = f.pushUpdate({ message: { message_id: 2, date: 1, chat: dmAlice, text: 'b' } });
    expect((await a.getUpdates({ offset: 0 })).map((u) => u.update_id)).toEqual([u1, u2]);
    expect((await a.getUpdates({ offset: u2 })).map((u) => u.update_id)).toEqual([u2]);
    expect(f.pendingUpdates).toBe(1);
    const t0 = Date.now();
    const waiting = a.getUpdates({ offset: u2 + 1, timeout: 5 });
    setTimeout(() => f.pushUpdate({ message: { message_id: 3, date: 1, chat: dmAlice, text: 'c' } }), 50);
    expect((await waiting).map((u) => u.update_id)).toEqual([u2 + 1]);
    expect(Date.now() - t0).toBeLessThan(190); // woken by the push, not by the timeout
    f.pushUpdate({ message: { message_id: 4, date: 1, chat: dmAlice, text: 'd' } });
    expect((await a.getUpdates({ offset: -1 })).map((u) => u.update_id)).toEqual([u2 + 2]);
  });

  it('answers 409 to a second consumer and while a webhook is set; 401 to a wrong token', async () => {
    const { fake: f, api: a } = await api();
    const first = a.getUpdates({ timeout: 1 });
    await new Promise((r) => setTimeout(r, 20));
    const second = a.getUpdates({ timeout: 0 });
    expect(await code(first)).toMatch(/^409 Conflict: terminated by other getUpdates/);
    await second;
    await a.setWebhook('https://example.com/hook', { secret_token: 's' });
    expect(await code(a.getUpdates())).toMatch(/^409 Conflict: can't use getUpdates method while webhook is active/);
    const wrong = new Api('1:WRONG', { apiRoot: f.apiRoot });
    expect(await code(wrong.getMe())).toBe('401 Unauthorized');
  });

  it('checks text length after entity parsing and rejects bad entities', async () => {
    const { api: a } = await api();
    expect(await code(a.sendMessage(1, 'x'.repeat(4097)))).toMatch(/message is too long/);
    await a.sendMessage(1, `<b>${'x'.repeat(4096)}</b>`, { parse_mode: 'HTML' }); // 4096 visible
    expect(await code(a.sendMessage(1, '<b>open', { parse_mode: 'HTML' }))).toMatch(/can't parse entities/);
    expect(await code(a.sendMessage(1, '<blink>x</blink>', { parse_mode: 'HTML' }))).toMatch(/Unsupported start tag/);
    expect(await code(a.sendMessage(1, 'snake_case', { parse_mode: 'Markdown' }))).toMatch(/can't parse entities/);
    expect(await code(a.sendMessage(1, 'Hi.', { parse_mode: 'MarkdownV2' }))).toMatch(/reserved/);
    const m = await a.sendMessage(1, 'same');
    expect(await code(a.editMessageText(1, m.message_id, 'same'))).toMatch(/message is not modified/);
    expect(await code(a.editMessageText(1, 999, 'x'))).toMatch(/message to edit not found/);
  });

  it('an accepted send whose answer is lost is not resent by the adapter (no duplicate)', async () => {
    h = await harness({ streaming: { enabled: false } });
    await h.channel.start();
    h.fake.failNext('sendMessage', { kind: 'acceptThenDrop' });
    const reply = h.channel.openReply(targetOf(dmAlice), { runId: 'r-lost', signal: new AbortController().signal });
    const err = await reply.complete('exactly once').catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_CHANNEL_SEND')).toBe(true);
    expect(h.fake.messagesIn(dmAlice.id).map((m) => m.text)).toEqual(['exactly once']); // in the chat once
    expect(h.fake.callsOf('sendMessage')).toHaveLength(1);
  });

  it('a send refused at connect (server down) is retried once the server is back', async () => {
    // Reserve a port, leave it closed, start the fake on it after a moment.
    const probe = createServer();
    const port = await new Promise<number>((r) => probe.listen(0, '127.0.0.1', () => r((probe.address() as { port: number }).port)));
    await new Promise<void>((r) => probe.close(() => r()));
    const a = new Api('123456:TEST', { apiRoot: `http://127.0.0.1:${port}` });
    a.config.use(retryUnsent(5, 100));
    const sending = a.sendMessage(1, 'after restart');
    await new Promise((r) => setTimeout(r, 150));
    fake = await FakeTelegramApi.start({ port });
    const msg = await sending;
    expect(msg.text).toBe('after restart');
    expect(fake.messagesIn(1)).toHaveLength(1);
  });
});
