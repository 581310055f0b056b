import { afterEach, describe, expect, it, vi } from 'vitest';
import { isSwitchyardError } from '../../../src/errors/index.js';
import { TelegramChannel } from '../../../src/channels/telegram/index.js';
import { FakeTelegramApi } from '../../../src/fakes/telegram-api.js';
import { alice, bob, captureLogger, dmAlice, forum, group, harness, type Harness } from './helpers.js';

describe('TelegramChannel polling ingress (real grammY against the fake Bot API)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('normalizes a DM and confirms its update only after ingress resolved', async () => {
    h = await harness();
    let release!: () => void;
    h.ingress.gate = new Promise<void>((r) => (release = r));
    await h.channel.start();
    const { updateId, message } = h.fake.pushMessage({ chat: dmAlice, from: alice, text: 'hello bot' });
    // While ingress holds the message, Telegram must keep the update.
    await vi.waitFor(() => expect(h!.fake.callsOf('getUpdates').length).toBeGreaterThanOrEqual(1));
    await new Promise((r) => setTimeout(r, 50));
    expect(h.fake.confirmedOffset).toBeLessThanOrEqual(updateId);
    expect(h.fake.pendingUpdates).toBe(1);
    release();
    await h.ingress.waitFor(1);
    await vi.waitFor(() => expect(h!.fake.confirmedOffset).toBe(updateId + 1));
    const m = h.ingress.received[0]!;
    expect(m).toMatchObject({
      id: `tg-test:${dmAlice.id}:${message.message_id as number}`,
      channelId: 'tg-test',
      platform: 'telegram',
      sessionKey: `tg-test:dm:${alice.id}`,
      chatId: String(dmAlice.id),
      senderId: String(alice.id),
      senderName: 'Alice',
      peer: 'dm',
      text: 'hello bot',
      mentionsBot: false,
      replyToBot: false,
      attachments: [],
      platformMessageId: String(message.message_id),
    });
    expect(m.threadId).toBeUndefined();
    expect(m.command).toBeUndefined();
  });

  it('passes group messages with and without a mention, a forum topic and a reply to the bot', async () => {
    h = await harness();
    await h.channel.start();
    const botName = h.fake.bot.username!;
    h.fake.pushMessage({ chat: group, from: bob, text: 'just chatting' });
    h.fake.pushMessage({
      chat: group,
      from: bob,
      text: `@${botName} what time is it?`,
      entities: [{ type: 'mention', offset: 0, length: botName.length + 1 }],
    });
    h.fake.pushMessage({ chat: forum, from: alice, text: 'in a topic', message_thread_id: 77, is_topic_message: true });
    h.fake.pushMessage({
      chat: group,
      from: alice,
      text: 'thanks!',
      reply_to_message: { message_id: 5, date: 1, chat: group, from: h.fake.bot, text: 'an answer' },
    });
    await h.ingress.waitFor(4);
    const [plain, mention, topic, reply] = h.ingress.received;
    expect(plain).toMatchObject({ peer: 'group', mentionsBot: false, replyToBot: false, sessionKey: `tg-test:group:${group.id}` });
    expect(mention).toMatchObject({ peer: 'group', mentionsBot: true, senderName: 'Bob Builder' });
    expect(topic).toMatchObject({ threadId: '77', sessionKey: `tg-test:group:${forum.id}:thread:77` });
    expect(reply).toMatchObject({ replyToBot: true, replyTo: { platformMessageId: '5', senderId: String(h.fake.bot.id), text: 'an answer' } });
  });

  it('parses /stop into the envelope', async () => {
    h = await harness();
    await h.channel.start();
    h.fake.pushMessage({ chat: group, from: alice, text: `/stop@${h.fake.bot.username!} now` });
    h.fake.pushMessage({ chat: dmAlice, from: alice, text: '/stopall' });
    await h.ingress.waitFor(2);
    expect(h.ingress.received[0]!.command).toEqual({ name: 'stop', args: 'now' });
    expect(h.ingress.received[1]!.command).toEqual({ name: 'stopall', args: '' });
  });

  it('hands a redelivered update to ingress once (offset semantics), and ignores edits and malformed updates', async () => {
    const { logger, lines } = captureLogger();
    h = await harness({ logger });
    await h.channel.start();
    const { updateId, message } = h.fake.pushMessage({ chat: dmAlice, from: alice, text: 'once' });
    await h.ingress.waitFor(1);
    // Telegram redelivers the same update (e.g. the confirming poll was lost): it is below our offset.
    h.fake.pushUpdate({ update_id: updateId, message });
    h.fake.pushUpdate({ edited_message: { ...message, text: 'edited', edit_date: 2 } });
    h.fake.pushUpdate({ message: { message_id: 9, date: 1, text: 'no chat' } });
    const last = h.fake.pushMessage({ chat: dmAlice, from: alice, text: 'after' });
    await h.ingress.waitFor(2);
    await vi.waitFor(() => expect(h!.fake.confirmedOffset).toBe(last.updateId + 1));
    expect(h.ingress.received.map((m) => m.text)).toEqual(['once', 'after']);
    expect(lines.some((l) => l.code === 'E_CHANNEL_MALFORMED')).toBe(true);
    expect(lines.some((l) => l.msg === 'telegram update ignored' && String(l.reason).includes('edited_message'))).toBe(true);
  });

  it('retries an update whose accept failed and confirms nothing past it until it succeeds', async () => {
    h = await harness();
    h.ingress.failTimes = 2;
    await h.channel.start();
    const first = h.fake.pushMessage({ chat: dmAlice, from: alice, text: 'first' });
    const second = h.fake.pushMessage({ chat: dmAlice, from: alice, text: 'second' });
    await h.ingress.waitFor(2);
    await vi.waitFor(() => expect(h!.fake.confirmedOffset).toBe(second.updateId + 1));
    expect(h.ingress.failures).toBe(2);
    expect(h.ingress.received.map((m) => m.text)).toEqual(['first', 'second']);
    // No getUpdates confirmed 'first' before ingress finally accepted it.
    const confirming = h.fake.callsOf('getUpdates').filter((c) => (c.params.offset as number) > first.updateId);
    expect(confirming.length).toBeGreaterThan(0);
    expect(confirming[0]!.at).toBeGreaterThanOrEqual(h.ingress.acceptedAt[0]!);
  });

  it('logs the typed code of a refused accept and retries it (the handler error reaches the loop unwrapped)', async () => {
    const log = captureLogger();
    h = await harness({ logger: log.logger });
    const ingress = h.ingress;
    const receive = ingress.receive.bind(ingress);
    let refusals = 2; // the batch hand-off, then the first retry
    ingress.receive = async (m) => {
      if (refusals-- > 0) throw Object.assign(new Error('disk full'), { code: 'E_STORE_WRITE' });
      return receive(m);
    };
    await h.channel.start();
    const u = h.fake.pushMessage({ chat: dmAlice, from: alice, text: 'after the disk came back' });
    await ingress.waitFor(1);
    await vi.waitFor(() => expect(h!.fake.confirmedOffset).toBe(u.updateId + 1));
    const line = log.lines.find((l) => l['msg'] === 'update not accepted; retrying before confirming it');
    expect(line).toMatchObject({ code: 'E_STORE_WRITE', updateId: u.updateId, attempt: 1, channelId: 'tg-test' });
  });

  it('backs off on 409 Conflict with a typed error, instead of a hot loop', async () => {
    const { logger, lines } = captureLogger();
    h = await harness({ logger, polling: { timeoutSeconds: 1, backoffInitialMs: 40, backoffMaxMs: 1000 } });
    h.fake.failNext('getUpdates', { kind: 'error', status: 409 }, 4);
    await h.channel.start();
    h.fake.pushMessage({ chat: dmAlice, from: alice, text: 'after the conflict' });
    await h.ingress.waitFor(1);
    const polls = h.fake.callsOf('getUpdates');
    const conflicted = polls.filter((c) => c.status === 409);
    expect(conflicted).toHaveLength(4);
    // Gaps grow roughly exponentially: 40, 80, 160, 320 ms (±20 % jitter).
    const gaps = polls.slice(1, 5).map((c, i) => c.at - polls[i]!.at);
    expect(gaps[0]).toBeGreaterThanOrEqual(30);
    expect(gaps[3]).toBeGreaterThanOrEqual(250);
    expect(gaps[3]!).toBeGreaterThan(gaps[0]!);
    const conflictLogs = lines.filter((l) => l.code === 'E_CHANNEL_CONFLICT');
    expect(conflictLogs).toHaveLength(4);
    expect(String(conflictLogs[0]!.msg)).toMatch(/only one bot instance|webhook/);
  });

  it('two instances on one token conflict and both back off (no hot loop)', async () => {
    const fake = await FakeTelegramApi.start({ maxPollMs: 300 });
    const mk = () =>
      new TelegramChannel({
        id: 'tg-test',
        token: fake.token,
        apiRoot: fake.apiRoot,
        ingress: { receive: async () => ({ status: 'accepted' }) },
        deliveries: { delivered: async () => [], record: async () => undefined },
        mode: 'polling',
        polling: { timeoutSeconds: 1, backoffInitialMs: 100, backoffMaxMs: 400 },
      });
    const a = mk();
    const b = mk();
    try {
      await a.start();
      await b.start();
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, 1000));
      const calls = fake.calls.filter((c) => c.method === 'getUpdates' && c.at >= t0);
      // A hot loop would make hundreds of calls per second; backoff keeps it to a handful.
      expect(calls.length).toBeLessThan(25);
      expect(calls.some((c) => c.status === 409)).toBe(true);
    } finally {
      await a.stop();
      await b.stop();
      await fake.close();
    }
  });

  it('fails start with E_CHANNEL_AUTH on a rejected token', async () => {
    const fake = await FakeTelegramApi.start();
    const channel = new TelegramChannel({
      id: 'tg-bad',
      token: '42:WRONG',
      apiRoot: fake.apiRoot,
      ingress: { receive: async () => ({ status: 'accepted' }) },
      deliveries: { delivered: async () => [], record: async () => undefined },
      mode: 'polling',
    });
    try {
      const err = await channel.start().catch((e: unknown) => e);
      expect(isSwitchyardError(err, 'E_CHANNEL_AUTH')).toBe(true);
      expect(String((err as Error).message)).not.toContain('WRONG');
      expect(channel.state).toBe('failed');
    } finally {
      await fake.close();
    }
  });

  it('fails start with E_CHANNEL_AUTH when botInfo skips getMe and the token is refused later', async () => {
    const fake = await FakeTelegramApi.start();
    const channel = new TelegramChannel({
      id: 'tg-bad',
      token: '42:WRONG',
      apiRoot: fake.apiRoot,
      ingress: { receive: async () => ({ status: 'accepted' }) },
      deliveries: { delivered: async () => [], record: async () => undefined },
      mode: 'polling',
      botInfo: { ...fake.bot, username: fake.bot.username!, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false, can_connect_to_business: false, has_main_web_app: false } as never,
    });
    try {
      const err = await channel.start().catch((e: unknown) => e);
      expect(isSwitchyardError(err, 'E_CHANNEL_AUTH')).toBe(true);
      expect(fake.callsOf('getMe')).toHaveLength(0);
      expect(channel.state).toBe('failed');
    } finally {
      await fake.close();
    }
  });

  it('can start again after a non-fatal start failure (server unreachable)', async () => {
    const fake = await FakeTelegramApi.start();
    const channel = new TelegramChannel({
      id: 'tg-retry',
      token: fake.token,
      apiRoot: fake.apiRoot,
      ingress: { receive: async () => ({ status: 'accepted' }) },
      deliveries: { delivered: async () => [], record: async () => undefined },
      mode: 'polling',
      polling: { timeoutSeconds: 1 },
    });
    try {
      fake.failNext('getMe', { kind: 'error', status: 400, description: 'Bad Request: try later' });
      await expect(channel.start()).rejects.toBeDefined();
      expect(channel.state).toBe('idle');
      await channel.start();
      expect(channel.state).toBe('running');
    } finally {
      await channel.stop();
      await fake.close();
    }
  });

  it('rejects invalid options without echoing the token', () => {
    const base = {
      id: 'x',
      ingress: { receive: async () => ({ status: 'accepted' as const }) },
      deliveries: { delivered: async () => [], record: async () => undefined },
      mode: 'polling' as const,
    };
    expect(() => new TelegramChannel({ ...base, token: 'secret-but-malformed' })).toThrow(/token/);
    expect(() => new TelegramChannel({ ...base, token: 'secret-but-malformed' })).not.toThrow(/secret-but-malformed/);
    expect(() => new TelegramChannel({ ...base, token: '1:a', mode: 'webhook' })).toThrow(/webhook/);
  });
});

describe('polling and flood waits', () => {
  it('waits out a getUpdates retry_after above the auto-retry bound, then resumes', async () => {
    const h = await harness({ retry: { maxRetryAfterSeconds: 0 } });
    try {
      h.fake.failNext('getUpdates', { kind: 'error', status: 429, retryAfter: 1 });
      await h.channel.start();
      h.fake.pushMessage({ chat: dmAlice, from: alice, text: 'after the wait' });
      await h.ingress.waitFor(1);
      const polls = h.fake.callsOf('getUpdates');
      expect(polls[0]!.status).toBe(429);
      expect(polls[1]!.at - polls[0]!.at).toBeGreaterThanOrEqual(950);
    } finally {
      await h.close();
    }
  });
});

describe('token revoked while running', () => {
  it('stops polling with E_CHANNEL_AUTH and tells onFatal once', async () => {
    const fatals: Error[] = [];
    const h = await harness({ onFatal: (e) => fatals.push(e) });
    try {
      await h.channel.start();
      h.fake.failNext('getUpdates', { kind: 'error', status: 401, description: 'Unauthorized' });
      await vi.waitFor(() => expect(h.channel.state).toBe('failed'));
      expect(fatals).toHaveLength(1);
      expect(isSwitchyardError(fatals[0], 'E_CHANNEL_AUTH')).toBe(true);
      const polls = h.fake.callsOf('getUpdates').length;
      await new Promise((r) => setTimeout(r, 300));
      expect(h.fake.callsOf('getUpdates').length).toBe(polls); // no more polling
    } finally {
      await h.close();
    }
  });
});
