import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FakeDiscord } from '../../../src/fakes/discord.js';
import type { DiscordChannel } from '../../../src/channels/discord/index.js';
import type { InboundMessage, ReplyTarget } from '../../../src/channels/index.js';
import { ADMIN_ROLE, alice, DM, GENERAL, makeChannel, startFake, THREAD, type RecordingIngress } from './helpers.js';

/** The reply target ingress derives from a message (as the lead's ingress does). */
const targetOf = (m: InboundMessage): ReplyTarget => ({ channelId: m.channelId, sessionKey: m.sessionKey, chatId: m.chatId, threadId: m.threadId, peer: m.peer, replyToPlatformMessageId: m.platformMessageId });

describe('DiscordChannel slash commands', () => {
  let fake: FakeDiscord;
  let channel: DiscordChannel;
  let ingress: RecordingIngress;

  beforeEach(async () => {
    fake = await startFake();
    ({ channel, ingress } = makeChannel(fake, {
      registerCommands: true,
      commands: [
        { name: 'stop', description: 'Stop' },
        { name: 'stopall', description: 'Stop all' },
        { name: 'pin', description: 'Pin a memory', argument: { name: 'text', description: 'What to remember' } },
      ],
    }));
    // A minimal ingress: answers commands through notify before resolving, like the real one.
    ingress.onReceive = async (m) => {
      if (m.command?.name === 'stopall') await channel.notify(targetOf(m), `Stopped 2 runs and 3 pending messages.`);
      if (m.command?.name === 'pin') await channel.notify(targetOf(m), `Pinned: ${m.command.args}\n\n${'x'.repeat(2500)}`);
    };
    await channel.start();
  });
  afterEach(async () => {
    await channel.stop();
    await fake.close();
  });

  it('registers the configured commands on start (bulk overwrite)', () => {
    const put = fake.requests.find((r) => r.method === 'PUT' && r.path === `/applications/${fake.applicationId}/commands`);
    expect(put).toBeDefined();
    expect((fake.commands.get('global') as Array<{ name: string; options?: unknown[] }>).map((c) => [c.name, c.options?.length ?? 0])).toEqual([
      ['stop', 0],
      ['stopall', 0],
      ['pin', 1],
    ]);
  });

  it('turns /stopall into a command message and edits the deferred reply into the ingress answer', async () => {
    const { id, token } = fake.pushInteraction({ channelId: GENERAL, user: alice, name: 'stopall', memberRoles: [ADMIN_ROLE] });
    const [m] = await ingress.waitForAccepted(1);
    expect(m).toMatchObject({
      command: { name: 'stopall', args: '' },
      text: '/stopall',
      mentionsBot: true,
      platformMessageId: id,
      sessionKey: `dc:group:${GENERAL}`,
      senderId: alice.id,
      senderRoles: [ADMIN_ROLE],
    });
    await vi.waitFor(() => expect(fake.interactionReplies.get(token)).toHaveLength(2), { timeout: 3000, interval: 10 });
    const [callback, edit] = fake.interactionReplies.get(token)!;
    expect(callback).toMatchObject({ kind: 'callback', body: { type: 5 } }); // deferred: "thinking…"
    expect(edit).toMatchObject({ kind: 'edit', body: { content: 'Stopped 2 runs and 3 pending messages.' } });
    expect(fake.botMessages(GENERAL)).toHaveLength(0); // answered in the interaction, not as a channel message
  });

  it('passes the option as args and sends long answers as edit + follow-ups', async () => {
    const { token } = fake.pushInteraction({ channelId: THREAD, user: alice, name: 'pin', options: [{ name: 'text', value: 'my birthday is in May' }] });
    const [m] = await ingress.waitForAccepted(1);
    expect(m).toMatchObject({ command: { name: 'pin', args: 'my birthday is in May' }, threadId: THREAD, chatId: GENERAL });
    await vi.waitFor(() => expect(fake.interactionReplies.get(token)!.length).toBeGreaterThanOrEqual(3), { timeout: 3000, interval: 10 });
    const replies = fake.interactionReplies.get(token)!;
    expect(replies.map((r) => r.kind)).toEqual(['callback', 'edit', 'followup']);
    for (const r of replies.slice(1)) expect(((r.body as { content: string }).content).length).toBeLessThanOrEqual(2000);
  });

  it('never leaves the deferred reply hanging when ingress answers nothing (denied)', async () => {
    ingress.decide = () => 'denied';
    const { token } = fake.pushInteraction({ channelId: DM, user: alice, name: 'stop' });
    const [m] = await ingress.waitForAccepted(1);
    expect(m).toMatchObject({ peer: 'dm', sessionKey: `dc:dm:${alice.id}`, command: { name: 'stop', args: '' } });
    expect(m!.senderRoles).toBeUndefined();
    await vi.waitFor(() => expect(fake.interactionReplies.get(token)).toHaveLength(2), { timeout: 3000, interval: 10 });
    expect(fake.interactionReplies.get(token)![1]).toMatchObject({ kind: 'edit', body: { content: 'You are not allowed to use this command here.' } });
  });
});
