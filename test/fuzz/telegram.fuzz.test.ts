/**
 * Fuzz: 10,000 random and malformed Telegram updates through the real grammY polling path of our adapter
 * (fake Bot API on loopback). No crash, no unhandled rejection, every message handed to ingress is a valid
 * envelope, every update is confirmed (the offset moves past all of them, so none loops forever), and a
 * well-formed message sent afterwards still arrives.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InboundMessageSchema } from '../../src/channels/index.js';
import { alice, dmAlice, group, harness, type Harness } from '../channels/telegram/helpers.js';

const TOTAL = 10_000;
let h: Harness;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  h = await harness();
  await h.channel.start();
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await h.close();
});

const junk = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.string({ maxLength: 20 }),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
  fc.constant('x'.repeat(20_000)),
  fc.double(),
);
const chats = fc.constantFrom(dmAlice, group, { id: -100300, type: 'supergroup', title: 'Forum', is_forum: true }, { id: 5, type: 'channel', title: 'C' });
const kinds = fc.constantFrom('message', 'edited_message', 'channel_post', 'callback_query', 'my_chat_member', 'poll', 'message', 'message');

const update = fc
  .record({
    kind: kinds,
    chat: chats,
    text: fc.oneof(fc.string({ maxLength: 80 }), fc.constant('/stop'), fc.constant('/stopall@other_bot'), fc.constant('x'.repeat(5000)), fc.string({ maxLength: 30, unit: 'grapheme' })),
    extra: fc.array(
      fc.tuple(
        fc.constantFrom('from', 'chat', 'date', 'text', 'entities', 'caption', 'photo', 'document', 'reply_to_message', 'message_thread_id', 'is_topic_message', 'sticker', 'message_id', 'new_chat_members'),
        junk,
      ),
      { maxLength: 3 },
    ),
    drop: fc.array(fc.constantFrom('from', 'chat', 'date', 'message_id', 'text'), { maxLength: 2 }),
    messageId: fc.integer({ min: -5, max: 1_000_000 }),
  })
  .map(({ kind, chat, text, extra, drop, messageId }) => {
    const body: Record<string, unknown> = { message_id: messageId, date: Math.floor(Date.now() / 1000), chat, from: alice, text };
    for (const [k, v] of extra) body[k] = v;
    for (const k of drop) delete body[k];
    return { [kind]: body };
  });

describe('Telegram adapter fuzz', () => {
  it(`survives ${TOTAL} random and malformed updates and confirms every one`, async () => {
    const samples = fc.sample(update, { numRuns: TOTAL, seed: 7 });
    let last = 0;
    for (const s of samples) last = h.fake.pushUpdate(s);
    const probe = h.fake.pushMessage({ chat: dmAlice, from: alice, text: 'still there?' });
    await vi.waitFor(
      () => {
        if (!h.ingress.received.some((m) => m.text === 'still there?')) throw new Error(`probe not received; offset ${h.fake.confirmedOffset}`);
      },
      { timeout: 30_000, interval: 25 },
    );
    await vi.waitFor(() => expect(h.fake.confirmedOffset).toBeGreaterThan(probe.updateId), { timeout: 10_000, interval: 25 });
    expect(last).toBeLessThan(probe.updateId);
    for (const m of h.ingress.received) expect(InboundMessageSchema.safeParse(m).success).toBe(true);
    expect(unhandled.map(String).slice(0, 3)).toEqual([]);
    expect(h.ingress.received.length).toBeGreaterThan(TOTAL / 50);
  }, 90_000);
});
