import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAgent, charCounter, type AgentConfig, type AgentDeps } from '../../src/agent/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';
import { FakeOpenAIServer, type FakeChatRequest, type FakeStep } from '../../src/fakes/index.js';
import { Scheduler, type OutcomeRecord } from '../../src/scheduler/index.js';
import { MemoryStore } from '../../src/store/index.js';
import type { InboundMessage } from '../../src/channels/index.js';
import { ctxOf, message, RecordingReply, turnOf } from './helpers.js';

let server: FakeOpenAIServer | undefined;
const schedulers: Scheduler<InboundMessage>[] = [];
afterEach(async () => {
  for (const s of schedulers.splice(0)) await s.drain({ deadlineMs: 100 });
  await server?.close();
  server = undefined;
});

interface Rig {
  s: FakeOpenAIServer;
  store: MemoryStore;
  agent: ReturnType<typeof createAgent>;
  replies: RecordingReply[];
  scheduler: Scheduler<InboundMessage>;
}

async function rig(over: Partial<AgentConfig> = {}, deps: Partial<AgentDeps> = {}, replyHooks: ConstructorParameters<typeof RecordingReply>[1] = {}): Promise<Rig> {
  server = new FakeOpenAIServer();
  const { url } = await server.start();
  const store = new MemoryStore();
  const replies: RecordingReply[] = [];
  const holder: { scheduler?: Scheduler<InboundMessage> } = {};
  const agent = createAgent({
    config: {
      provider: { baseUrl: url, model: 'chat-model', maxAttempts: 1 },
      systemPrompt: 'SYS',
      contextWindow: 4096,
      classifier: { enabled: false },
      ...over,
    },
    memory: store,
    counter: charCounter,
    openReply: (_turn, signal) => {
      const r = new RecordingReply(signal, replyHooks);
      replies.push(r);
      return r;
    },
    lane: (name) => holder.scheduler!.lane(name),
    ...deps,
  });
  const scheduler = (holder.scheduler = new Scheduler<InboundMessage>({ lanes: { main: 4, background: 2 }, run: agent.run, contextRatio: agent.contextRatio, cutoffs: store.cutoffs }));
  schedulers.push(scheduler);
  return { s: server, store, agent, replies, scheduler };
}

function lastBody(s: FakeOpenAIServer): FakeChatRequest {
  return s.chatRequests[s.chatRequests.length - 1]!.body!;
}

describe('turn runner: answering', () => {
  it('streams the reply, completes it and records the user and assistant turns', async () => {
    const { s, store, agent, replies } = await rig();
    s.script({ kind: 'reply', text: 'Hi there Ada', usage: { prompt_tokens: 20, completion_tokens: 3 } });
    const m = message({ text: 'hello bot' });
    await agent.run(turnOf([m]), ctxOf());
    expect(replies[0]!.deltas.join('')).toBe('Hi there Ada');
    expect(replies[0]!.completed).toBe('Hi there Ada');
    expect(lastBody(s).messages).toEqual([
      { role: 'system', content: 'SYS' },
      { role: 'user', content: 'hello bot' },
    ]);
    const h = await store.history(m.sessionKey);
    expect(h.map((e) => [e.role, e.content, e.runId])).toEqual([
      ['user', 'hello bot', `${m.id}#1`],
      ['assistant', 'Hi there Ada', `${m.id}#1`],
    ]);
    expect(h[1]!.tokens).toBe(3 + 4);
  });

  it('answers through the real Scheduler: outcome answered', async () => {
    const { s, scheduler, replies } = await rig();
    s.script({ kind: 'reply', text: 'ok' });
    const outcome: OutcomeRecord = await scheduler.submitAndWait(message());
    expect(outcome.outcome).toBe('answered');
    expect(replies[0]!.completed).toBe('ok');
  });

  it('builds the prompt from pins, summary, history, group senders, follow-ups, drop notices, quotes and attachments', async () => {
    const { s, store, agent } = await rig();
    const g = message({ peer: 'group', chatId: 'g1', senderName: 'Bob', text: 'first' });
    const key = g.sessionKey;
    const [a] = await store.appendHistory([
      { sessionKey: key, role: 'user', content: 'old question', name: 'Bob', at: 1 },
      { sessionKey: key, role: 'assistant', content: 'old answer', at: 2 },
      { sessionKey: key, role: 'user', content: 'recent', name: 'Cy', at: 3 },
      { sessionKey: key, role: 'assistant', content: 'recent answer', at: 4 },
    ]);
    expect(await store.applySummary(key, { content: 'They talked about tea.', throughId: a!.id + 1, expectedLastId: a!.id + 3 })).toBe(true);
    await store.addPin({ sessionKey: key, text: 'Bob is vegetarian', source: 'manual', createdAt: 1 });
    const m2 = message({
      peer: 'group',
      chatId: 'g1',
      senderName: 'Cy',
      senderId: 'u2',
      text: 'look',
      replyTo: { platformMessageId: '1', text: 'the quoted one' },
      attachments: [{ kind: 'photo', id: 'p1', mime: 'image/jpeg', size: 20480, caption: 'a cat' }],
    });
    s.script({ kind: 'reply', text: 'done' });
    await agent.run(turnOf([g, m2], { kind: 'followup', droppedSummaries: ['Dan: spam'] }), ctxOf());
    const msgs = lastBody(s).messages;
    expect(msgs[0]).toEqual({
      role: 'system',
      content: 'SYS\n\nPinned memories (always true for this conversation):\n- Bob is vegetarian\n\nSummary of the earlier conversation:\nThey talked about tea.',
    });
    expect(msgs[1]).toEqual({ role: 'user', content: 'Cy: recent' });
    expect(msgs[2]).toEqual({ role: 'assistant', content: 'recent answer' });
    expect(msgs[3]!.role).toBe('user');
    expect(msgs[3]!.content).toBe(
      '[Note: 1 earlier message(s) were dropped because the queue was full:\n- Dan: spam]\n\nBob: first\n\nCy: (replying to: "the quoted one")\nlook\n[photo, image/jpeg, 20 KB: a cat]',
    );
    expect(msgs).toHaveLength(4);
    const h = await store.history(key);
    expect(h.slice(-3).map((e) => [e.role, e.name ?? null])).toEqual([
      ['user', 'Bob'],
      ['user', 'Cy'],
      ['assistant', null],
    ]);
  });
});

describe('turn runner: abort and failure', () => {
  it('an abort mid-stream sends nothing after it, cancels the reply, closes the socket and keeps history consistent', async () => {
    const { s, store, agent, replies } = await rig({}, {}, {
      onDelta: (r) => {
        if (r.deltas.length === 3) ctx.controller.abort(new Error('user /stop'));
      },
    });
    const ctx = ctxOf();
    s.script({ kind: 'reply', text: 'a b c d e f g h i j', tokenDelayMs: 3 });
    const m = message({ text: 'tell me' });
    await expect(agent.run(turnOf([m]), ctx)).rejects.toThrow('user /stop');
    const r = replies[0]!;
    expect(r.deltas).toHaveLength(3);
    expect(r.afterAbort).toBe(0);
    expect(r.completed).toBeUndefined();
    expect(r.cancelled).toBe('aborted');
    await vi.waitFor(() => expect(s.chatRequests[0]!.closedByClient).toBe(true), { timeout: 2000, interval: 2 });
    const h = await store.history(m.sessionKey);
    expect(h.map((e) => e.role)).toEqual(['user']); // the user said it; no partial answer is kept
    expect(agent.stats().turns).toEqual({ answered: 0, failed: 0, aborted: 1 });
  });

  it('a turn stopped before it reached the model records the user turn and opens no reply', async () => {
    const { s, store, agent, replies } = await rig();
    const c = ctxOf();
    c.controller.abort(new Error('stopped early'));
    const m = message({ text: 'hi?' });
    await expect(agent.run(turnOf([m]), c)).rejects.toThrow('stopped early');
    expect(replies).toHaveLength(0);
    expect(s.chatRequests).toHaveLength(0);
    expect((await store.history(m.sessionKey)).map((e) => e.content)).toEqual(['hi?']);
  });

  it('a re-run of an aborted turn (attempt 2) does not duplicate its user entries', async () => {
    const { s, store, agent } = await rig();
    const m = message({ text: 'again?' });
    const c1 = ctxOf();
    s.script({ kind: 'stall' });
    s.observe({ onRequest: () => setTimeout(() => c1.controller.abort(new Error('drain')), 5) });
    await expect(agent.run(turnOf([m]), c1)).rejects.toThrow('drain');
    s.observe({});
    s.script({ kind: 'reply', text: 'yes' });
    await agent.run(turnOf([m], { attempt: 2 }), ctxOf());
    const h = await store.history(m.sessionKey);
    expect(h.map((e) => [e.role, e.content])).toEqual([
      ['user', 'again?'],
      ['assistant', 'yes'],
    ]);
    expect(lastBody(s).messages.filter((x) => x.role === 'user')).toHaveLength(1);
  });

  it('a provider error fails the turn with a typed error, cancels the reply and records only the user turn', async () => {
    const { s, store, agent, replies } = await rig();
    s.script({ kind: 'error', status: 401 });
    const m = message();
    const err = await agent.run(turnOf([m]), ctxOf()).catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_PROVIDER_AUTH')).toBe(true);
    expect(replies[0]!.cancelled).toBe('E_PROVIDER_AUTH');
    expect((await store.history(m.sessionKey)).map((e) => e.role)).toEqual(['user']);
  });

  it('a turn whose channel cannot open a reply fails before calling the model and keeps the user turn', async () => {
    const { s, store, agent } = await rig({}, { openReply: () => { throw new Error('no adapter'); } });
    const m = message();
    await expect(agent.run(turnOf([m]), ctxOf())).rejects.toThrow('no adapter');
    expect(s.chatRequests).toHaveLength(0);
    expect((await store.history(m.sessionKey)).map((e) => e.role)).toEqual(['user']);
  });

  it('an empty model answer fails the turn with a clear reason instead of sending an empty message', async () => {
    const { s, store, agent, replies } = await rig();
    s.script({ kind: 'reply', text: '', finishReason: 'length' });
    const m = message();
    const err = await agent.run(turnOf([m]), ctxOf()).catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_PROVIDER_BAD_RESPONSE')).toBe(true);
    expect((err as Error).message).toMatch(/empty answer \(finish reason: length\)/);
    expect(replies[0]!.completed).toBeUndefined();
    expect(replies[0]!.cancelled).toBe('E_PROVIDER_BAD_RESPONSE');
    expect((await store.history(m.sessionKey)).map((e) => e.role)).toEqual(['user']);
  });

  it('a delivery failure records no assistant turn', async () => {
    const { s, store, agent } = await rig({}, {}, { failComplete: new Error('telegram down') });
    s.script({ kind: 'reply', text: 'lost' });
    const m = message();
    await expect(agent.run(turnOf([m]), ctxOf())).rejects.toThrow('telegram down');
    expect((await store.history(m.sessionKey)).map((e) => e.role)).toEqual(['user']);
  });
});

describe('turn runner: context overflow', () => {
  async function seeded(over: Partial<AgentConfig> = {}, chars = 150): Promise<Rig & { key: string; m: InboundMessage }> {
    // Background compaction off: these tests pin the overflow path's exact request sequence.
    const r = await rig({ contextWindow: 2048, keepRecentTokens: 100, compaction: { enabled: false }, ...over });
    const m = message({ text: 'new question' });
    const entries = [];
    for (let i = 0; i < 20; i++) {
      entries.push({ sessionKey: m.sessionKey, role: i % 2 === 0 ? ('user' as const) : ('assistant' as const), content: `turn ${i} ${'x'.repeat(chars)}`, at: i });
    }
    await r.store.appendHistory(entries);
    return { ...r, key: m.sessionKey, m };
  }

  it('compacts at once and retries the turn exactly once', async () => {
    const { s, store, agent, replies, key, m } = await seeded();
    s.script({ kind: 'overflow' }, { kind: 'reply', text: 'SUMMARY: twenty turns of x' }, { kind: 'reply', text: 'answer after compaction' });
    await agent.run(turnOf([m]), ctxOf());
    expect(s.chatRequests.map((r) => r.step)).toEqual(['overflow', 'reply', 'reply']);
    expect(s.chatRequests[1]!.body!.stream).toBe(false); // the summary request
    expect(replies[0]!.completed).toBe('answer after compaction');
    const h = await store.history(key);
    expect(h[0]).toMatchObject({ role: 'summary', content: 'SUMMARY: twenty turns of x' });
    expect(h.slice(-2).map((e) => e.content)).toEqual(['new question', 'answer after compaction']);
    expect(lastBody(s).messages[0]!.content).toContain('SUMMARY: twenty turns of x');
    expect(agent.stats()).toMatchObject({ turns: { answered: 1, failed: 0, aborted: 0 }, overflowRecoveries: 1, compactions: { applied: 1 } });
  });

  it('a second overflow after compaction fails the turn (no loop)', async () => {
    const { s, agent, replies, m } = await seeded();
    s.script({ kind: 'overflow' }, { kind: 'reply', text: 'S' }, { kind: 'overflow' }, { kind: 'reply', text: 'never' });
    const err = await agent.run(turnOf([m]), ctxOf()).catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_CONTEXT_OVERFLOW')).toBe(true);
    expect(s.chatRequests).toHaveLength(3);
    expect(replies[0]!.cancelled).toBe('E_CONTEXT_OVERFLOW');
  });

  it('an overflow with nothing to compact says the message is too long', async () => {
    const { s, agent } = await rig();
    s.script({ kind: 'overflow' });
    const err = await agent.run(turnOf([message({ text: 'huge' })]), ctxOf()).catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_CONTEXT_OVERFLOW')).toBe(true);
    expect((err as Error).message).toMatch(/too long/);
    expect(s.chatRequests).toHaveLength(1);
  });

  it('recovers against a server with a real window (contextLimit)', async () => {
    const { s, agent, replies, m } = await seeded({}, 400);
    s.respondWith((req): FakeStep => (req.stream ? { kind: 'reply', text: 'fits now' } : { kind: 'reply', text: 'short summary' }));
    // The fake's own estimate of 20 x 400 chars is ~2100 tokens: over a 1500 limit until compacted.
    (s as unknown as { options: { contextLimit: number } }).options.contextLimit = 1500;
    await agent.run(turnOf([m]), ctxOf());
    expect(replies[0]!.completed).toBe('fits now');
    const steps = s.chatRequests.map((r) => [r.step, r.body!.stream === true]);
    // overflow, then the summary folded in chunks that each fit the window, then the answer
    expect(steps[0]).toEqual(['overflow', true]);
    expect(steps.slice(1, -1).length).toBeGreaterThan(1);
    expect(steps.slice(1, -1).every(([step, stream]) => step === 'reply' && stream === false)).toBe(true);
    expect(steps[steps.length - 1]).toEqual(['reply', true]);
  });
});

describe('turn runner: background compaction', () => {
  it('starts compaction in the background lane when the estimate crosses compactAt; later turns see the summary', async () => {
    const { s, store, agent, replies } = await rig({ contextWindow: 1024, reserveTokens: 256, keepRecentTokens: 60 });
    const key = message().sessionKey;
    // Chat turns are streamed; the summary request is not.
    s.respondWith((req) => {
      if (req.stream) return { kind: 'reply', text: 'ok' };
      return { kind: 'reply', text: 'SUMMARY' };
    });
    await store.appendHistory(
      Array.from({ length: 14 }, (_, i) => ({ sessionKey: key, role: i % 2 === 0 ? ('user' as const) : ('assistant' as const), content: 'z'.repeat(200), at: i })),
    );
    // 14 x 54 = 756 tokens + the turn: over compactAt = 768
    const m = message({ text: 'q'.repeat(100) });
    await agent.run(turnOf([m]), ctxOf());
    expect(replies[0]!.completed).toBe('ok'); // the turn did not wait for compaction
    await vi.waitFor(async () => expect((await store.history(key))[0]?.role).toBe('summary'), { timeout: 2000, interval: 5 });
    const h = await store.history(key);
    expect(h[0]!.content).toBe('SUMMARY');
    expect(h[h.length - 1]).toMatchObject({ role: 'assistant', content: 'ok' }); // the turn's entries survived
    expect(agent.compactor.quota.snapshot(key).lastStartAt).toBeDefined();
    await vi.waitFor(() => expect(agent.contextRatio(key)).toBeLessThan(0.5), { timeout: 2000, interval: 5 });
    await agent.run(turnOf([message({ text: 'next' })]), ctxOf());
    expect(lastBody(s).messages[0]!.content).toContain('Summary of the earlier conversation:\nSUMMARY');
  });

  it('turns are neither blocked nor lost while a compaction runs (complaint 12)', async () => {
    let release: ((text: string) => void) | undefined;
    const summarize = (): Promise<string> => new Promise<string>((resolve) => (release = resolve));
    const { s, store, agent, replies } = await rig({ contextWindow: 1024, reserveTokens: 256, keepRecentTokens: 60 }, { summarize });
    const key = message().sessionKey;
    s.respondWith(() => ({ kind: 'reply', text: 'ok' }));
    await store.appendHistory(
      Array.from({ length: 14 }, (_, i) => ({ sessionKey: key, role: i % 2 === 0 ? ('user' as const) : ('assistant' as const), content: 'z'.repeat(200), at: i })),
    );
    await agent.run(turnOf([message({ text: 'first' })]), ctxOf());
    await vi.waitFor(() => expect(release).toBeDefined(), { timeout: 2000, interval: 2 });
    expect(agent.compactor.isRunning(key)).toBe(true);
    // Two more turns while the summary is still being written: both answered at once.
    await agent.run(turnOf([message({ text: 'second' })]), ctxOf());
    await agent.run(turnOf([message({ text: 'third' })]), ctxOf());
    expect(replies.map((r) => r.completed)).toEqual(['ok', 'ok', 'ok']);
    release!('S');
    await vi.waitFor(() => expect(agent.compactor.isRunning(key)).toBe(false), { timeout: 2000, interval: 2 });
    const h = await store.history(key);
    expect(h[0]).toMatchObject({ role: 'summary', content: 'S' });
    // Nothing said during the compaction was lost.
    expect(h.filter((e) => e.role === 'user').map((e) => e.content).slice(-3)).toEqual(['first', 'second', 'third']);
    expect(h.filter((e) => e.role === 'assistant')).toHaveLength(h.filter((e) => e.role === 'user').length);
  });

  it('a failing compaction never breaks the session', async () => {
    const { s, store, agent, replies } = await rig({ contextWindow: 1024, reserveTokens: 256, keepRecentTokens: 60 });
    const key = message().sessionKey;
    s.respondWith((req) => (req.stream ? { kind: 'reply', text: 'still here' } : { kind: 'error', status: 400 }));
    await store.appendHistory(
      Array.from({ length: 14 }, (_, i) => ({ sessionKey: key, role: i % 2 === 0 ? ('user' as const) : ('assistant' as const), content: 'z'.repeat(200), at: i })),
    );
    await agent.run(turnOf([message({ text: 'q'.repeat(100) })]), ctxOf());
    await vi.waitFor(() => expect(agent.compactor.quota.snapshot(key).failures).toBe(1), { timeout: 2000, interval: 5 });
    await agent.run(turnOf([message({ text: 'and now?' })]), ctxOf());
    expect(replies.map((r) => r.completed)).toEqual(['still here', 'still here']);
    expect(agent.stats().compactions.failed).toBe(1);
    expect(agent.stats().turns.answered).toBe(2);
  });
});

describe('turn runner: context accounting', () => {
  it('reports the context ratio to the scheduler, calibrated by reported prompt_tokens', async () => {
    const { s, agent } = await rig({ contextWindow: 1000 });
    const m = message({ text: 'y'.repeat(400) });
    expect(agent.contextRatio(m.sessionKey)).toBe(0);
    s.respondWith(() => ({ kind: 'reply', text: 'ok', usage: { prompt_tokens: 2 * (3 + 1 + 4 + 100 + 4), completion_tokens: 1 } }));
    await agent.run(turnOf([m]), ctxOf());
    // estimate: request 3 + system(SYS: 1 + 4) + user(100 + 4) = 112 raw; calibrated x2 = 224; + answer (1 + 4) x2
    expect(agent.meter.factor).toBeCloseTo(2, 5);
    expect(agent.contextRatio(m.sessionKey)).toBeCloseTo((112 + 5) * 2 / 1000, 5);
    expect(await agent.prime(m.sessionKey)).toBe(Math.round((3 + 5 + 104 + 5) * 2));
  });
});

describe('turn runner + Scheduler: adaptive throttle', () => {
  it('a group session runs one turn at a time once its context is over throttleRatio', async () => {
    const { s, store, scheduler, agent } = await rig({ contextWindow: 1000 });
    const g = (text: string) => message({ peer: 'group', chatId: 'g-throttle', senderId: `u-${text}`, text });
    const key = g('x').sessionKey;
    let active = 0;
    let maxActive = 0;
    s.respondWith(() => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      return { kind: 'reply', text: 'ok', tokenDelayMs: 15 };
    });
    const settle = () => {
      active -= 1;
    };
    // A small context first: three group turns run side by side (maxConcurrent 3).
    const submitAll = async (texts: string[]): Promise<void> => {
      await Promise.all(texts.map((t) => scheduler.submitAndWait(g(t)).then(settle)));
    };
    const groupSettings = { maxConcurrent: 3 };
    scheduler.reset(() => groupSettings);
    await submitAll(['a', 'b', 'c']);
    expect(maxActive).toBe(3);
    // Fill the history past 60 % of the window, then prime the estimate.
    await store.appendHistory([{ sessionKey: key, role: 'user', content: 'w'.repeat(3200), at: 1 }]);
    await agent.prime(key);
    expect(agent.contextRatio(key)).toBeGreaterThanOrEqual(0.6);
    maxActive = 0;
    await submitAll(['d', 'e', 'f']);
    expect(maxActive).toBe(1);
  });
});
