/**
 * The envelope's fast path against its schema: on generated envelopes and on mutations of them (a field set to
 * any value, boundary values, a key removed or added, nested objects broken), `isInboundMessage` never accepts
 * what `InboundMessageSchema` rejects and accepts what it accepts (except the exotic shapes it leaves to zod:
 * arrays with extra properties, class instances), and `parseInbound` returns zod's verdict, data and wording.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isInboundMessage, parseInbound } from '../../src/channels/envelope-guard.js';
import { ATTACHMENT_KINDS, InboundMessageSchema, MAX_INBOUND_TEXT, PLATFORMS } from '../../src/channels/envelope.js';

const str = fc.string({ maxLength: 6 });
const nonEmpty = fc.string({ minLength: 1, maxLength: 6 });

const attachment = fc.record(
  {
    kind: fc.constantFrom(...ATTACHMENT_KINDS),
    id: nonEmpty,
    mime: str,
    size: fc.nat(),
    name: str,
    url: str,
    caption: str,
  },
  { requiredKeys: ['kind', 'id'] },
);

const envelope = fc.record(
  {
    id: nonEmpty,
    channelId: nonEmpty,
    platform: fc.constantFrom(...PLATFORMS),
    sessionKey: nonEmpty,
    chatId: nonEmpty,
    threadId: nonEmpty,
    senderId: nonEmpty,
    senderName: str,
    senderRoles: fc.array(str, { maxLength: 3 }),
    peer: fc.constantFrom('dm' as const, 'group' as const),
    text: fc.oneof(str, fc.constant('x'.repeat(MAX_INBOUND_TEXT))),
    mentionsBot: fc.boolean(),
    replyToBot: fc.boolean(),
    replyTo: fc.record({ platformMessageId: nonEmpty, senderId: str, text: str }, { requiredKeys: ['platformMessageId'] }),
    attachments: fc.array(attachment, { maxLength: 3 }),
    platformMessageId: nonEmpty,
    sentAt: fc.double({ noNaN: true, noDefaultInfinity: true }),
    receivedAt: fc.integer(),
    command: fc.record({ name: nonEmpty, args: str }),
  },
  {
    requiredKeys: ['id', 'channelId', 'platform', 'sessionKey', 'chatId', 'senderId', 'senderName', 'peer', 'text', 'mentionsBot', 'replyToBot', 'attachments', 'platformMessageId', 'sentAt', 'receivedAt'],
  },
);

/** Values that sit on a check's edge: empty and long strings, non-finite and fractional numbers, wrong shapes. */
const edgy = fc.oneof(
  fc.constantFrom('', 'a', 'dm', 'group', 'photo', 'telegram', 'x'.repeat(MAX_INBOUND_TEXT + 1), Number.NaN, Infinity, -Infinity, -0, -1, 1.5, 2 ** 53, null, undefined, true, [], {}, [''], [1]),
  fc.anything(),
);

type Mutation = (o: Record<string, unknown>) => void;

const keyOf = (o: Record<string, unknown>, i: number): string => {
  const keys = Object.keys(o);
  return keys[i % Math.max(1, keys.length)] ?? 'id';
};

/** One change to an envelope (or to its nested attachment, reply or command). */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), edgy).map(([i, v]): Mutation => (o) => void (o[keyOf(o, i)] = v)),
  fc.tuple(fc.constantFrom('threadId', 'senderRoles', 'replyTo', 'command', 'attachments', 'sentAt', 'text'), edgy).map(([k, v]): Mutation => (o) => void (o[k] = v)),
  fc.nat().map((i): Mutation => (o) => void delete o[keyOf(o, i)]),
  fc.tuple(fc.constantFrom('extra', 'catchUp', 'toString', '__proto__x'), edgy).map(([k, v]): Mutation => (o) => void (o[k] = v)),
  fc.tuple(fc.constantFrom('replyTo', 'command'), fc.nat(), edgy).map(([k, i, v]): Mutation => (o) => {
    const inner = o[k];
    if (typeof inner === 'object' && inner !== null) (inner as Record<string, unknown>)[i % 2 === 0 ? keyOf(inner as Record<string, unknown>, i) : 'extra'] = v;
  }),
  fc.tuple(fc.nat(), fc.constantFrom('kind', 'id', 'size', 'mime', 'extra'), edgy).map(([i, k, v]): Mutation => (o) => {
    const list = o['attachments'];
    const item: unknown = Array.isArray(list) && list.length > 0 ? list[i % list.length] : undefined;
    if (typeof item === 'object' && item !== null) (item as Record<string, unknown>)[k] = v;
  }),
);

const mutated = fc.tuple(envelope, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([e, ms]) => {
  const o = structuredClone(e) as Record<string, unknown>;
  for (const m of ms) m(o);
  return o;
});

/** Shapes the guard leaves to zod on purpose: arrays with extra properties, non-plain prototypes (anywhere). */
function exotic(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  if (Array.isArray(v)) {
    if (proto !== Array.prototype || Object.keys(v).length !== v.length) return true;
  } else if (proto !== Object.prototype && proto !== null) return true;
  return Object.values(v).some(exotic);
}

function agree(value: unknown): void {
  const zod = InboundMessageSchema.safeParse(value);
  const fast = isInboundMessage(value);
  // Never accepts what zod rejects; accepts everything zod accepts except the shapes it leaves to zod.
  if (fast) expect(zod.success).toBe(true);
  if (zod.success && !exotic(value)) expect(fast).toBe(true);
  const ours = parseInbound(value);
  expect(ours.success).toBe(zod.success);
  if (ours.success && zod.success) expect(ours.data).toEqual(zod.data);
  if (!ours.success && !zod.success) expect(ours.error.issues).toEqual(zod.error.issues);
}

describe('parseInbound: the fast path agrees with InboundMessageSchema', () => {
  it('accepts every valid envelope, returning it as is', () => {
    fc.assert(
      fc.property(envelope, (e) => {
        agree(e);
        expect(parseInbound(e)).toEqual({ success: true, data: e });
        expect((parseInbound(e) as { data: unknown }).data).toBe(e);
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees with zod on mutated envelopes: wrong types, edge values, missing and unknown keys, broken nested objects', () => {
    fc.assert(fc.property(mutated, agree), { numRuns: 5000 });
  });

  it('agrees on values that are not envelopes at all', () => {
    fc.assert(fc.property(fc.anything(), agree), { numRuns: 1000 });
  });

  it('leaves a class instance or an object with inherited keys to zod, which words the error as before', () => {
    const valid = fc.sample(envelope, 1)[0]!;
    const inherited = Object.create({ extra: 1 }) as Record<string, unknown>;
    Object.assign(inherited, valid);
    expect(isInboundMessage(inherited)).toBe(false);
    const roles = Object.assign(['admin'], { extra: 1 });
    expect(isInboundMessage({ ...valid, senderRoles: roles })).toBe(false);
    expect(parseInbound({ ...valid, senderRoles: roles })).toEqual({ success: true, data: { ...valid, senderRoles: ['admin'] } });
    expect(parseInbound(inherited).success).toBe(InboundMessageSchema.safeParse(inherited).success);
    const broken = parseInbound({ ...valid, text: 1 });
    expect(broken).toMatchObject({ success: false, issues: 'text: Invalid input: expected string, received number' });
  });
});
