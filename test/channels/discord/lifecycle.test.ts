import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FakeDiscord } from '../../../src/fakes/discord.js';
import { DiscordChannel } from '../../../src/channels/discord/index.js';
import { isSwitchyardError } from '../../../src/errors/index.js';
import { alice, GENERAL, makeChannel, MemoryDeliveries, RecordingIngress, startFake } from './helpers.js';

describe('DiscordChannel lifecycle and options', () => {
  let fake: FakeDiscord;
  beforeEach(async () => {
    fake = await startFake();
  });
  afterEach(async () => {
    await fake.close();
  });

  it('rejects a bad token with E_CHANNEL_AUTH and never opens the gateway', async () => {
    const { channel } = makeChannel(fake, { token: 'wrong-token' });
    const err = await channel.start().catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_CHANNEL_AUTH')).toBe(true);
    expect((err as Error).message).not.toContain('wrong-token');
    expect(fake.requests.find((r) => r.path === '/gateway/bot')!.status).toBe(401);
    expect(fake.gatewayReceived).toHaveLength(0);
    await channel.stop(); // idempotent after a failed start
  });

  it('maps a gateway authentication failure (close 4004) to E_CHANNEL_AUTH', async () => {
    const strict = await (await import('../../../src/fakes/discord.js')).FakeDiscord.start({ gatewayToken: 'only-this' });
    try {
      const { channel } = makeChannel(strict);
      const err = await channel.start().catch((e: unknown) => e);
      expect(isSwitchyardError(err, 'E_CHANNEL_AUTH')).toBe(true);
      expect(strict.gatewayReceived.some((p) => p.op === 2)).toBe(true);
    } finally {
      await strict.close();
    }
  });

  it('start(signal) gives up when aborted while connecting, and leaves nothing running', async () => {
    const { channel } = makeChannel(fake);
    const ac = new AbortController();
    fake.events.once('request', () => ac.abort(new Error('gave up')));
    const err = await channel.start(ac.signal).catch((e: unknown) => e);
    expect((err as Error).message).toBe('gave up');
    await vi.waitFor(() => expect(fake.openSockets).toBe(0), { timeout: 3000, interval: 10 });
    await channel.stop();
  });

  it('stops intake on stop(); start() again reconnects and catches up the channels it had seen', async () => {
    const { channel, ingress } = makeChannel(fake);
    await channel.start();
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'one' });
    await ingress.waitForAccepted(1);
    await channel.stop();
    await channel.stop();
    expect(fake.openSockets).toBe(0);
    const receivedWhileStopped = ingress.received.length;
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'while stopped' });
    expect(ingress.received).toHaveLength(receivedWhileStopped);
    await channel.start();
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'two' });
    await ingress.waitForAccepted(3);
    expect(ingress.accepted.map((m) => m.text)).toEqual(['one', 'while stopped', 'two']);
    expect(channel.lastCatchUp).toMatchObject({ reason: 'start', channels: 1 });
    await channel.stop();
  });

  it('validates options at construction, naming the option and never echoing the token', () => {
    const base = { id: 'dc', token: 't', ingress: new RecordingIngress(), deliveries: new MemoryDeliveries() };
    const bad: Array<[object, RegExp]> = [
      [{ token: '' }, /channels\.dc\.token/],
      [{ restApi: 'http://127.0.0.1:1/api/' }, /restApi.*without a trailing slash/],
      [{ streaming: { enabled: true, editIntervalMs: 10 } }, /editIntervalMs.*>= 250/],
      [{ catchUp: { policy: 'later', channels: async () => [] } }, /catchUp\.policy/],
      [{ catchUp: { maxMessages: 0, channels: async () => [] } }, /maxMessages/],
      [{ commands: [{ name: 'Bad Name', description: 'x' }] }, /commands\.name/],
    ];
    for (const [over, re] of bad) {
      let caught: unknown;
      try {
        new DiscordChannel({ ...base, ...over } as ConstructorParameters<typeof DiscordChannel>[0]);
      } catch (e) {
        caught = e;
      }
      expect(isSwitchyardError(caught, 'E_INVALID_OPTION'), JSON.stringify(over)).toBe(true);
      expect((caught as Error).message).toMatch(re);
    }
    expect(() => new DiscordChannel(base)).not.toThrow();
  });

  it('delivers replies before start() (a recovered run re-answering while the gateway connects)', async () => {
    const { channel, deliveries } = makeChannel(fake);
    await channel.openReply({ channelId: 'dc', sessionKey: `dc:group:${GENERAL}`, chatId: GENERAL, peer: 'group' }, { runId: 'recovered#2', signal: new AbortController().signal }).complete('answer after a crash');
    expect(fake.botMessages(GENERAL).map((m) => m.content)).toEqual(['answer after a crash']);
    expect(deliveries.records).toEqual([{ runId: 'recovered#2', chunkIndex: 0, platformMessageId: fake.botMessages(GENERAL)[0]!.id }]);
    expect(fake.gatewayReceived).toHaveLength(0);
    await channel.stop();
  });

  it('a second start() while starting joins the first: one gateway session', async () => {
    const { channel } = makeChannel(fake);
    await Promise.all([channel.start(), channel.start()]);
    await channel.start();
    expect(fake.gatewayReceived.filter((p) => p.op === 2)).toHaveLength(1);
    expect(fake.requests.filter((r) => r.path === '/gateway/bot')).toHaveLength(1);
    await channel.stop();
  });

  it('groupScope sender gives each person their own session in a guild channel', async () => {
    const { channel, ingress } = makeChannel(fake, { groupScope: 'sender' });
    await channel.start();
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'mine' });
    const [m] = await ingress.waitForAccepted(1);
    expect(m!.sessionKey).toBe(`dc:group:${GENERAL}:sender:${alice.id}`);
    await channel.stop();
  });
});
