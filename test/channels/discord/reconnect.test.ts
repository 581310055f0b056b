import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeDiscord } from '../../../src/fakes/discord.js';
import type { DiscordChannel } from '../../../src/channels/discord/index.js';
import { StoreWriteError } from '../../../src/store/index.js';
import { alice, bob, DM, GENERAL, makeChannel, startFake, THREAD, type RecordingIngress } from './helpers.js';

describe('DiscordChannel across gateway reconnects', () => {
  let fake: FakeDiscord;
  let channel: DiscordChannel;
  let ingress: RecordingIngress;

  beforeEach(async () => {
    fake = await startFake();
    ({ channel, ingress } = makeChannel(fake));
    await channel.start();
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'before' });
    await ingress.waitForAccepted(1);
  });
  afterEach(async () => {
    await channel.stop();
    await fake.close();
  });

  /** Posts messages while the client has no socket, then waits for them. */
  async function postDuringGap(): Promise<string[]> {
    const texts = ['gap-1', 'gap-2', 'gap-3'];
    fake.postMessage({ channelId: GENERAL, author: alice, content: texts[0]! });
    fake.postMessage({ channelId: THREAD, author: bob, content: texts[1]! });
    fake.postMessage({ channelId: DM, author: alice, content: texts[2]! });
    return texts;
  }

  it.each(['op7', 'close'] as const)('resumes after %s and loses no message sent in between', async (mode) => {
    const closed = once(fake.events, 'socketClose');
    const resumed = once(fake.events, 'resume');
    fake.forceReconnect(mode);
    await closed;
    expect(fake.openSockets).toBe(0); // really between sockets: the events below can only arrive by replay
    const texts = await postDuringGap();
    await resumed;
    await ingress.waitForAccepted(4);
    expect(ingress.accepted.map((m) => m.text).sort()).toEqual(['before', ...texts].sort());
    expect(ingress.received).toHaveLength(4); // replayed once, not twice
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'after' });
    await ingress.waitForAccepted(5);
    expect(ingress.accepted.filter((m) => m.chatId === GENERAL && !m.threadId).map((m) => m.text)).toEqual(['before', 'gap-1', 'after']);
  });

  it('after an invalidated session re-identifies and fetches the gap from history', async () => {
    const closed = once(fake.events, 'socketClose');
    const identified = once(fake.events, 'identify');
    fake.forceReconnect('invalidate');
    await closed;
    // The session is gone: these are not replayed, only findable in channel history.
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'lost-1' });
    fake.postMessage({ channelId: GENERAL, author: bob, content: 'lost-2' });
    await identified;
    await ingress.waitForAccepted(3);
    expect(ingress.accepted.map((m) => m.text)).toEqual(['before', 'lost-1', 'lost-2']);
    await vi_waitFor(() => channel.lastCatchUp?.reason === 'reidentify');
    expect(channel.lastCatchUp).toMatchObject({ reason: 'reidentify', channels: 1, handedOn: 2 });
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'after' });
    await ingress.waitForAccepted(4);
    expect(ingress.received.map((m) => m.text)).toEqual(['before', 'lost-1', 'lost-2', 'after']);
  });

  it('a message ingress refused is fetched again by the next catch-up pass', async () => {
    // Ingress fails once (a store write error, say) for this message: it must not be skipped over for good.
    let failOnce = true;
    const receive = ingress.receive.bind(ingress);
    ingress.receive = async (m) => {
      if (m.text === 'flaky' && failOnce) {
        failOnce = false;
        throw new Error('store write failed');
      }
      return receive(m);
    };
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'flaky' });
    fake.postMessage({ channelId: DM, author: alice, content: 'marker' });
    await ingress.waitForAccepted(2);
    expect(failOnce).toBe(false);
    expect(ingress.accepted.map((m) => m.text)).toEqual(['before', 'marker']);
    const identified = once(fake.events, 'identify');
    fake.forceReconnect('invalidate');
    await identified;
    await ingress.waitForAccepted(3);
    expect(ingress.accepted.map((m) => m.text)).toEqual(['before', 'marker', 'flaky']);
  });

  it('a message the store refuses for a while (E_STORE_WRITE) is retried in place, keeping channel order', async () => {
    // Discord never resends a message: the adapter must keep it until the store takes it, and later messages
    // of the same channel must not overtake it.
    let refusals = 0;
    const receive = ingress.receive.bind(ingress);
    ingress.receive = async (m) => {
      if (m.text === 'during-fault' && refusals < 2) {
        refusals += 1;
        throw new StoreWriteError('/data/switchyard.db', 'accept', Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
      }
      return receive(m);
    };
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'during-fault' });
    fake.postMessage({ channelId: GENERAL, author: bob, content: 'behind-it' });
    await ingress.waitForAccepted(3);
    expect(refusals).toBe(2);
    expect(ingress.accepted.map((m) => m.text)).toEqual(['before', 'during-fault', 'behind-it']);
  });
});


async function vi_waitFor(cond: () => boolean): Promise<void> {
  const { vi } = await import('vitest');
  await vi.waitFor(() => {
    if (!cond()) throw new Error('not yet');
  }, { timeout: 5000, interval: 10 });
}
