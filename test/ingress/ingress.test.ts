import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChannelAdapter, InboundMessage, ReplyTarget } from '../../src/channels/index.js';
import { Ingress, type AccessGate, type AccessVerdict } from '../../src/ingress/index.js';
import { Scheduler, type Turn } from '../../src/scheduler/index.js';
import { MemoryStore, SqliteStore, type Store } from '../../src/store/index.js';

/** A channel adapter that records notices (our own port, not a platform library). */
class RecordingChannel implements ChannelAdapter {
  readonly id = 'local';
  readonly platform = 'webchat' as const;
  readonly notices: Array<{ target: ReplyTarget; text: string }> = [];
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  openReply(): never {
    throw new Error('not used');
  }
  async notify(target: ReplyTarget, text: string): Promise<void> {
    this.notices.push({ target, text });
  }
}

let n = 0;
function message(over: Partial<InboundMessage> = {}): InboundMessage {
  n += 1;
  return {
    id: `local:c1:${n}`,
    channelId: 'local',
    platform: 'webchat',
    sessionKey: 'local:dm:u1',
    chatId: 'c1',
    senderId: 'u1',
    senderName: 'Ann',
    peer: 'dm',
    text: `hello ${n}`,
    mentionsBot: false,
    replyToBot: false,
    attachments: [],
    platformMessageId: String(n),
    sentAt: n,
    receivedAt: n,
    ...over,
  };
}

function setup(options: { access?: AccessGate; run?: (turn: Turn<InboundMessage>) => unknown; cap?: number; store?: Store; now?: () => number } = {}) {
  const store = options.store ?? new MemoryStore();
  const channel = new RecordingChannel();
  const gates: Array<() => void> = [];
  const turns: Array<Turn<InboundMessage>> = [];
  const scheduler = new Scheduler<InboundMessage>({
    lanes: { main: 2 },
    settings: () => ({ mode: 'followup', cap: options.cap ?? 10, drop: 'new' }),
    cutoffs: store.cutoffs,
    run:
      options.run ??
      ((turn, ctx) => {
        turns.push(turn);
        return new Promise<void>((resolve, reject) => {
          gates.push(resolve);
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
        });
      }),
  });
  const ingress = new Ingress({
    store,
    scheduler,
    channel: () => channel,
    access: options.access ? () => options.access : undefined,
    now: options.now,
  });
  return { store, channel, scheduler, ingress, gates, turns };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Ingress', () => {
  it('journals, enqueues and records the outcome and run states', async () => {
    const t = setup();
    const m = message();
    expect(await t.ingress.receive(m)).toEqual({ status: 'accepted' });
    expect(t.turns).toHaveLength(1);
    expect((await t.store.getRun(`${m.id}#1`))?.state).toBe('running');
    t.gates[0]!();
    await vi.advanceTimersByTimeAsync(1);
    await t.ingress.flush();
    expect((await t.store.getMessage(m.id))?.outcome?.outcome).toBe('answered');
    expect((await t.store.getRun(`${m.id}#1`))?.state).toBe('answered');
  });

  it('a redelivered message is a duplicate and is not run twice', async () => {
    const t = setup();
    const m = message();
    await t.ingress.receive(m);
    expect(await t.ingress.receive({ ...m })).toEqual({ status: 'duplicate' });
    expect(t.turns).toHaveLength(1);
  });

  it('answers /stop at once and journals it, so a redelivered /stopall does not run twice', async () => {
    const t = setup();
    await t.ingress.receive(message());
    const stop = message({ text: '/stop', command: { name: 'stop', args: '' } });
    expect(await t.ingress.receive(stop)).toEqual({ status: 'command' });
    expect(t.channel.notices.at(-1)?.text).toBe('Stopped the reply in progress.');
    const stopAll = message({ text: '/stopall', command: { name: 'stopall', args: '' } });
    await t.ingress.receive(stopAll);
    expect(await t.ingress.receive({ ...stopAll })).toEqual({ status: 'duplicate' });
    expect(t.channel.notices.filter((x) => x.text.includes('sent before this one'))).toHaveLength(1);
  });

  it('an operator stop (admin API) is told to the chat once; a stop that found nothing says nothing', async () => {
    const t = setup();
    const m = message();
    await t.ingress.receive(m);
    const result = t.scheduler.stop(m.sessionKey);
    await t.ingress.operatorStopped(m.sessionKey, { kind: 'stop', result });
    expect(t.channel.notices.map((x) => x.text)).toEqual(['An operator stopped the reply in progress.']);
    expect(t.channel.notices[0]!.target).toMatchObject({ chatId: 'c1', sessionKey: m.sessionKey, replyToPlatformMessageId: m.platformMessageId });
    await vi.advanceTimersByTimeAsync(1);
    await t.ingress.flush();
    expect(t.ingress.inflightCount).toBe(0);
    // Its outcome is decided (no longer in flight): the chat is found through the store.
    await t.ingress.operatorStopped(m.sessionKey, { kind: 'stop', result: { stopped: { runId: `${m.id}#1`, messageIds: [m.id] }, cancelled: [] } });
    await t.ingress.receive(message());
    await t.ingress.operatorStopped(m.sessionKey, { kind: 'stopall', result: t.scheduler.stopAll(m.sessionKey) });
    await t.ingress.operatorStopped(m.sessionKey, { kind: 'stop', result: t.scheduler.stop(m.sessionKey) }); // nothing left
    expect(t.channel.notices.map((x) => x.text)).toEqual([
      'An operator stopped the reply in progress.',
      'An operator stopped the reply in progress.',
      'An operator stopped 1 reply in this chat. Messages sent before now will be ignored.',
    ]);
  });

  it('stale messages after /stopall get one notice per burst', async () => {
    const t = setup();
    const late = [message(), message(), message()];
    const stopAll = message({ text: '/stopall', command: { name: 'stopall', args: '' } });
    await t.ingress.receive(stopAll);
    for (const m of late) await t.ingress.receive(m);
    await t.ingress.flush();
    const stale = t.channel.notices.filter((x) => x.text.startsWith('Ignored'));
    expect(stale).toHaveLength(1);
    for (const m of late) expect((await t.store.getMessage(m.id))?.outcome?.outcome).toBe('stale');
  });

  it('the stale-notice throttle forgets sessions whose window passed: bounded by notices per window, not by sessions', async () => {
    let clock = 0;
    const t = setup({ now: () => clock });
    let maxHeld = 0;
    const sessions = 1_500;
    for (let i = 0; i < sessions; i++) {
      const who = { sessionKey: `local:dm:s${i}`, senderId: `s${i}`, chatId: `s${i}` };
      const late = message(who);
      await t.ingress.receive(message({ ...who, text: '/stopall', command: { name: 'stopall', args: '' } }));
      await t.ingress.receive(late);
      maxHeld = Math.max(maxHeld, t.ingress.staleNoticeSessions);
      clock += 1_000; // one stale session a second; the window is 10 s
    }
    await t.ingress.flush();
    expect(t.channel.notices.filter((x) => x.text.startsWith('Ignored'))).toHaveLength(sessions);
    expect(maxHeld).toBeLessThanOrEqual(1025);
    expect(t.ingress.staleNoticeSessions).toBeLessThan(sessions);
    // A session still inside its window stays throttled after the sweeps: its next stale message says nothing.
    const last = { sessionKey: `local:dm:s${sessions - 1}`, senderId: `s${sessions - 1}`, chatId: `s${sessions - 1}` };
    clock -= 1_000;
    await t.ingress.receive(message({ ...last, sentAt: 0 }));
    await t.ingress.flush();
    expect(t.channel.notices.filter((x) => x.text.startsWith('Ignored'))).toHaveLength(sessions);
  });

  it('access: ignore and deny (with its notice) never reach the store', async () => {
    let verdict: AccessVerdict = { kind: 'ignore', reason: 'no mention' };
    const t = setup({
      access: { decide: async () => verdict, mayRunCommand: (_m, name) => name !== 'stopall' },
    });
    const a = message();
    expect(await t.ingress.receive(a)).toEqual({ status: 'ignored' });
    verdict = { kind: 'deny', reason: 'not paired', notice: 'Your pairing code is 123456' };
    const b = message();
    expect(await t.ingress.receive(b)).toEqual({ status: 'denied' });
    expect(t.channel.notices.map((x) => x.text)).toEqual(['Your pairing code is 123456']);
    expect(await t.store.getMessage(a.id)).toBeUndefined();
    expect(await t.store.getMessage(b.id)).toBeUndefined();
  });

  it('a command the sender may not use is answered with a refusal and not executed', async () => {
    const t = setup({ access: { decide: async () => ({ kind: 'allow' }), mayRunCommand: (_m, name) => name !== 'stopall' } });
    await t.ingress.receive(message());
    await t.ingress.receive(message({ text: '/stopall', command: { name: 'stopall', args: '' } }));
    expect(t.channel.notices.at(-1)?.text).toBe('Only admins can use /stopall here.');
    expect(t.scheduler.session('local:dm:u1')?.active).toHaveLength(1);
  });

  it('a too-long message is refused with a clear notice; a malformed envelope is a typed error', async () => {
    const t = setup();
    expect(await t.ingress.receive(message({ text: 'x'.repeat(20_000) }))).toEqual({ status: 'denied' });
    expect(t.channel.notices[0]?.text).toMatch(/too long \(20000 characters; the limit is 16384\)/);
    await expect(t.ingress.receive({ ...message(), senderId: '' })).rejects.toMatchObject({ code: 'E_CHANNEL_MALFORMED' });
  });

  it('tells the user when a message is dropped by the cap and when a run fails', async () => {
    const t = setup({ cap: 1 });
    await t.ingress.receive(message());
    await t.ingress.receive(message());
    const dropped = message();
    await t.ingress.receive(dropped);
    expect(t.channel.notices.at(-1)?.text).toMatch(/dropped/);
    const f = setup({
      run: () => {
        throw new Error('provider exploded');
      },
    });
    await f.ingress.receive(message());
    await vi.advanceTimersByTimeAsync(1);
    expect(f.channel.notices.at(-1)?.text).toMatch(/something went wrong/);
  });

  it('merged outcomes become durable only with their owner, so a crash in between re-queues them', async () => {
    const t = setup();
    const first = message();
    await t.ingress.receive(first);
    const [a, b] = [message(), message()];
    await t.ingress.receive(a);
    await t.ingress.receive(b);
    t.gates[0]!(); // the follow-up turn (a + b) launches: b is merged into a
    await vi.advanceTimersByTimeAsync(1);
    await t.ingress.flush();
    expect((await t.store.getMessage(b.id))?.outcome).toBeUndefined();
    t.gates[1]!();
    await vi.advanceTimersByTimeAsync(1);
    await t.ingress.flush();
    expect((await t.store.getMessage(b.id))?.outcome).toMatchObject({ outcome: 'merged', ownerId: a.id });
    expect((await t.store.getMessage(a.id))?.outcome?.outcome).toBe('answered');
  });

  it('while draining, an accepted message stays durable for the next start', async () => {
    const t = setup();
    await t.scheduler.drain({ deadlineMs: 0 });
    const m = message();
    expect(await t.ingress.receive(m)).toEqual({ status: 'accepted' });
    const plan = await t.store.recover({ maxAttempts: 3 });
    expect(plan.pending.map((x) => x.id)).toEqual([m.id]);
  });

  it('resume re-queues a recovery plan: interrupted runs at their attempt, then pending messages', async () => {
    const t = setup();
    const [a, b, c] = [message(), message(), message()];
    t.ingress.resume({
      runs: [{ run: { runId: `${a.id}#2`, sessionKey: a.sessionKey, messageIds: [a.id, b.id], state: 'queued', attempt: 2, createdAt: 0, updatedAt: 0 }, messages: [a, b] }],
      pending: [c],
      exhausted: [],
      alreadyAnswered: [],
    });
    expect(t.turns[0]).toMatchObject({ id: `${a.id}#2`, attempt: 2 });
    expect(t.turns[0]!.messages.map((m) => m.id)).toEqual([a.id, b.id]);
    t.gates[0]!();
    await vi.advanceTimersByTimeAsync(1);
    expect(t.turns[1]!.messages.map((m) => m.id)).toEqual([c.id]);
  });

  it('resume tells the user once about a run the gateway died during every attempt of, with the true count', async () => {
    const t = setup();
    const a = message();
    t.ingress.resume({
      runs: [],
      pending: [],
      exhausted: [{ run: { runId: `${a.id}#3`, sessionKey: a.sessionKey, messageIds: [a.id], state: 'failed', attempt: 3, createdAt: 0, updatedAt: 0 }, messages: [a] }],
      alreadyAnswered: [],
    });
    await vi.advanceTimersByTimeAsync(1);
    expect(t.channel.notices.map((x) => x.text)).toEqual(['Sorry, I could not answer your message after 3 attempts and gave up.']);
    expect(t.turns).toHaveLength(0);
  });

  it('outcome and run writes the store refuses are retried until they commit; stopRetrying gives up after one last try', async () => {
    // The SQLite write queue commits on setImmediate: only timeouts (the retry backoff) are faked here.
    vi.useRealTimers();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const store = new SqliteStore({ path: ':memory:' });
    const t = setup({ store });
    const [a, b] = [message({ sessionKey: 'local:dm:a' }), message({ sessionKey: 'local:dm:b' })];
    await t.ingress.receive(a);
    store.simulateFault('readonly');
    t.gates[0]!();
    await vi.advanceTimersByTimeAsync(50); // the first attempt and its refusal; the retry waits 100 ms
    expect((await store.getMessage(a.id))?.outcome).toBeUndefined();
    expect((await store.getRun(`${a.id}#1`))?.state).toBe('running');
    store.simulateFault(undefined);
    await vi.advanceTimersByTimeAsync(100);
    await t.ingress.flush();
    expect((await store.getMessage(a.id))?.outcome?.outcome).toBe('answered');
    expect((await store.getRun(`${a.id}#1`))?.state).toBe('answered');

    // Shutdown while the store still refuses: flush does not wait for the fault to end.
    await t.ingress.receive(b);
    store.simulateFault('readonly');
    t.gates[1]!();
    await vi.advanceTimersByTimeAsync(50);
    t.ingress.stopRetrying();
    await t.ingress.flush();
    expect((await store.getMessage(b.id))?.outcome).toBeUndefined(); // left for recovery
    store.simulateFault(undefined);
    expect((await store.recover({ maxAttempts: 3 })).runs.map((r) => r.run.runId)).toEqual([`${b.id}#2`]);
    await store.close();
  });
});
