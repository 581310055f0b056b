/**
 * The scheduler-related complaints users file against peer gateways (../shared/REFERENCE.md, "What users of
 * these systems complain about"), each as a named test that would fail if Switchyard had the bug.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { flush, harness, msg } from './harness.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('complaint 1: queued follow-ups lost when the active run times out or is aborted', () => {
  for (const how of ['timeout', 'stop', 'error'] as const) {
    it(`the follow-up runs after the active run ends by ${how}`, async () => {
      const h = harness({ settings: () => ({ mode: 'followup', runTimeoutMs: 5_000 }) });
      const first = msg('dm');
      h.scheduler.submit(first);
      const followers = [msg('dm'), msg('dm')];
      for (const m of followers) h.scheduler.submit(m);
      if (how === 'timeout') vi.advanceTimersByTime(5_000);
      if (how === 'stop') h.scheduler.stop('dm');
      if (how === 'error') h.runs[0]!.reject(new Error('model down'));
      await flush();
      expect(h.runs).toHaveLength(2);
      expect(h.runs[1]!.ids).toEqual(followers.map((m) => m.id));
      h.runs[1]!.resolve();
      await flush();
      expect(h.outcomeOf(followers[0]!.id)?.outcome).toBe('answered');
      expect(h.scheduler.sessionCount).toBe(0);
    });
  }
});

describe('complaint 2: the queue never drains after a turn completes (lost wake-up)', () => {
  it('every pending message runs as runs complete, whatever the completion order', async () => {
    const h = harness({ settings: () => ({ mode: 'queue', maxConcurrent: 2 }) });
    const ms = Array.from({ length: 10 }, () => msg('s'));
    for (const m of ms) h.scheduler.submit(m);
    // Settle newest-first among the active ones, repeatedly.
    for (let i = 0; i < 20 && h.active().length > 0; i++) {
      const act = h.active();
      act[act.length - 1]!.resolve();
      await flush();
    }
    expect(ms.every((m) => h.outcomeOf(m.id)?.outcome === 'answered')).toBe(true);
    expect(h.scheduler.snapshot().sessions).toEqual([]);
    expect(h.scheduler.lane('main').stats()).toMatchObject({ active: 0, pending: 0 });
  });
});

describe('complaint 3: messages sent while the bot is busy are silently dropped', () => {
  it('a busy session admits and eventually answers every message (no lock-and-drop)', async () => {
    const h = harness({ settings: () => ({ mode: 'followup', cap: 100 }) });
    const ms = Array.from({ length: 30 }, (_, i) => msg('g', `u${i % 3}`));
    for (const m of ms) expect(h.scheduler.submit(m).status).toBe('admitted');
    while (h.active().length > 0) {
      h.active()[0]!.resolve();
      await flush();
    }
    expect(h.outcomes).toHaveLength(30);
    expect(new Set(h.outcomes.map((o) => o.outcome))).toEqual(new Set(['answered', 'merged']));
  });
});

describe('complaint 4: cap overflow drops messages with no notice', () => {
  it('every message dropped by the cap gets a `dropped` outcome (the user is told), none vanish', () => {
    const h = harness({ settings: () => ({ mode: 'queue', cap: 3, drop: 'old' }) });
    const ms = Array.from({ length: 10 }, () => msg('s'));
    for (const m of ms) h.scheduler.submit(m);
    const dropped = h.outcomes.filter((o) => o.outcome === 'dropped');
    expect(dropped).toHaveLength(6); // 1 running + 3 pending kept
    expect(dropped.every((o) => o.reason === 'cap')).toBe(true);
    expect(h.scheduler.session('s')?.pending).toBe(3);
  });
});

describe('complaint 7: parallel runs in one session interleave replies and corrupt history', () => {
  it('with maxConcurrent 1 a session never has two runs at once, even across aborts', async () => {
    let concurrent = 0;
    let peak = 0;
    const h = harness({
      settings: () => ({ mode: 'queue', abortGraceMs: 1000 }),
      run: (_turn, ctx) =>
        new Promise<void>((resolve) => {
          concurrent += 1;
          peak = Math.max(peak, concurrent);
          // unwinds 500 ms after its abort, like a model stream closing
          ctx.signal.addEventListener('abort', () =>
            setTimeout(() => {
              concurrent -= 1;
              resolve();
            }, 500),
          );
        }),
    });
    for (let i = 0; i < 3; i++) h.scheduler.submit(msg('s'));
    h.scheduler.stop('s');
    vi.advanceTimersByTime(100);
    expect(concurrent).toBe(1); // the next run waits while the aborted one unwinds
    vi.advanceTimersByTime(400);
    await flush();
    expect(concurrent).toBe(1);
    expect(peak).toBe(1);
  });
});

describe('complaint 8: one busy group starves DMs', () => {
  it('a lane serves sessions round-robin: a DM waits behind at most one run per other session', async () => {
    const h = harness({ lanes: { main: 1 }, settings: () => ({ mode: 'queue', cap: 1000 }) });
    for (let i = 0; i < 50; i++) h.scheduler.submit(msg('busy-group'));
    const dm = msg('dm');
    h.scheduler.submit(dm);
    h.runs[0]!.resolve(); // the group's first run ends
    await flush();
    expect(h.runs[1]!.ids).toEqual([dm.id]); // the DM is next, not the group's 49 others
  });

  it('sessions do not share a lock: two sessions run in parallel', () => {
    const h = harness({ settings: () => ({ mode: 'queue' }) });
    h.scheduler.submit(msg('a'));
    h.scheduler.submit(msg('b'));
    expect(h.active()).toHaveLength(2);
  });
});

describe('complaint 9: a burst gets one reply each instead of one considered answer', () => {
  it('followup mode answers a burst received during a run with one turn', async () => {
    const h = harness({ settings: () => ({ mode: 'followup' }) });
    h.scheduler.submit(msg('dm'));
    for (let i = 0; i < 5; i++) h.scheduler.submit(msg('dm'));
    h.runs[0]!.resolve();
    await flush();
    expect(h.runs).toHaveLength(2);
    expect(h.runs[1]!.turn.messages).toHaveLength(5);
  });

  it('debounce merges a burst from one sender before the first run starts', () => {
    const h = harness({ settings: () => ({ mode: 'followup', debounceMs: 800 }) });
    for (let i = 0; i < 4; i++) {
      h.scheduler.submit(msg('dm'));
      vi.advanceTimersByTime(200);
    }
    vi.advanceTimersByTime(800);
    expect(h.runs).toHaveLength(1);
    expect(h.runs[0]!.turn.messages).toHaveLength(4);
  });
});

describe('complaint 10: /stop races, misses the debounce buffer, or lets the run resume', () => {
  it('/stop right after submit (before the run started its work) still stops it', () => {
    const h = harness();
    const a = msg('s');
    h.scheduler.submit(a);
    expect(h.scheduler.stop('s').stopped?.messageIds).toEqual([a.id]);
    expect(h.runs[0]!.signal.aborted).toBe(true);
  });

  it('/stop cancels a turn still in its debounce buffer', () => {
    const h = harness({ settings: () => ({ debounceMs: 800 }) });
    const a = msg('s');
    h.scheduler.submit(a);
    expect(h.scheduler.stop('s').cancelled).toEqual([a.id]);
    vi.advanceTimersByTime(1000);
    expect(h.runs).toHaveLength(0);
    expect(h.outcomeOf(a.id)).toMatchObject({ outcome: 'cancelled', reason: 'stop' });
  });

  it('/stop while a run is waiting for its lane removes it: it never starts', () => {
    const h = harness({ lanes: { main: 1 } });
    h.scheduler.submit(msg('other'));
    const a = msg('s');
    h.scheduler.submit(a);
    expect(h.scheduler.stop('s').stopped?.messageIds).toEqual([a.id]);
    h.runs[0]!.resolve();
    expect(h.runs).toHaveLength(1);
  });

  it('a stopped run that settles successfully later does not turn into `answered`', async () => {
    const h = harness({ run: () => new Promise<void>((r) => setTimeout(r, 100)) });
    const a = msg('s');
    h.scheduler.submit(a);
    h.scheduler.stop('s');
    vi.advanceTimersByTime(100);
    await flush();
    expect(h.outcomesOf(a.id).map((o) => o.outcome)).toEqual(['cancelled']);
  });

  it('/stop with nothing to stop says so', () => {
    const h = harness();
    expect(h.scheduler.stop('nobody')).toEqual({ stopped: undefined, cancelled: [] });
  });
});
