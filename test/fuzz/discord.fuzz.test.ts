/**
 * Fuzz: 10,000 random and malformed MESSAGE_CREATE payloads through the real discord.js client and our
 * adapter, over the fake gateway's WebSocket. The adapter must not crash or leave an unhandled rejection,
 * every message it hands to ingress must be a valid envelope, and a well-formed message sent afterwards must
 * still arrive (the connection survived).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InboundMessageSchema } from '../../src/channels/index.js';
import type { DiscordChannel } from '../../src/channels/discord/index.js';
import type { FakeDiscord } from '../../src/fakes/discord.js';
import { alice, DM, GENERAL, GUILD, makeChannel, startFake, THREAD, type RecordingIngress } from '../channels/discord/helpers.js';

const TOTAL = 10_000;

let fake: FakeDiscord;
let channel: DiscordChannel;
let ingress: RecordingIngress;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  fake = await startFake();
  ({ channel, ingress } = makeChannel(fake));
  await channel.start();
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await channel.stop();
  await fake.close();
});

const junk = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.integer(),
  fc.string({ maxLength: 30 }),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
  fc.constant('x'.repeat(30_000)),
);

/** A valid-looking payload, then a few fields replaced by junk or removed. */
const payload = fc
  .record({
    channel: fc.constantFrom(GENERAL, THREAD, DM, '999999999999999999'),
    content: fc.oneof(fc.string({ maxLength: 100 }), fc.constant('/stop'), fc.constant('x'.repeat(20_000)), fc.string({ maxLength: 50, unit: 'grapheme' })),
    type: fc.oneof(fc.constantFrom(0, 19, 7, 18, 21), fc.integer({ min: -3, max: 60 })),
    mutations: fc.array(
      fc.tuple(fc.constantFrom('author', 'id', 'content', 'mentions', 'mention_roles', 'attachments', 'timestamp', 'member', 'guild_id', 'message_reference', 'channel_type', 'type', 'embeds'), junk),
      { maxLength: 4 },
    ),
    deletions: fc.array(fc.constantFrom('author', 'id', 'content', 'timestamp', 'mentions', 'attachments', 'member'), { maxLength: 2 }),
  })
  .map(({ channel: ch, content, type, mutations, deletions }) => {
    const id = fake.snowflake();
    const d: Record<string, unknown> = {
      id,
      channel_id: ch,
      author: { id: alice.id, username: alice.username, discriminator: '0', avatar: null, global_name: null },
      content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: [],
      embeds: [],
      pinned: false,
      type,
    };
    if (ch === DM) d['channel_type'] = 1;
    else {
      d['guild_id'] = GUILD;
      d['member'] = { roles: [], joined_at: new Date(0).toISOString(), deaf: false, mute: false };
    }
    for (const [k, v] of mutations) d[k] = v;
    for (const k of deletions) delete d[k];
    return d;
  });

describe('Discord adapter fuzz', () => {
  it(`survives ${TOTAL} random and malformed MESSAGE_CREATE payloads`, async () => {
    const samples = fc.sample(payload, { numRuns: TOTAL, seed: 42 });
    for (let i = 0; i < samples.length; i++) {
      fake.dispatch('MESSAGE_CREATE', samples[i]);
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    const probe = fake.postMessage({ channelId: DM, author: alice, content: 'still there?' });
    await vi.waitFor(
      () => {
        if (!ingress.received.some((m) => m.platformMessageId === probe.id)) throw new Error('probe not received yet');
      },
      { timeout: 20_000, interval: 20 },
    );
    for (const m of ingress.received) expect(InboundMessageSchema.safeParse(m).success).toBe(true);
    expect(unhandled.map((e) => (e instanceof Error ? e.stack?.split("\n").slice(0, 6).join(" | ") : String(e))).slice(0, 3)).toEqual([]);
    // Sanity: the fuzz is not all rejected at the door; plenty of plausible messages went through.
    expect(ingress.received.length).toBeGreaterThan(TOTAL / 50);
  }, 60_000);
});
