import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StaleCutoff } from '../../src/scheduler/index.js';
import { flush, harness, msg } from './harness.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('mode queue', () => {
  it('runs each message as its own turn, FIFO, up to maxConcurrent at once', async () => {
    const h = harness({ settings: () => ({ mode: 'queue', maxConcurrent: 2 }) });
    const ms = [msg('s'), msg('s'), msg('s'), msg('s')];
    for (const m of ms) expect(h.scheduler.submit(m).status).toBe('admitted');
    expect(h.runs.map((r) => r.ids)).toEqual([[ms[0]!.id], [ms[1]!.id]]);
    h.runs[1]!.resolve();
    await flush();
    expect(h.runs.map((r) => r.ids[0])).toEqual([ms[0]!.id, ms[1]!.id, ms[2]!.id]);
    h.runs[0]!.resolve();
    h.runs[2]!.resolve();
    await flush();
    h.runs[3]!.resolve();
    await flush();
    expect(ms.map((m) => h.outcomeOf(m.id)?.outcome)).toEqual(['answered', 'answered', 'answered', 'answered']);
    expect(h.runs.every((r) => r.turn.kind === 'message' && r.turn.messages.length === 1)).toBe(true);
    expect(h.scheduler.sessionCount).toBe(0);
  });
});

describe('mode followup', () => {
  it('runs at once when idle and collects what arrives meanwhile into one follow-up turn', async () => {
    const h = harness({ settings: () => ({ mode: 'followup' }) });
    const first = msg('dm', 'u1', 'first');
    h.scheduler.submit(first);
    expect(h.runs).toHaveLength(1);
    const during = [msg('dm', 'u1', 'a'), msg('dm', 'u2', 'b'), msg('dm', 'u1', 'c')];
    for (const m of during) h.scheduler.submit(m);
    expect(h.runs).toHaveLength(1);
    h.runs[0]!.resolve();
    await flush();
    expect(h.runs).toHaveLength(2);
    const follow = h.runs[1]!;
    expect(follow.turn.kind).toBe('followup');
    expect(follow.ids).toEqual(during.map((m) => m.id));
    expect(h.outcomeOf(during[1]!.id)).toMatchObject({ outcome: 'merged', ownerId: during[0]!.id, runId: follow.turn.id });
    expect(h.outcomeOf(during[2]!.id)?.outcome).toBe('merged');
    follow.resolve();
    await flush();
    expect(h.outcomeOf(first.id)?.outcome).toBe('answered');
    expect(h.outcomeOf(during[0]!.id)?.outcome).toBe('answered');
    expect(h.outcomes).toHaveLength(4);
  });

  it('group with maxConcurrent 3 starts three runs before collecting', () => {
    const h = harness({ settings: () => ({ mode: 'followup', maxConcurrent: 3 }) });
    for (let i = 0; i < 5; i++) h.scheduler.submit(msg('g', `u${i}`));
    expect(h.runs).toHaveLength(3);
    expect(h.scheduler.session('g')).toMatchObject({ pending: 2, pendingTurns: 1 });
  });
});

describe('mode interrupt', () => {
  it('aborts the active run, drops the backlog as superseded and runs the newest', async () => {
    const h = harness({ settings: () => ({ mode: 'interrupt', maxConcurrent: 1 }) });
    const a = msg('s');
    h.scheduler.submit(a);
    const running = h.runs[0]!;
    const b = msg('s');
    h.scheduler.submit(b);
    // b superseded a: a's run is aborted; b waits for a's slot to unwind.
    expect(running.signal.aborted).toBe(true);
    expect(h.outcomeOf(a.id)).toMatchObject({ outcome: 'superseded', reason: 'interrupt' });
    const c = msg('s');
    h.scheduler.submit(c);
    expect(h.outcomeOf(b.id)).toMatchObject({ outcome: 'superseded' });
    await flush();
    expect(h.runs).toHaveLength(2);
    expect(h.runs[1]!.ids).toEqual([c.id]);
    h.runs[1]!.resolve();
    await flush();
    expect(h.outcomeOf(c.id)?.outcome).toBe('answered');
    expect(h.outcomes).toHaveLength(3);
  });
});

describe('debounce', () => {
  it('merges same-sender messages within the window into one turn; another sender starts its own', async () => {
    const h = harness({ settings: () => ({ mode: 'queue', debounceMs: 800 }) });
    const a1 = msg('s', 'alice');
    h.scheduler.submit(a1);
    vi.advanceTimersByTime(500);
    const a2 = msg('s', 'alice');
    h.scheduler.submit(a2);
    vi.advanceTimersByTime(700); // 1200 ms after a1, 700 after a2: the window restarted at a2
    expect(h.runs).toHaveLength(0);
    const b1 = msg('s', 'bob');
    h.scheduler.submit(b1);
    vi.advanceTimersByTime(100);
    expect(h.runs).toHaveLength(1);
    expect(h.runs[0]!.ids).toEqual([a1.id, a2.id]);
    expect(h.outcomeOf(a2.id)).toMatchObject({ outcome: 'merged', ownerId: a1.id });
    h.runs[0]!.resolve();
    await flush();
    vi.advanceTimersByTime(800);
    expect(h.runs[1]!.ids).toEqual([b1.id]);
  });
});

describe('cap and drop', () => {
  const busy = (drop: 'old' | 'new' | 'summarize') => {
    const h = harness({ settings: () => ({ mode: 'queue', cap: 2, drop }) });
    const running = msg('s');
    h.scheduler.submit(running);
    const p1 = msg('s', 'u', 'one');
    const p2 = msg('s', 'u', 'two');
    h.scheduler.submit(p1);
    h.scheduler.submit(p2);
    return { h, p1, p2 };
  };

  it('drop old: the oldest pending message is dropped and reported', () => {
    const { h, p1 } = busy('old');
    const p3 = msg('s');
    expect(h.scheduler.submit(p3).status).toBe('admitted');
    expect(h.outcomeOf(p1.id)).toMatchObject({ outcome: 'dropped', reason: 'cap' });
    expect(h.scheduler.session('s')?.pending).toBe(2);
  });

  it('drop new: the incoming message is rejected and reported', () => {
    const { h } = busy('new');
    const p3 = msg('s');
    expect(h.scheduler.submit(p3).status).toBe('rejected');
    expect(h.outcomeOf(p3.id)).toMatchObject({ outcome: 'dropped', reason: 'cap' });
  });

  it('drop summarize: the dropped message is summarized into the next turn', async () => {
    const { h, p1, p2 } = busy('summarize');
    const p3 = msg('s');
    h.scheduler.submit(p3);
    expect(h.outcomeOf(p1.id)).toMatchObject({ outcome: 'dropped', summary: 'u: one' });
    h.runs[0]!.resolve();
    await flush();
    expect(h.runs[1]!.ids).toEqual([p2.id]);
    expect(h.runs[1]!.turn.droppedSummaries).toEqual(['u: one']);
    h.runs[1]!.resolve();
    await flush();
    expect(h.runs[2]!.turn.droppedSummaries).toEqual([]);
  });
});

describe('stop and stopAll', () => {
  it('/stop aborts the oldest active run and the backlog continues', async () => {
    const h = harness({ settings: () => ({ mode: 'queue', maxConcurrent: 2 }) });
    const [a, b, c] = [msg('s'), msg('s'), msg('s')];
    for (const m of [a, b, c]) h.scheduler.submit(m);
    const result = h.scheduler.stop('s');
    expect(result.stopped?.messageIds).toEqual([a!.id]);
    expect(h.runs[0]!.signal.aborted).toBe(true);
    expect(h.outcomeOf(a!.id)).toMatchObject({ outcome: 'cancelled', reason: 'stop' });
    await flush();
    expect(h.runs.map((r) => r.ids[0])).toEqual([a!.id, b!.id, c!.id]);
  });

  it('/stopall aborts all, cancels pending, and makes earlier-sent messages stale until a fresh one', async () => {
    const h = harness({ settings: () => ({ mode: 'queue' }) });
    const [a, b] = [msg('s'), msg('s')];
    h.scheduler.submit(a);
    h.scheduler.submit(b);
    const late = msg('s'); // sent before the command, delivered after it
    const cmd = msg('s');
    const res = h.scheduler.stopAll('s', { platformMessageId: cmd.platformMessageId, sentAt: cmd.sentAt! });
    expect(res.aborted).toEqual([`${a.id}#1`]);
    expect(res.cancelled).toEqual([b.id]);
    expect(h.outcomeOf(b.id)).toMatchObject({ outcome: 'cancelled', reason: 'stopall' });
    expect(h.scheduler.submit(late).status).toBe('stale');
    expect(h.outcomeOf(late.id)).toMatchObject({ outcome: 'stale' });
    const fresh = msg('s');
    await flush();
    expect(h.scheduler.submit(fresh).status).toBe('admitted');
    // The cutoff is cleared by the first fresh message: a later (newer) message is admitted too.
    expect(h.scheduler.session('s')?.cutoff).toBeUndefined();
  });

  it('the cutoff is durable: a new scheduler on the same cutoff store still treats replays as stale', () => {
    const h1 = harness();
    const old = msg('s');
    h1.scheduler.stopAll('s', { platformMessageId: String(Number(old.platformMessageId) + 1), sentAt: 0 });
    const cutoffs = new Map<string, StaleCutoff>();
    const store = { get: (k: string) => cutoffs.get(k), set: (k: string, c: StaleCutoff | undefined) => void (c ? cutoffs.set(k, c) : cutoffs.delete(k)) };
    const h2 = harness({ cutoffs: store });
    h2.scheduler.stopAll('s', { platformMessageId: String(Number(old.platformMessageId) + 1), sentAt: 0 });
    const h3 = harness({ cutoffs: store }); // "after a restart"
    expect(h3.scheduler.submit(old).status).toBe('stale');
  });

  it('compares huge platform ids (Discord snowflakes beyond 2^53) exactly', () => {
    const h = harness();
    h.scheduler.stopAll('s', { platformMessageId: '1234567890123456789', sentAt: 0 });
    expect(h.scheduler.submit(msg('s', 'u', 'x', { platformMessageId: '1234567890123456788' })).status).toBe('stale');
    expect(h.scheduler.submit(msg('s', 'u', 'x', { platformMessageId: '1234567890123456790' })).status).toBe('admitted');
  });
});

describe('adaptive throttle', () => {
  it('runs one at a time while the context is at or above throttleRatio', async () => {
    let ratio = 0.7;
    const h = harness({ settings: () => ({ mode: 'queue', maxConcurrent: 3, throttleRatio: 0.6 }), contextRatio: () => ratio });
    for (let i = 0; i < 4; i++) h.scheduler.submit(msg('g'));
    expect(h.runs).toHaveLength(1);
    expect(h.scheduler.session('g')?.effectiveMaxConcurrent).toBe(1);
    ratio = 0.2;
    h.runs[0]!.resolve();
    await flush();
    expect(h.active()).toHaveLength(3);
  });

  it('a throwing estimate throttles rather than unleashing concurrency', () => {
    const h = harness({
      settings: () => ({ mode: 'queue', maxConcurrent: 3 }),
      contextRatio: () => {
        throw new Error('estimator down');
      },
    });
    for (let i = 0; i < 3; i++) h.scheduler.submit(msg('g'));
    expect(h.runs).toHaveLength(1);
  });
});

describe('timeouts and failures', () => {
  it('a run timeout aborts the run (signal fires) and reports failed with E_RUN_TIMEOUT', async () => {
    const h = harness({ settings: () => ({ runTimeoutMs: 1000 }) });
    const a = msg('s');
    h.scheduler.submit(a);
    vi.advanceTimersByTime(1000);
    expect(h.runs[0]!.signal.aborted).toBe(true);
    expect(h.outcomeOf(a.id)).toMatchObject({ outcome: 'failed', reason: 'timeout' });
    expect((h.outcomeOf(a.id)?.error as { code?: string }).code).toBe('E_RUN_TIMEOUT');
  });

  it('a runner that throws synchronously or rejects with a non-Error fails its message, and the session goes on', async () => {
    let calls = 0;
    const h = harness({
      settings: () => ({ mode: 'queue' }),
      run: () => {
        calls += 1;
        if (calls === 1) throw new Error('sync boom');
        if (calls === 2) return Promise.reject('a string');
        return undefined;
      },
    });
    const ms = [msg('s'), msg('s'), msg('s')];
    for (const m of ms) h.scheduler.submit(m);
    await flush();
    await flush();
    expect(ms.map((m) => h.outcomeOf(m.id)?.outcome)).toEqual(['failed', 'failed', 'answered']);
    expect(h.outcomeOf(ms[1]!.id)?.error?.message).toContain('a string');
    expect(h.outcomeOf(ms[0]!.id)?.error).toMatchObject({ code: 'E_RUN_FAILED' });
  });

  it('a run that ignores its abort holds the session until abortGraceMs, then is reported leaked and freed', async () => {
    const leaked: string[] = [];
    const h = harness({
      settings: () => ({ mode: 'queue', abortGraceMs: 2000 }),
      run: () => new Promise(() => {}), // never settles, ignores the signal
    });
    h.scheduler.on('run:leaked', (t) => leaked.push(t.id));
    const a = msg('s');
    const b = msg('s');
    const startedIds: string[] = [];
    h.scheduler.on('run:start', (t) => startedIds.push(t.id));
    h.scheduler.submit(a);
    h.scheduler.submit(b);
    h.scheduler.stop('s');
    expect(h.outcomeOf(a.id)?.outcome).toBe('cancelled');
    // b must wait until a has unwound or its grace period has ended: two runs never touch history at once.
    expect(startedIds).toEqual([`${a.id}#1`]);
    vi.advanceTimersByTime(1999);
    expect(startedIds).toEqual([`${a.id}#1`]);
    vi.advanceTimersByTime(1);
    expect(leaked).toEqual([`${a.id}#1`]);
    expect(startedIds).toEqual([`${a.id}#1`, `${b.id}#1`]);
    expect(h.scheduler.lane('main').stats().active).toBe(1);
  });
});

describe('listeners', () => {
  it('a throwing outcome listener does not break the queue', async () => {
    const h = harness({ settings: () => ({ mode: 'queue' }) });
    h.scheduler.on('outcome', () => {
      throw new Error('listener bug');
    });
    const [a, b] = [msg('s'), msg('s')];
    h.scheduler.submit(a);
    h.scheduler.submit(b);
    h.runs[0]!.resolve();
    await flush();
    h.runs[1]!.resolve();
    await flush();
    expect(h.outcomes.map((o) => o.outcome)).toEqual(['answered', 'answered']);
  });

  it('submitAndWait resolves with the outcome; the per-message callback fires once', async () => {
    const h = harness({ autoSettle: true });
    const a = msg('s');
    const record = await h.scheduler.submitAndWait(a);
    expect(record).toMatchObject({ messageId: a.id, outcome: 'answered', runId: `${a.id}#1` });
  });
});

describe('idle sessions', () => {
  it('are forgotten once they hold no work', async () => {
    const h = harness({ autoSettle: true });
    const idle: string[] = [];
    h.scheduler.on('session:idle', (k) => idle.push(k));
    for (let i = 0; i < 50; i++) h.scheduler.submit(msg(`s${i}`));
    expect(h.scheduler.sessionCount).toBe(50);
    for (let i = 0; i < 20; i++) await flush();
    expect(h.scheduler.sessionCount).toBe(0);
    expect(idle).toHaveLength(50);
  });
});
