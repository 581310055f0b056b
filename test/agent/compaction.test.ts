import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { charCounter, Compactor, planCompaction, type CompactorOptions, type Summarizer } from '../../src/agent/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';
import { Lane } from '../../src/scheduler/index.js';
import { MemoryStore, type HistoryEntry, type NewHistoryEntry } from '../../src/store/index.js';

const KEY = 't:dm:u1';

function entries(n: number, chars = 36): NewHistoryEntry[] {
  // 36 chars -> 9 tokens + 4 framing = 13 tokens each with charCounter
  return Array.from({ length: n }, (_, i) => ({ sessionKey: KEY, role: i % 2 === 0 ? 'user' : 'assistant', content: `${i}`.padEnd(chars, '.'), at: i }));
}

interface Gate {
  summarize: Summarizer;
  calls: number;
  release(text?: string): void;
  fail(err: Error): void;
  signals: AbortSignal[];
}

/** A summarizer the test opens and closes; it honours the job's signal like a real request. */
function gate(): Gate {
  let resolveFn: ((t: string) => void) | undefined;
  let rejectFn: ((e: Error) => void) | undefined;
  const g: Gate = {
    calls: 0,
    signals: [],
    summarize: (_input, signal) => {
      g.calls += 1;
      g.signals.push(signal);
      return new Promise<string>((resolve, reject) => {
        resolveFn = resolve;
        rejectFn = reject;
        signal.addEventListener('abort', () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted')), { once: true });
      });
    },
    release: (text = 'SUMMARY') => resolveFn?.(text),
    fail: (err) => rejectFn?.(err),
  };
  return g;
}

let lane: Lane;
let store: MemoryStore;
beforeEach(() => {
  vi.useFakeTimers();
  lane = new Lane('background', { concurrency: 2 }, { now: () => Date.now(), onWaitWarning: () => undefined });
  store = new MemoryStore();
});
afterEach(() => {
  vi.useRealTimers();
});

function compactor(summarize: Summarizer, over: Partial<CompactorOptions> = {}): Compactor {
  return new Compactor({ memory: store, summarize, lane: () => lane, counter: charCounter, keepRecentTokens: 30, ...over });
}

describe('planCompaction', () => {
  it('keeps the newest entries within keepRecentTokens, starting at a user entry', () => {
    const h: HistoryEntry[] = entries(6).map((e, i) => ({ ...e, id: i + 1 }));
    const plan = planCompaction(h, 30, charCounter)!; // 13 + 13 = 26 fit: entries 5 (user) and 6
    expect(plan.entries.map((e) => e.id)).toEqual([1, 2, 3, 4]);
    expect(plan.throughId).toBe(4);
    expect(plan.firstId).toBe(1);
    expect(plan.keptTokens).toBe(26);
    // 40 tokens would fit 3 entries (4..6), but the kept part must start at a user entry: keep 3..6
    expect(planCompaction(h, 40, charCounter)!.entries.map((e) => e.id)).toEqual([1, 2]);
  });

  it('folds an existing summary and returns nothing when all fits', () => {
    const h: HistoryEntry[] = [{ id: 9, sessionKey: KEY, role: 'summary', content: 'S', at: 0 }, ...entries(4).map((e, i) => ({ ...e, id: 10 + i }))];
    const plan = planCompaction(h, 30, charCounter)!;
    expect(plan.previousSummary).toBe('S');
    expect(plan.firstId).toBe(9);
    expect(plan.entries.map((e) => e.id)).toEqual([10, 11]);
    expect(planCompaction(h, 1000, charCounter)).toBeUndefined();
    expect(planCompaction([], 10, charCounter)).toBeUndefined();
  });
});

describe('Compactor', () => {
  it('applies the summary in the background and keeps the recent entries', async () => {
    await store.appendHistory(entries(6));
    const g = gate();
    const applied: string[] = [];
    const c = compactor(g.summarize, { onApplied: (k) => applied.push(k) });
    const done = c.request(KEY);
    await vi.advanceTimersByTimeAsync(0);
    expect(g.calls).toBe(1);
    expect(c.isRunning(KEY)).toBe(true);
    g.release('they counted');
    await expect(done).resolves.toMatchObject({ status: 'applied', summarized: 4 });
    const h = await store.history(KEY);
    expect(h.map((e) => e.role)).toEqual(['summary', 'user', 'assistant']);
    expect(h[0]!.content).toBe('they counted');
    expect(applied).toEqual([KEY]);
  });

  it('runs one at a time per session and waits cooldownMs between starts', async () => {
    await store.appendHistory(entries(6));
    const g = gate();
    const c = compactor(g.summarize, { quota: { cooldownMs: 60_000 } });
    const first = c.request(KEY);
    await expect(c.request(KEY)).resolves.toMatchObject({ status: 'skipped', refusal: 'busy' });
    await vi.advanceTimersByTimeAsync(0);
    g.release();
    await expect(first).resolves.toMatchObject({ status: 'applied' });
    await expect(c.request(KEY)).resolves.toMatchObject({ status: 'skipped', refusal: 'cooldown' });
    await vi.advanceTimersByTimeAsync(59_999);
    expect(c.quota.check(KEY)).toBe('cooldown');
    await vi.advanceTimersByTimeAsync(1);
    expect(c.quota.check(KEY)).toBeUndefined();
    expect(g.calls).toBe(1);
    // another session is not affected by this one's quota
    expect(c.quota.check('other')).toBeUndefined();
  });

  it('aborts a job at timeoutMs, counts the failure and leaves history untouched', async () => {
    await store.appendHistory(entries(6));
    const before = await store.history(KEY);
    const g = gate();
    const c = compactor(g.summarize, { quota: { timeoutMs: 120_000, cooldownMs: 60_000 } });
    const done = c.request(KEY);
    await vi.advanceTimersByTimeAsync(119_999);
    expect(g.signals[0]!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(g.signals[0]!.aborted).toBe(true);
    const outcome = await done;
    expect(outcome.status).toBe('timeout');
    expect(isSwitchyardError(outcome.error, 'E_RUN_TIMEOUT')).toBe(true);
    expect(c.quota.snapshot(KEY)).toMatchObject({ running: false, failures: 1 });
    expect(await store.history(KEY)).toEqual(before);
    expect(lane.active).toBe(0);
  });

  it('refuses after maxAttempts failures in a row; a forced (overflow) compaction still runs and a success resets the count', async () => {
    await store.appendHistory(entries(6));
    let failing = true;
    const summarize: Summarizer = async () => {
      if (failing) throw new Error('model down');
      return 'fine';
    };
    const c = compactor(summarize, { quota: { maxAttempts: 3, cooldownMs: 1_000 } });
    for (let i = 0; i < 3; i++) {
      await expect(c.request(KEY)).resolves.toMatchObject({ status: 'failed' });
      await vi.advanceTimersByTimeAsync(1_000);
    }
    expect(c.quota.snapshot(KEY).failures).toBe(3);
    await expect(c.request(KEY)).resolves.toMatchObject({ status: 'skipped', refusal: 'attempts' });
    failing = false;
    await expect(c.compactNow(KEY, new AbortController().signal)).resolves.toMatchObject({ status: 'applied' });
    expect(c.quota.snapshot(KEY).failures).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(c.request(KEY)).resolves.toMatchObject({ status: 'nothing' });
  });

  it('discards a result whose summarized history changed meanwhile (stale)', async () => {
    const stored = await store.appendHistory(entries(6));
    const g = gate();
    const c = compactor(g.summarize);
    const done = c.request(KEY);
    await vi.advanceTimersByTimeAsync(0);
    // Meanwhile another summary replaced the prefix the job is summarizing.
    expect(await store.applySummary(KEY, { content: 'OTHER', throughId: stored[1]!.id, expectedLastId: stored[5]!.id })).toBe(true);
    g.release('LATE');
    await expect(done).resolves.toMatchObject({ status: 'discarded' });
    const h = await store.history(KEY);
    expect(h[0]!.content).toBe('OTHER');
    expect(h.some((e) => e.content === 'LATE')).toBe(false);
  });

  it('applies a result although new turns were appended meanwhile (they are kept after the summary)', async () => {
    await store.appendHistory(entries(6));
    const g = gate();
    const c = compactor(g.summarize);
    const done = c.request(KEY);
    await vi.advanceTimersByTimeAsync(0);
    await store.appendHistory([{ sessionKey: KEY, role: 'user', content: 'during', at: 99 }]);
    g.release('S');
    await expect(done).resolves.toMatchObject({ status: 'applied' });
    expect((await store.history(KEY)).map((e) => e.content)).toEqual(['S', entries(6)[4]!.content, entries(6)[5]!.content, 'during']);
  });

  it('an abort of the lane (drain) fails the job quietly; the session stays usable', async () => {
    await store.appendHistory(entries(6));
    const g = gate();
    const c = compactor(g.summarize, { quota: { cooldownMs: 0 } });
    const done = c.request(KEY);
    await vi.advanceTimersByTimeAsync(0);
    lane.abortJobs(new Error('draining'));
    await expect(done).resolves.toMatchObject({ status: 'failed' });
    expect(c.isRunning(KEY)).toBe(false);
    const again = c.request(KEY);
    await vi.advanceTimersByTimeAsync(0);
    g.release('S2');
    await expect(again).resolves.toMatchObject({ status: 'applied' });
  });

  it('compactNow supersedes a running background job of the session', async () => {
    await store.appendHistory(entries(6));
    const g = gate();
    const c = compactor(g.summarize);
    const background = c.request(KEY);
    await vi.advanceTimersByTimeAsync(0);
    const inline = c.compactNow(KEY, new AbortController().signal);
    await expect(background).resolves.toMatchObject({ status: 'aborted' });
    await vi.advanceTimersByTimeAsync(0);
    expect(g.calls).toBe(2);
    g.release('INLINE');
    await expect(inline).resolves.toMatchObject({ status: 'applied' });
    expect((await store.history(KEY))[0]!.content).toBe('INLINE');
  });

  it('a lane that cannot take the job (unknown lane) is a failed attempt, not an exception', async () => {
    await store.appendHistory(entries(6));
    const c = new Compactor({
      memory: store,
      summarize: async () => 'S',
      lane: () => {
        throw new Error('E_UNKNOWN_LANE background');
      },
      counter: charCounter,
      keepRecentTokens: 30,
    });
    await expect(c.request(KEY)).resolves.toMatchObject({ status: 'failed' });
    expect(c.isRunning(KEY)).toBe(false);
    expect(c.counts.failed).toBe(1);
  });
});
