import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { once } from 'node:events';
import type { FakeDiscord, FakeRequest } from '../../../src/fakes/discord.js';
import type { DiscordChannel, RateLimitInfo } from '../../../src/channels/discord/index.js';
import type { ReplyTarget } from '../../../src/channels/index.js';
import { isSwitchyardError } from '../../../src/errors/index.js';
import { DM, GENERAL, makeChannel, startFake, THREAD, type MemoryDeliveries } from './helpers.js';

const general: ReplyTarget = { channelId: 'dc', sessionKey: `dc:group:${GENERAL}`, chatId: GENERAL, peer: 'group' };

/** A 5,000-character reply: prose, then a long TypeScript code block, then prose. */
function longReply(): string {
  const prose = 'This paragraph explains the plan in some detail so that the reader can follow along. '.repeat(12);
  const code = Array.from({ length: 60 }, (_, i) => `const value${i} = compute(${i}); // step ${i}`).join('\n');
  const text = `${prose}\n\n\`\`\`ts\n${code}\n\`\`\`\n\n${prose}`;
  return text.length >= 5000 ? text : text + '\nMore. '.repeat(Math.ceil((5000 - text.length) / 6));
}

function fencesBalanced(chunk: string): boolean {
  return (chunk.match(/^```/gm) ?? []).length % 2 === 0;
}

const posts = (fake: FakeDiscord, channelId: string): FakeRequest[] => fake.requests.filter((r) => r.method === 'POST' && r.path === `/channels/${channelId}/messages`);

describe('DiscordChannel outbound', () => {
  let fake: FakeDiscord;
  let channel: DiscordChannel;
  let deliveries: MemoryDeliveries;
  const rateLimited: RateLimitInfo[] = [];

  beforeEach(async () => {
    fake = await startFake();
    rateLimited.length = 0;
    ({ channel, deliveries } = makeChannel(fake, { onRateLimited: (i) => rateLimited.push(i), typingIntervalMs: 1000 }));
    await channel.start();
  });
  afterEach(async () => {
    await channel.stop();
    await fake.close();
  });

  it('chunks a 5,000-character reply with a code block into <= 2000-char messages with balanced fences, recorded in order', async () => {
    const text = longReply();
    expect(text.length).toBeGreaterThanOrEqual(5000);
    const stream = channel.openReply({ ...general, replyToPlatformMessageId: '123456789012345678' }, { runId: 'run-1', signal: new AbortController().signal });
    stream.delta(text.slice(0, 100));
    // Typing shows while the run works (the first indicator goes out at once).
    await vi.waitFor(() => expect(fake.requests.some((r) => r.path === `/channels/${GENERAL}/typing`)).toBe(true), { timeout: 3000, interval: 10 });
    await stream.complete(text);
    const sent = fake.botMessages(GENERAL);
    expect(sent.length).toBeGreaterThanOrEqual(3);
    for (const m of sent) {
      expect(m.content.length).toBeLessThanOrEqual(2000);
      expect(fencesBalanced(m.content)).toBe(true);
    }
    // Nothing lost: the code lines all arrive, in order.
    const joined = sent.map((m) => m.content).join('\n');
    for (let i = 0; i < 60; i++) expect(joined).toContain(`const value${i} = compute(${i});`);
    expect(joined.indexOf('value10 ')).toBeLessThan(joined.indexOf('value50 '));
    // Only the first chunk replies to the user's message; no chunk may ping anyone.
    const bodies = posts(fake, GENERAL).map((r) => r.body as Record<string, unknown>);
    expect(bodies[0]!.message_reference).toEqual({ message_id: '123456789012345678', fail_if_not_exists: false });
    expect(bodies.slice(1).every((b) => b.message_reference === undefined)).toBe(true);
    expect(bodies.every((b) => (b.allowed_mentions as { parse: unknown[] }).parse.length === 0)).toBe(true);
    expect(deliveries.records).toEqual(sent.map((m, i) => ({ runId: 'run-1', chunkIndex: i, platformMessageId: m.id })));
  });

  it('never resends a chunk already recorded for the run (re-run after a crash)', async () => {
    const text = longReply();
    await channel.openReply(general, { runId: 'run-2', signal: new AbortController().signal }).complete(text);
    const first = fake.botMessages(GENERAL).length;
    // Simulate a crash after chunk 0 only was recorded: drop the later records, re-run the turn.
    deliveries.records.splice(1);
    await channel.openReply(general, { runId: 'run-2', signal: new AbortController().signal }).complete(text);
    const after = fake.botMessages(GENERAL);
    // Chunks 1.. were sent again (their records were lost) but carried the same nonces with enforce_nonce, so
    // Discord returned the earlier messages; chunk 0 was skipped outright. No duplicate in the channel.
    expect(after).toHaveLength(first);
    const rerunPosts = posts(fake, GENERAL).slice(first);
    expect(rerunPosts).toHaveLength(first - 1);
    expect(deliveries.records.map((r) => r.chunkIndex)).toEqual([...Array(first).keys()]);
  });

  it('sends nothing after the run is aborted', async () => {
    const ac = new AbortController();
    const stream = channel.openReply(general, { runId: 'run-3', signal: ac.signal });
    stream.delta('partial');
    ac.abort();
    await stream.complete('the full answer');
    await stream.cancel('stopped');
    expect(fake.botMessages(GENERAL)).toHaveLength(0);
    expect(deliveries.records).toHaveLength(0);
  });

  it('stops between chunks when the run is aborted mid-delivery, quietly', async () => {
    const ac = new AbortController();
    fake.events.on('request', (r: FakeRequest) => {
      if (r.method === 'POST' && r.path === `/channels/${GENERAL}/messages`) ac.abort();
    });
    // Resolves (an aborted run is not a send failure), and no chunk after the abort is requested. Chunk 0 was
    // accepted by the fake; whether its response beat the abort decides whether it was recorded.
    await channel.openReply(general, { runId: 'run-mid', signal: ac.signal }).complete(longReply());
    expect(posts(fake, GENERAL)).toHaveLength(1);
    expect(fake.botMessages(GENERAL)).toHaveLength(1);
    expect(deliveries.records.every((r) => r.chunkIndex === 0)).toBe(true);
  });

  it('honours a 429 on send: waits retry_after, then delivers exactly once, and reports the rate limit', async () => {
    fake.rateLimitNext('POST', new RegExp(`^/channels/${DM}/messages$`), { retryAfterMs: 400 });
    const t0 = Date.now();
    await channel.openReply({ channelId: 'dc', sessionKey: 'dc:dm:1', chatId: DM, peer: 'dm' }, { runId: 'run-4', signal: new AbortController().signal }).complete('hello after a wait');
    const attempts = posts(fake, DM);
    expect(attempts.map((r) => r.status)).toEqual([429, 200]);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(400);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(fake.botMessages(DM).map((m) => m.content)).toEqual(['hello after a wait']);
    expect(rateLimited).toHaveLength(1);
    expect(rateLimited[0]).toMatchObject({ method: 'POST', global: false });
    expect(rateLimited[0]!.retryAfterMs).toBeGreaterThanOrEqual(400);
  });

  it('posts into the thread for a thread target, and DMs carry no reply reference', async () => {
    await channel.notify({ ...general, threadId: THREAD, replyToPlatformMessageId: '123456789012345678' }, 'in thread');
    await channel.notify({ channelId: 'dc', sessionKey: 'dc:dm:1', chatId: DM, peer: 'dm', replyToPlatformMessageId: '123456789012345678' }, 'in dm');
    expect(fake.botMessages(THREAD).map((m) => m.content)).toEqual(['in thread']);
    expect(fake.botMessages(DM).map((m) => m.content)).toEqual(['in dm']);
    expect((posts(fake, DM)[0]!.body as Record<string, unknown>).message_reference).toBeUndefined();
  });

  it('surfaces a refused send as E_CHANNEL_SEND', async () => {
    const err = await channel.openReply({ ...general, chatId: '999999999999999999' }, { runId: 'run-5', signal: new AbortController().signal }).complete('x').catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_CHANNEL_SEND')).toBe(true);
    expect(deliveries.records).toHaveLength(0);
  });

  it('refreshes typing on its interval while the run works and stops when it ends', async () => {
    const stream = channel.openReply(general, { runId: 'run-6', signal: new AbortController().signal });
    const typing = () => fake.requests.filter((r) => r.path === `/channels/${GENERAL}/typing`).length;
    await vi.waitFor(() => expect(typing()).toBeGreaterThanOrEqual(2), { timeout: 3000, interval: 20 }); // 1 s interval in this suite
    await stream.complete('done');
    const settled = typing();
    const next = once(fake.events, 'request');
    await channel.notify(general, 'unrelated'); // a later request: typing would have shown up by now if still running
    await next;
    expect(typing()).toBe(settled);
  });
});

describe('DiscordChannel preview streaming', () => {
  let fake: FakeDiscord;
  let channel: DiscordChannel;

  beforeEach(async () => {
    fake = await startFake();
    ({ channel } = makeChannel(fake, { streaming: { enabled: true, editIntervalMs: 250 } }));
    await channel.start();
  });
  afterEach(async () => {
    await channel.stop();
    await fake.close();
  });

  it('edits one preview message at a bounded rate, then turns it into the first chunk', async () => {
    const stream = channel.openReply(general, { runId: 'run-p', signal: new AbortController().signal });
    stream.delta('Hello');
    stream.delta(', here is the beginning of a longer answer');
    await vi.waitFor(() => expect(fake.botMessages(GENERAL)).toHaveLength(1), { timeout: 3000, interval: 10 });
    for (let i = 0; i < 30; i++) stream.delta(` word${i}`);
    await vi.waitFor(() => expect(fake.botMessages(GENERAL)[0]!.content).toContain('word29'), { timeout: 3000, interval: 10 });
    await stream.complete('Hello, the final answer.');
    const msgs = fake.botMessages(GENERAL);
    expect(msgs.map((m) => m.content)).toEqual(['Hello, the final answer.']);
    const previewOps = fake.requests.filter((r) => r.path.startsWith(`/channels/${GENERAL}/messages`) && r.method !== 'GET');
    // 1 create + few edits (30 deltas coalesced) + 1 final edit; preview calls start >= 250 ms apart (arrival
    // times at the fake differ from start times by the loopback latency, hence the margin).
    expect(previewOps.length).toBeLessThanOrEqual(4);
    const edits = previewOps.slice(0, -1);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < edits.length; i++) expect(edits[i]!.at - edits[i - 1]!.at).toBeGreaterThanOrEqual(200);
  });

  it('removes the preview when the run is cancelled', async () => {
    const stream = channel.openReply(general, { runId: 'run-c', signal: new AbortController().signal });
    stream.delta('thinking about it, and this is long enough to be previewed');
    await vi.waitFor(() => expect(fake.botMessages(GENERAL)).toHaveLength(1), { timeout: 3000, interval: 10 });
    await stream.cancel('stopped');
    expect(fake.botMessages(GENERAL)).toHaveLength(0);
  });
});
