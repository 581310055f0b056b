/**
 * The Discord adapter wired to the real Ingress, MemoryStore and Scheduler (no access gate), against the fake
 * Discord: commands stop real runs, slash answers come from ingress, and a restart with catch-up answers each
 * message exactly once.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FakeDiscord } from '../../../src/fakes/discord.js';
import type { InboundMessage } from '../../../src/channels/index.js';
import { DiscordChannel } from '../../../src/channels/discord/index.js';
import { Ingress, replyTargetOf } from '../../../src/ingress/index.js';
import { Scheduler } from '../../../src/scheduler/index.js';
import { MemoryStore } from '../../../src/store/index.js';
import { alice, bob, GENERAL, startFake } from './helpers.js';

const fastIdentify = { ws: { buildIdentifyThrottler: () => Promise.resolve({ waitForIdentify: () => Promise.resolve() }) } };

describe('Discord end to end with ingress, store and scheduler', () => {
  let fake: FakeDiscord;
  let store: MemoryStore;
  let adapters: DiscordChannel[];
  /** Texts that block their run until released (to have something running for /stop). */
  let blockers: Map<string, () => void>;

  beforeEach(async () => {
    fake = await startFake();
    store = new MemoryStore();
    adapters = [];
    blockers = new Map();
  });
  afterEach(async () => {
    for (const a of adapters) await a.stop();
    await fake.close();
  });

  /** One gateway "process": a scheduler whose runs answer `echo: <texts>` through the adapter. */
  function boot(catchUp?: ConstructorParameters<typeof DiscordChannel>[0]['catchUp']): DiscordChannel {
    // `adapter` is declared below; the closures here only run after it is built.
    const scheduler = new Scheduler<InboundMessage>({
      lanes: { main: 4 },
      settings: () => ({ mode: 'followup', maxConcurrent: 1 }),
      cutoffs: store.cutoffs,
      run: async (turn, ctx) => {
        const owner = turn.messages[0]!;
        const reply = adapter.openReply(replyTargetOf(owner), { runId: turn.id, signal: ctx.signal });
        const block = owner.text.startsWith('block') ? new Promise<void>((r) => blockers.set(owner.text, r)) : undefined;
        if (block) {
          await new Promise<void>((resolve, reject) => {
            void block.then(resolve);
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
          }).finally(() => void reply.cancel('aborted'));
        }
        await reply.complete(`echo: ${turn.messages.map((m) => m.text).join(' + ')}`);
      },
    });
    const ingress = new Ingress({ store, scheduler, channel: () => adapter });
    const adapter: DiscordChannel = new DiscordChannel({ id: 'dc', token: fake.token, restApi: fake.restApi, ingress, deliveries: store, registerCommands: true, catchUp, clientOptions: fastIdentify });
    adapters.push(adapter);
    return adapter;
  }

  const botTexts = (): string[] => fake.botMessages(GENERAL).map((m) => m.content);

  it('a /stop text command aborts the running reply; nothing from it reaches the channel', async () => {
    await boot().start();
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'block me' });
    await vi.waitFor(() => expect(blockers.has('block me')).toBe(true), { timeout: 5000, interval: 10 });
    fake.postMessage({ channelId: GENERAL, author: alice, content: '/stop' });
    await vi.waitFor(() => expect(botTexts()).toContain('Stopped the reply in progress.'), { timeout: 5000, interval: 10 });
    blockers.get('block me')!(); // too late: the run was aborted
    fake.postMessage({ channelId: GENERAL, author: bob, content: 'next' });
    await vi.waitFor(() => expect(botTexts()).toContain('echo: next'), { timeout: 5000, interval: 10 });
    expect(botTexts().filter((t) => t.includes('block me'))).toEqual([]);
  });

  it('the /stopall slash command stops everything and answers in the interaction', async () => {
    await boot().start();
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'block one' });
    await vi.waitFor(() => expect(blockers.has('block one')).toBe(true), { timeout: 5000, interval: 10 });
    const queued = fake.postMessage({ channelId: GENERAL, author: bob, content: 'queued behind' });
    await vi.waitFor(async () => expect(await store.getMessage(`dc:${GENERAL}:${queued.id}`)).toBeDefined(), { timeout: 5000, interval: 10 });
    const { token } = fake.pushInteraction({ channelId: GENERAL, user: alice, name: 'stopall' });
    await vi.waitFor(() => expect(fake.interactionReplies.get(token)!.some((r) => r.kind === 'edit')).toBe(true), { timeout: 5000, interval: 10 });
    const edit = fake.interactionReplies.get(token)!.find((r) => r.kind === 'edit')!;
    expect((edit.body as { content: string }).content).toBe('Stopped 1 reply and cancelled 1 waiting message. Messages sent before this one will be ignored.');
    expect(botTexts()).toEqual([]);
  });

  it('after a restart, catch-up answers what was missed and nothing twice', async () => {
    const first = boot();
    await first.start();
    const m1 = fake.postMessage({ channelId: GENERAL, author: alice, content: 'first' });
    await vi.waitFor(() => expect(botTexts()).toEqual(['echo: first']), { timeout: 5000, interval: 10 });
    await first.stop();

    fake.postMessage({ channelId: GENERAL, author: bob, content: 'while down', dispatch: false });
    // The second process catches up from *before* m1 (say the last stored id is older): m1 comes back from
    // history, the store reports it duplicate, and it is not answered again.
    const second = boot({ channels: async () => [{ channelId: GENERAL, afterMessageId: (BigInt(m1.id) - 1n).toString() }] });
    await second.start();
    await vi.waitFor(() => expect(botTexts()).toEqual(['echo: first', 'echo: while down']), { timeout: 5000, interval: 10 });
    // History holds m1, the bot's own answer (skipped) and the missed message.
    expect(second.lastCatchUp).toMatchObject({ fetched: 3, handedOn: 2 });
    fake.postMessage({ channelId: GENERAL, author: alice, content: 'live again' });
    await vi.waitFor(() => expect(botTexts()).toEqual(['echo: first', 'echo: while down', 'echo: live again']), { timeout: 5000, interval: 10 });
  });
});
