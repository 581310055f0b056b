/**
 * Fuzz: random and malformed updates through real polling. The adapter must never crash, must confirm every
 * update (a bad one cannot block the stream), and must hand ingress only valid envelopes.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InboundMessageSchema } from '../../../src/channels/index.js';
import { harness, type Harness } from './helpers.js';

const anyValue = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}));
const chat = fc.oneof(
  { weight: 5, arbitrary: fc.record({ id: fc.integer({ min: -1e12, max: 1e12 }), type: fc.constantFrom('private', 'group', 'supergroup', 'channel', 'weird') }) },
  { weight: 1, arbitrary: anyValue },
);
const user = fc.oneof(
  { weight: 5, arbitrary: fc.record({ id: fc.integer({ min: 1, max: 1e10 }), is_bot: fc.boolean(), first_name: fc.string({ maxLength: 10 }) }) },
  { weight: 1, arbitrary: anyValue },
);
const entity = fc.record({
  type: fc.constantFrom('mention', 'text_mention', 'bot_command', 'bold', 'url'),
  offset: fc.integer({ min: -5, max: 50 }),
  length: fc.integer({ min: -5, max: 50 }),
});
const message = fc.record(
  {
    message_id: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 1e6 }) }, { weight: 1, arbitrary: anyValue }),
    date: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 2e9 }) }, { weight: 1, arbitrary: anyValue }),
    chat,
    from: user,
    text: fc.oneof(fc.string({ maxLength: 40 }), fc.constant('/stop@switchyard_test_bot x'), fc.constant('@switchyard_test_bot hi'), anyValue),
    caption: fc.oneof(fc.string({ maxLength: 10 }), anyValue),
    entities: fc.oneof(fc.array(entity, { maxLength: 3 }), anyValue),
    photo: fc.oneof(fc.array(fc.record({ file_id: fc.string({ maxLength: 5 }) }), { maxLength: 2 }), anyValue),
    reply_to_message: fc.oneof(fc.record({ message_id: fc.integer({ min: 1, max: 99 }), from: user }), anyValue),
    message_thread_id: fc.oneof(fc.integer({ min: 1, max: 99 }), anyValue),
    is_topic_message: fc.oneof(fc.boolean(), anyValue),
    sender_chat: fc.oneof(fc.record({ id: fc.integer(), type: fc.constant('channel'), title: fc.string({ maxLength: 5 }) }), anyValue),
  },
  { requiredKeys: [] },
);
const update = fc.oneof(
  { weight: 6, arbitrary: message.map((m) => ({ message: m })) },
  { weight: 1, arbitrary: message.map((m) => ({ edited_message: m })) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), anyValue, { maxKeys: 3 }) },
  { weight: 1, arbitrary: anyValue.map((v) => ({ message: v })) },
);

describe('Telegram adapter fuzz', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('confirms 400 random updates, never crashes, and hands ingress only valid envelopes', async () => {
    h = await harness();
    await h.channel.start();
    const updates = fc.sample(update, { numRuns: 400, seed: 42 });
    let last = 0;
    for (const u of updates) last = h.fake.pushUpdate(u as Record<string, unknown>);
    await vi.waitFor(() => expect(h!.fake.confirmedOffset).toBe(last + 1), { timeout: 15_000, interval: 20 });
    expect(h.channel.state).toBe('running');
    expect(h.ingress.received.length).toBeGreaterThan(10); // the valid ones got through
    for (const m of h.ingress.received) expect(InboundMessageSchema.safeParse(m).success).toBe(true);
  });
});
