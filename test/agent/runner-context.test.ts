/** The runner and the context window: overflow recovery, background compaction, accounting, throttle. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isSwitchyardError } from '../../src/errors/index.js';
import type { AgentConfig } from '../../src/agent/index.js';
import type { InboundMessage } from '../../src/channels/index.js';
import type { FakeStep } from '../../src/fakes/index.js';
import { ctxOf, message, turnOf } from './helpers.js';
import { closeRigs, lastBody, rig, type Rig } from './rig.js';

afterEach(closeRigs);

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
    await store.addPin({ sessionKey: key, text: 'the user is called Ada', source: 'manual', createdAt: 0 });
    s.script({ kind: 'overflow' }, { kind: 'reply', text: 'SUMMARY: twenty turns of x' }, { kind: 'reply', text: 'answer after compaction' });
    await agent.run(turnOf([m]), ctxOf());
    expect(s.chatRequests.map((r) => r.step)).toEqual(['overflow', 'reply', 'reply']);
    expect(s.chatRequests[1]!.body!.stream).toBe(false); // the summary request
    expect(replies[0]!.completed).toBe('answer after compaction');
    const h = await store.history(key);
    expect(h[0]).toMatchObject({ role: 'summary', content: 'SUMMARY: twenty turns of x' });
    expect(h.slice(-2).map((e) => e.content)).toEqual(['new question', 'answer after compaction']);
    expect(lastBody(s).messages[0]!.content).toContain('SUMMARY: twenty turns of x');
    // Pins survive compaction: they are in the system message before and after, never summarized away.
    expect(s.chatRequests[0]!.body!.messages[0]!.content).toContain('- the user is called Ada');
    expect(lastBody(s).messages[0]!.content).toContain('- the user is called Ada');
    expect(s.chatRequests[1]!.body!.messages[1]!.content).not.toContain('the user is called Ada');
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
    expect((err as Error).message).toMatch(/alone are too long\). Send a shorter message, or remove pinned memories with \/unpin\.$/);
    expect(s.chatRequests).toHaveLength(1);
  });

  it('recovers against a server with a real window (contextLimit)', async () => {
    const { s, agent, replies, m } = await seeded({}, 400);
    s.respondWith((req): FakeStep => (req.stream ? { kind: 'reply', text: 'fits now' } : { kind: 'reply', text: 'short summary' }));
    // The fake's own estimate of 20 x 400 chars is ~2100 tokens: over a 1500 limit until compacted.
    s.limitContext(1500);
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
