import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeDiscord } from '../../../src/fakes/discord.js';
import { catchUpChannelsOf, ENVELOPE_CARRIES_CATCH_UP, type CatchUpChannel, type CatchUpInboundMessage, type DiscordChannel } from '../../../src/channels/discord/index.js';
import { InboundMessageSchema } from '../../../src/channels/index.js';
import { alice, bob, DM, GENERAL, makeChannel, MemoryDeliveries, RecordingIngress, startFake, THREAD } from './helpers.js';

describe('DiscordChannel catch-up after downtime', () => {
  let fake: FakeDiscord;
  let ingress: RecordingIngress;
  let deliveries: MemoryDeliveries;
  const running: DiscordChannel[] = [];

  beforeEach(async () => {
    fake = await startFake();
    ingress = new RecordingIngress();
    deliveries = new MemoryDeliveries();
  });
  afterEach(async () => {
    for (const c of running.splice(0)) await c.stop();
    await fake.close();
  });

  async function run(overrides: Parameters<typeof makeChannel>[1] = {}): Promise<DiscordChannel> {
    const { channel } = makeChannel(fake, { ingress, deliveries, ...overrides });
    running.push(channel);
    await channel.start();
    return channel;
  }

  it('after a restart hands on only messages newer than the stored one, in order, each once', async () => {
    const first = await run();
    const m1 = fake.postMessage({ channelId: GENERAL, author: alice, content: 'm1' });
    const m2 = fake.postMessage({ channelId: GENERAL, author: alice, content: 'm2' });
    await ingress.waitForAccepted(2);
    await first.stop();
    running.length = 0;

    // Down: these are only in channel history.
    fake.postMessage({ channelId: GENERAL, author: bob, content: 'm3', dispatch: false });
    fake.postMessage({ channelId: THREAD, author: bob, content: 't1', dispatch: false });
    fake.postMessage({ channelId: DM, author: alice, content: 'd1', dispatch: false });
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'm4', dispatch: false });

    // The store's view is one message behind for #general (m2 accepted but say only m1 was known as last):
    // m2 comes back from history and is reported duplicate, never accepted twice.
    const second = await run({
      catchUp: {
        channels: async () => [{ channelId: GENERAL, afterMessageId: m1.id }, { channelId: THREAD }, { channelId: DM, afterMessageId: undefined }],
      },
    });
    expect(ingress.accepted.filter((m) => m.chatId === GENERAL && !m.threadId).map((m) => m.text)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(ingress.accepted.map((m) => m.text).sort()).toEqual(['d1', 'm1', 'm2', 'm3', 'm4', 't1']);
    expect(ingress.received.filter((m) => m.platformMessageId === m2.id)).toHaveLength(2);
    expect(new Set(ingress.accepted.map((m) => m.id)).size).toBe(ingress.accepted.length);
    expect(second.lastCatchUp).toMatchObject({ reason: 'start', channels: 3, fetched: 5, handedOn: 5, skippedStale: 0, failedChannels: [] });
    const t1 = ingress.accepted.find((m) => m.text === 't1')!;
    expect(t1).toMatchObject({ threadId: THREAD, chatId: GENERAL, sessionKey: `dc:group:${GENERAL}:thread:${THREAD}` });
    expect(ingress.accepted.find((m) => m.text === 'd1')).toMatchObject({ peer: 'dm', sessionKey: `dc:dm:${alice.id}` });

    // Live intake continues after catch-up.
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'm5' });
    const all = await ingress.waitForAccepted(7);
    expect(all.at(-1)!.text).toBe('m5');
  });

  it('holds live messages that arrive during catch-up until the missed ones are handed on', async () => {
    fake.postMessage({ channelId: GENERAL, author: bob, content: 'missed-1', dispatch: false });
    fake.postMessage({ channelId: GENERAL, author: bob, content: 'missed-2', dispatch: false });
    let release!: (v: CatchUpChannel[]) => void;
    const listed = new Promise<CatchUpChannel[]>((r) => (release = r));
    let listCalled!: () => void;
    const called = new Promise<void>((r) => (listCalled = r));
    const { channel } = makeChannel(fake, { ingress, deliveries, catchUp: { channels: () => (listCalled(), listed) } });
    running.push(channel);
    const started = channel.start();
    await called;
    const seen = once(channel.discord, 'messageCreate');
    const live = fake.postMessage({ channelId: GENERAL, author: alice, content: 'live' });
    await seen; // discord.js has delivered it to the adapter...
    await new Promise<void>((r) => setImmediate(r));
    expect(ingress.received).toHaveLength(0); // ...which holds it
    release([{ channelId: GENERAL }]);
    await started;
    await ingress.waitForAccepted(3);
    expect(ingress.accepted.map((m) => m.text)).toEqual(['missed-1', 'missed-2', 'live']);
    // The live message was also in history (posted before the fetch): handed on twice, accepted once.
    expect(ingress.received.filter((m) => m.platformMessageId === live.id).length).toBeGreaterThanOrEqual(1);
  });

  it('with policy stale never lets a missed message be answered (marked for ingress, or skipped)', async () => {
    fake.postMessage({ channelId: GENERAL, author: bob, content: 'old news', dispatch: false });
    const c = await run({ catchUp: { policy: 'stale', channels: async () => [{ channelId: GENERAL }] } });
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'fresh' });
    if (ENVELOPE_CARRIES_CATCH_UP) {
      // The envelope has the proposed field: ingress journals the message and records it stale.
      const [old, fresh] = (await ingress.waitForAccepted(2)) as CatchUpInboundMessage[];
      expect(old).toMatchObject({ text: 'old news', catchUp: 'stale' });
      expect(InboundMessageSchema.safeParse(old).success).toBe(true);
      expect(fresh!.catchUp).toBeUndefined();
      expect(c.lastCatchUp).toMatchObject({ handedOn: 1, skippedStale: 0 });
    } else {
      // Today's strict envelope would reject the mark: the missed message is not handed on at all.
      const [fresh] = (await ingress.waitForAccepted(1)) as CatchUpInboundMessage[];
      expect(fresh!.text).toBe('fresh');
      expect(ingress.received.map((m) => m.text)).toEqual(['fresh']);
      expect(c.lastCatchUp).toMatchObject({ fetched: 1, handedOn: 0, skippedStale: 1 });
    }
  });

  it('bounds catch-up by age and count, oldest first', async () => {
    const now = Date.now();
    fake.postMessage({ channelId: GENERAL, author: bob, content: 'too old', at: now - 3 * 3600_000, dispatch: false });
    for (let i = 1; i <= 5; i++) fake.postMessage({ channelId: GENERAL, author: bob, content: `recent-${i}`, at: now - 60_000 + i, dispatch: false });
    const c = await run({ catchUp: { maxAgeMs: 3600_000, maxMessages: 3, channels: async () => [{ channelId: GENERAL }] } });
    expect(ingress.accepted.map((m) => m.text)).toEqual(['recent-1', 'recent-2', 'recent-3']);
    expect(c.lastCatchUp).toMatchObject({ fetched: 3 });
    // The age bound is applied by the server: `after` was at least the snowflake of now - maxAgeMs.
    const get = fake.requests.find((r) => r.method === 'GET' && r.path === `/channels/${GENERAL}/messages`)!;
    expect(get.query.get('limit')).toBe('3');
    const afterMs = Number((BigInt(get.query.get('after')!) >> 22n) + 1_420_070_400_000n);
    expect(afterMs).toBeGreaterThanOrEqual(now - 3600_000 - 1000);
  });

  it('pages through more than 100 missed messages', async () => {
    for (let i = 0; i < 130; i++) fake.postMessage({ channelId: GENERAL, author: bob, content: `p${i}`, dispatch: false });
    await run({ catchUp: { maxMessages: 500, channels: async () => [{ channelId: GENERAL }] } });
    expect(ingress.accepted.map((m) => m.text)).toEqual(Array.from({ length: 130 }, (_, i) => `p${i}`));
    expect(fake.requests.filter((r) => r.method === 'GET' && r.path === `/channels/${GENERAL}/messages`)).toHaveLength(2);
  });

  it('skips a channel it cannot read and still catches up the others', async () => {
    fake.postMessage({ channelId: DM, author: alice, content: 'still here', dispatch: false });
    const c = await run({ catchUp: { channels: async () => [{ channelId: '777777777777777777' }, { channelId: DM }] } });
    expect(ingress.accepted.map((m) => m.text)).toEqual(['still here']);
    expect(c.lastCatchUp!.failedChannels).toEqual(['777777777777777777']);
  });

  it('catchUpChannelsOf keys threads by thread id and keeps the newest id as a 64-bit number, not a string', () => {
    expect(
      catchUpChannelsOf([
        { chatId: GENERAL, platformMessageId: '999999999999999999' },
        { chatId: GENERAL, platformMessageId: '1000000000000000000' }, // longer = newer, though "smaller" as a string
        { chatId: GENERAL, threadId: THREAD, platformMessageId: '5' },
        { chatId: DM, platformMessageId: '7' },
      ]),
    ).toEqual([
      { channelId: GENERAL, afterMessageId: '1000000000000000000' },
      { channelId: THREAD, afterMessageId: '5' },
      { channelId: DM, afterMessageId: '7' },
    ]);
  });
});
