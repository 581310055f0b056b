import { afterEach, describe, expect, it, vi } from 'vitest';
import { charCounter, createAgent, parseScore, TurnScorer, type ClassifierCall } from '../../src/agent/index.js';
import { FakeOpenAIServer, type FakeStep } from '../../src/fakes/index.js';
import { Lane } from '../../src/scheduler/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { pino } from 'pino';
import { ctxOf, message, RecordingReply, turnOf } from './helpers.js';

const KEY = 't:dm:u1';
const lane = (): Lane => new Lane('background', { concurrency: 1 }, { now: () => Date.now(), onWaitWarning: () => undefined });

let server: FakeOpenAIServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('parseScore', () => {
  it.each([
    ['3 The user is called Ada.', 3, 'The user is called Ada.'],
    ['Score: 2', 2, undefined],
    ['**3** - prefers tea', 3, 'prefers tea'],
    ['0', 0, undefined],
    ['"3 Likes Rust"', 3, 'Likes Rust'],
  ])('%j -> %i', (text, score, memory) => {
    expect(parseScore(text)).toEqual({ score, memory });
  });
  it.each(['', 'very significant', '7 wonders', '10'])('%j has no score', (text) => {
    expect(parseScore(text)).toBeUndefined();
  });
});

describe('TurnScorer', () => {
  it('a score of 3 auto-pins the memory line; lower scores pin nothing', async () => {
    const store = new MemoryStore();
    const answers = ['3 The user is allergic to nuts.', '1'];
    const classify: ClassifierCall = async () => answers.shift()!;
    const scorer = new TurnScorer({ memory: store, classify, lane: (() => { const l = lane(); return () => l; })() });
    await expect(scorer.score(KEY, 'I am allergic to nuts', 'Noted!')).resolves.toMatchObject({ status: 'pinned', score: 3 });
    await expect(scorer.score(KEY, 'thanks', 'welcome')).resolves.toMatchObject({ status: 'scored', score: 1 });
    expect((await store.listPins(KEY)).map((p) => [p.text, p.source])).toEqual([['The user is allergic to nuts.', 'auto']]);
  });

  it('keeps at most autoCap auto pins (oldest evicted) and never evicts manual pins', async () => {
    const store = new MemoryStore();
    await store.addPin({ sessionKey: KEY, text: 'manual one', source: 'manual', createdAt: 0 });
    let n = 0;
    const classify: ClassifierCall = async () => `3 fact ${++n}`;
    const l = lane();
    const scorer = new TurnScorer({ memory: store, classify, lane: () => l, autoCap: 8 });
    for (let i = 0; i < 10; i++) await scorer.score(KEY, `u${i}`, `a${i}`);
    const pins = await store.listPins(KEY);
    expect(pins.filter((p) => p.source === 'auto').map((p) => p.text)).toEqual(['fact 3', 'fact 4', 'fact 5', 'fact 6', 'fact 7', 'fact 8', 'fact 9', 'fact 10']);
    expect(pins.filter((p) => p.source === 'manual').map((p) => p.text)).toEqual(['manual one']);
  });

  it('bounds its backlog: past maxQueued waiting jobs a turn is skipped, and room frees as jobs start', async () => {
    const store = new MemoryStore();
    // The classifier holds each call until released: with a lane of one, one job runs and the rest wait.
    const held: Array<() => void> = [];
    const classify: ClassifierCall = () => new Promise((resolve) => held.push(() => resolve('1')));
    const l = lane();
    const scorer = new TurnScorer({ memory: store, classify, lane: () => l, maxQueued: 3 });
    const first = scorer.score(KEY, 'u0', 'a0'); // starts at once: not waiting
    await vi.waitFor(() => expect(held).toHaveLength(1));
    const waiting = [1, 2, 3].map((i) => scorer.score(KEY, `u${i}`, `a${i}`));
    expect(scorer.backlog).toBe(3);
    await expect(scorer.score(KEY, 'u4', 'a4')).resolves.toEqual({ status: 'skipped' });
    expect(scorer.counts.skipped).toBe(1);
    held.shift()!(); // the running job ends, the next one starts: one place frees
    await expect(first).resolves.toMatchObject({ status: 'scored' });
    await vi.waitFor(() => expect(scorer.backlog).toBe(2));
    const late = scorer.score(KEY, 'u5', 'a5');
    expect(scorer.backlog).toBe(3);
    for (let i = 0; i < 4; i++) {
      await vi.waitFor(() => expect(held.length).toBeGreaterThan(0));
      held.shift()!();
    }
    await expect(Promise.all([...waiting, late])).resolves.toHaveLength(4);
    expect(scorer.backlog).toBe(0);
    expect(scorer.counts).toMatchObject({ scored: 5, skipped: 1 });
  });

  it('failures are logged, counted and never reject; the worker keeps going', async () => {
    const store = new MemoryStore();
    const lines: Array<{ msg: string; level: number }> = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => lines.push(JSON.parse(l) as { msg: string; level: number }) });
    const results = [
      () => Promise.reject(new Error('classifier 500')),
      () => Promise.resolve('no idea'),
      () => Promise.resolve('3 still works'),
    ];
    const classify: ClassifierCall = () => results.shift()!();
    const l = lane();
    const scorer = new TurnScorer({ memory: store, classify, lane: () => l, logger });
    await expect(scorer.score(KEY, 'a', 'b')).resolves.toMatchObject({ status: 'failed' });
    await expect(scorer.score(KEY, 'a', 'b')).resolves.toMatchObject({ status: 'unparsable' });
    await expect(scorer.score(KEY, 'a', 'b')).resolves.toMatchObject({ status: 'pinned' });
    expect(scorer.failed).toBe(1);
    expect(lines.map((x) => x.msg)).toEqual(['turn scoring failed', 'classifier answer has no score']);
  });

  it('a hung classifier is aborted at timeoutMs', async () => {
    vi.useFakeTimers();
    try {
      const store = new MemoryStore();
      let seen: AbortSignal | undefined;
      const classify: ClassifierCall = (_m, signal) =>
        new Promise((_r, reject) => {
          seen = signal;
          signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        });
      const l = lane();
      const scorer = new TurnScorer({ memory: store, classify, lane: () => l, timeoutMs: 5_000 });
      const p = scorer.score(KEY, 'a', 'b');
      await vi.advanceTimersByTimeAsync(5_000);
      await expect(p).resolves.toMatchObject({ status: 'failed' });
      expect(seen?.aborted).toBe(true);
      expect(l.active).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('scoring wired into the agent (fake server, classifier model)', () => {
  it('scores each answered turn with the classifier model; a failing classifier never fails the turn', async () => {
    server = new FakeOpenAIServer();
    const { url } = await server.start();
    const classifierAnswers: FakeStep[] = [{ kind: 'error', status: 500 }, { kind: 'reply', text: '3 Ada lives in Lyon.' }];
    server.respondWith((req) => (req.model === 'clf' ? classifierAnswers.shift()! : { kind: 'reply', text: 'sure' }));
    const store = new MemoryStore();
    const l = lane();
    const agent = createAgent({
      config: { provider: { baseUrl: url, model: 'chat', maxAttempts: 1 }, classifier: { model: 'clf' } },
      memory: store,
      counter: charCounter,
      openReply: (_t, signal) => new RecordingReply(signal),
      lane: () => l,
    });
    const m1 = message({ text: 'hi' });
    await agent.run(turnOf([m1]), ctxOf());
    await vi.waitFor(() => expect(agent.scorer.failed).toBe(1), { timeout: 2000, interval: 5 });
    await agent.run(turnOf([message({ text: 'I live in Lyon' })]), ctxOf());
    await vi.waitFor(async () => expect((await store.listPins(m1.sessionKey)).map((p) => p.text)).toEqual(['Ada lives in Lyon.']), { timeout: 2000, interval: 5 });
    const clf = server.chatRequests.filter((r) => r.body?.model === 'clf');
    expect(clf).toHaveLength(2);
    expect(clf[1]!.body!.messages[1]!.content).toContain('I live in Lyon');
    // the pin is in the next prompt's system message
    await agent.run(turnOf([message({ text: 'where do I live?' })]), ctxOf());
    const chat = server.chatRequests.filter((r) => r.body?.model === 'chat');
    expect(chat[chat.length - 1]!.body!.messages[0]!.content).toContain('- Ada lives in Lyon.');
  });
});
