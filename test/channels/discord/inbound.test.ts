import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeDiscord } from '../../../src/fakes/discord.js';
import type { DiscordChannel } from '../../../src/channels/discord/index.js';
import { ADMIN_ROLE, alice, bob, BOT_ROLE, DM, GENERAL, GUILD, makeChannel, otherBot, startFake, THREAD, type RecordingIngress } from './helpers.js';

describe('DiscordChannel inbound normalization (real discord.js against the fake gateway)', () => {
  let fake: FakeDiscord;
  let channel: DiscordChannel;
  let ingress: RecordingIngress;

  beforeEach(async () => {
    fake = await startFake();
    ({ channel, ingress } = makeChannel(fake));
    await channel.start();
  });
  afterEach(async () => {
    await channel.stop();
    await fake.close();
  });

  it('normalizes a guild message without a mention: group peer, per-channel session, mentionsBot false', async () => {
    const posted = fake.postMessage({ channelId: GENERAL, author: alice, content: 'hello all', memberRoles: [ADMIN_ROLE] });
    const [m] = await ingress.waitForAccepted(1);
    expect(m).toMatchObject({
      id: `dc:${GENERAL}:${posted.id}`,
      channelId: 'dc',
      platform: 'discord',
      sessionKey: `dc:group:${GENERAL}`,
      chatId: GENERAL,
      peer: 'group',
      senderId: alice.id,
      senderName: 'alice',
      senderRoles: [ADMIN_ROLE],
      text: 'hello all',
      mentionsBot: false,
      replyToBot: false,
      platformMessageId: posted.id,
      attachments: [],
    });
    expect(m!.threadId).toBeUndefined();
    expect(m!.command).toBeUndefined();
    expect(Math.abs(m!.sentAt - Date.parse(posted.timestamp as string))).toBeLessThan(1);
  });

  it('detects a user mention of the bot and strips the addressing from the text', async () => {
    fake.postMessage({ channelId: GENERAL, author: alice, content: `<@${fake.botUser.id}> what time is it, <@${bob.id}>?`, mentions: [fake.botUser, bob] });
    const [m] = await ingress.waitForAccepted(1);
    expect(m!.mentionsBot).toBe(true);
    expect(m!.text).toBe('what time is it, @bob?');
  });

  it('counts a mention of one of the bot roles as a mention, but not of another role', async () => {
    fake.postMessage({ channelId: GENERAL, author: alice, content: `<@&${ADMIN_ROLE}> look`, mentionRoles: [ADMIN_ROLE] });
    fake.postMessage({ channelId: GENERAL, author: alice, content: `<@&${BOT_ROLE}> help`, mentionRoles: [BOT_ROLE] });
    const [a, b] = await ingress.waitForAccepted(2);
    expect(a!.mentionsBot).toBe(false);
    expect(a!.text).toBe('@admins look');
    expect(b!.mentionsBot).toBe(true);
    expect(b!.text).toBe('help');
  });

  it('gives a thread its own session under the parent channel', async () => {
    fake.postMessage({ channelId: THREAD, author: alice, content: 'in the thread' });
    const [m] = await ingress.waitForAccepted(1);
    expect(m).toMatchObject({ chatId: GENERAL, threadId: THREAD, sessionKey: `dc:group:${GENERAL}:thread:${THREAD}`, peer: 'group' });
    expect(m!.id).toBe(`dc:${GENERAL}:${m!.platformMessageId}`);
  });

  it('normalizes a DM: dm peer, session per sender, DM channel as chat', async () => {
    fake.postMessage({ channelId: DM, author: alice, content: 'psst' });
    const [m] = await ingress.waitForAccepted(1);
    expect(m).toMatchObject({ peer: 'dm', chatId: DM, sessionKey: `dc:dm:${alice.id}`, text: 'psst', senderId: alice.id });
    expect(m!.senderRoles).toBeUndefined();
  });

  it('parses /stop and /stopall text commands, also after a leading mention and with @BotName', async () => {
    fake.postMessage({ channelId: GENERAL, author: alice, content: '/stop' });
    fake.postMessage({ channelId: GENERAL, author: alice, content: `<@${fake.botUser.id}> /stopall now`, mentions: [fake.botUser] });
    fake.postMessage({ channelId: GENERAL, author: alice, content: '/stop@someotherbot' });
    fake.postMessage({ channelId: DM, author: alice, content: `/status@${fake.botUser.username}` });
    const ms = await ingress.waitForAccepted(4);
    // Order is kept per Discord channel, not across channels.
    expect(ms.filter((m) => m.peer === 'group').map((m) => m.command)).toEqual([{ name: 'stop', args: '' }, { name: 'stopall', args: 'now' }, undefined]);
    expect(ms.find((m) => m.peer === 'dm')!.command).toEqual({ name: 'status', args: '' });
  });

  it('marks a reply to the bot and keeps what it replies to', async () => {
    const mine = fake.postMessage({ channelId: GENERAL, author: alice, content: 'q1' });
    await ingress.waitForAccepted(1);
    await channel.notify({ channelId: 'dc', sessionKey: `dc:group:${GENERAL}`, chatId: GENERAL, peer: 'group', replyToPlatformMessageId: mine.id }, 'an answer');
    const botMsg = fake.botMessages(GENERAL)[0]!;
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'why?', replyTo: botMsg.id });
    fake.postMessage({ channelId: GENERAL, author: bob, content: 'me too', replyTo: mine.id });
    const [, toBot, toAlice] = await ingress.waitForAccepted(3);
    expect(toBot).toMatchObject({ replyToBot: true, replyTo: { platformMessageId: botMsg.id, senderId: fake.botUser.id } });
    expect(toAlice).toMatchObject({ replyToBot: false, replyTo: { platformMessageId: mine.id, senderId: alice.id } });
  });

  it('maps attachments by content type; an attachment-only message is kept', async () => {
    fake.postMessage({
      channelId: GENERAL,
      author: alice,
      content: '',
      attachments: [
        { id: '700000000000000001', filename: 'cat.png', content_type: 'image/png', size: 1234 },
        { id: '700000000000000002', filename: 'notes.pdf', content_type: 'application/pdf', size: 99 },
      ],
    });
    const [m] = await ingress.waitForAccepted(1);
    expect(m!.text).toBe('');
    expect(m!.attachments).toEqual([
      expect.objectContaining({ kind: 'photo', id: '700000000000000001', mime: 'image/png', size: 1234, name: 'cat.png' }),
      expect.objectContaining({ kind: 'document', id: '700000000000000002', mime: 'application/pdf', size: 99 }),
    ]);
  });

  it('ignores its own echoed messages and other bots, and keeps per-channel order', async () => {
    fake.postMessage({ channelId: GENERAL, author: otherBot, content: 'beep' });
    await channel.notify({ channelId: 'dc', sessionKey: `dc:group:${GENERAL}`, chatId: GENERAL, peer: 'group' }, 'bot says hi');
    for (let i = 0; i < 20; i++) fake.postMessage({ channelId: i % 2 ? GENERAL : DM, author: alice, content: `n${i}` });
    const ms = await ingress.waitForAccepted(20);
    expect(ms.map((m) => m.text).filter((t) => !t.startsWith('n'))).toEqual([]);
    const general = ms.filter((m) => m.chatId === GENERAL).map((m) => m.text);
    expect(general).toEqual(['n1', 'n3', 'n5', 'n7', 'n9', 'n11', 'n13', 'n15', 'n17', 'n19']);
    expect(ingress.received).toHaveLength(20);
    expect(GUILD).toBe(fake.channels.get(GENERAL)!.guildId);
  });
});
