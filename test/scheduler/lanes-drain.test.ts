import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Scheduler, FifoPolicy, type LaneEntry } from '../../src/scheduler/index.js';
import { flush, harness, msg } from './harness.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('lanes', () => {
  it('caps global concurrency and reports stats', () => {
    const h = harness({ lanes: { main: 2 } });
    for (let i = 0; i < 5; i++) h.scheduler.submit(msg(`s${i}`));
    vi.advanceTimersByTime(1500);
    expect(h.scheduler.lane('main').stats()).toMatchObject({ name: 'main', concurrency: 2, active: 2, pending: 3, oldestWaitMs: 1500 });
  });

  it('resizes at runtime: growing starts waiting runs at once', () => {
    const h = harness({ lanes: { main: 1 } });
    for (let i = 0; i < 4; i++) h.scheduler.submit(msg(`s${i}`));
    expect(h.active()).toHaveLength(1);
    h.scheduler.lane('main').resize(3);
    expect(h.active()).toHaveLength(3);
  });

  it('shrinking lets running runs finish and starts no more until under the cap', async () => {
    const h = harness({ lanes: { main: 3 } });
    for (let i = 0; i < 5; i++) h.scheduler.submit(msg(`s${i}`));
    h.scheduler.lane('main').resize(1);
    h.runs[0]!.resolve();
    await flush();
    expect(h.active()).toHaveLength(2);
    h.runs[1]!.resolve();
    h.runs[2]!.resolve();
    await flush();
    expect(h.active()).toHaveLength(1);
  });

  it('warns when a wait exceeds the threshold', () => {
    const h = harness({ lanes: { main: { concurrency: 1, warnAfterMs: 1000 } }, monitorIntervalMs: 500 });
    const warnings: number[] = [];
    h.scheduler.on('lane:wait', (w) => warnings.push(w.waitedMs));
    h.scheduler.submit(msg('a'));
    h.scheduler.submit(msg('b'));
    vi.advanceTimersByTime(1000);
    expect(warnings).toEqual([]);
    vi.advanceTimersByTime(500);
    expect(warnings).toEqual([1500]);
  });

  it('runs background jobs fairly with a timeout that aborts the job', async () => {
    const h = harness();
    const lane = h.scheduler.lane('background');
    let seen: AbortSignal | undefined;
    const job = lane.schedule('compact:s', (signal) => {
      seen = signal;
      return new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    }, { timeoutMs: 1000 });
    const caught = job.catch((e: unknown) => e);
    vi.advanceTimersByTime(1000);
    expect(seen?.aborted).toBe(true);
    expect(await caught).toMatchObject({ code: 'E_RUN_TIMEOUT' });
    expect(lane.stats().active).toBe(0);
  });

  it('accepts a custom policy instance (e.g. drain-by-model)', () => {
    const h = harness({ lanes: { main: { concurrency: 1, policy: new FifoPolicy<LaneEntry>() } } });
    h.scheduler.submit(msg('a'));
    expect(h.active()).toHaveLength(1);
  });

  it('an unknown lane is a typed error and nothing is admitted', () => {
    const h = harness({ settings: () => ({ lane: 'nope' }) });
    expect(() => h.scheduler.submit(msg('s'))).toThrow(expect.objectContaining({ code: 'E_UNKNOWN_LANE' }));
    expect(h.scheduler.sessionCount).toBe(0);
  });
});

describe('drain', () => {
  it('refuses new work, lets active runs finish, hands back what had not started', async () => {
    const h = harness({ settings: () => ({ mode: 'queue' }) });
    const [a, b] = [msg('s'), msg('s')];
    h.scheduler.submit(a);
    h.scheduler.submit(b);
    const drained = h.scheduler.drain({ deadlineMs: 10_000 });
    expect(() => h.scheduler.submit(msg('s'))).toThrow(expect.objectContaining({ code: 'E_DRAINING' }));
    h.runs[0]!.resolve();
    const result = await drained;
    expect(result).toEqual({ unfinished: [b.id], aborted: [], leaked: 0 });
    expect(h.outcomeOf(a.id)?.outcome).toBe('answered');
    expect(h.outcomeOf(b.id)).toBeUndefined(); // kept for the next start, no outcome
  });

  it('aborts runs still active at the deadline, without an outcome', async () => {
    const h = harness();
    const a = msg('s');
    h.scheduler.submit(a);
    const drained = h.scheduler.drain({ deadlineMs: 1000 });
    vi.advanceTimersByTime(1000);
    const result = await drained;
    expect(h.runs[0]!.signal.aborted).toBe(true);
    expect(result.unfinished).toEqual([a.id]);
    expect(result.aborted).toEqual([a.id]);
    expect(h.outcomeOf(a.id)).toBeUndefined();
  });

  it('a run that ignores the drain abort is released after its grace period and counted as leaked', async () => {
    const h = harness({ run: () => new Promise(() => {}), settings: () => ({ abortGraceMs: 500 }) });
    h.scheduler.submit(msg('s'));
    const drained = h.scheduler.drain({ deadlineMs: 1000 });
    vi.advanceTimersByTime(1000);
    await flush();
    vi.advanceTimersByTime(500);
    expect((await drained).leaked).toBe(1);
  });
});

describe('generations (reset)', () => {
  it('aborts active runs without an outcome and re-runs them (attempt + 1) under the new settings', async () => {
    let mode: 'queue' | 'followup' = 'queue';
    const h = harness({ settings: () => ({ mode }) });
    const a = msg('s');
    h.scheduler.submit(a);
    mode = 'followup';
    expect(h.scheduler.reset()).toBe(1);
    expect(h.runs[0]!.signal.aborted).toBe(true);
    await flush();
    expect(h.runs).toHaveLength(2);
    expect(h.runs[1]!.turn).toMatchObject({ id: `${a.id}#2`, attempt: 2 });
    expect(h.scheduler.session('s')?.mode).toBe('followup');
    h.runs[1]!.resolve();
    await flush();
    expect(h.outcomesOf(a.id).map((o) => o.outcome)).toEqual(['answered']);
  });

  it('an old-generation run that completes late never reports into the new generation', async () => {
    let release: () => void = () => {};
    const h = harness({
      settings: () => ({ abortGraceMs: 100 }),
      run: (turn) => (turn.attempt === 1 ? new Promise<void>((r) => (release = r)) : undefined),
    });
    const a = msg('s');
    h.scheduler.submit(a);
    h.scheduler.reset();
    vi.advanceTimersByTime(100); // grace ends: attempt 2 starts and answers
    await flush();
    release(); // the stale attempt 1 finishes now
    await flush();
    expect(h.outcomesOf(a.id)).toHaveLength(1);
    expect(h.outcomeOf(a.id)?.runId).toBe(`${a.id}#2`);
  });
});

describe('resume (recovery)', () => {
  it('re-queues a recovered turn as one turn at its attempt, respecting the cutoff', async () => {
    const h = harness();
    const [a, b] = [msg('s'), msg('s')];
    h.scheduler.resume([a, b], { attempt: 2 });
    expect(h.runs[0]!.turn).toMatchObject({ id: `${a.id}#2`, kind: 'followup' });
    expect(h.runs[0]!.ids).toEqual([a.id, b.id]);
    const h2 = harness();
    h2.scheduler.stopAll('s', { platformMessageId: b.platformMessageId, sentAt: 0 });
    expect(h2.scheduler.resume([a, b], { attempt: 2 }).status).toBe('stale');
    expect(h2.outcomes.map((o) => o.outcome)).toEqual(['stale', 'stale']);
  });
});

describe('bad options', () => {
  it.each([
    [{ cap: 0 }, /`cap`.*integer >= 1.*got 0/],
    [{ debounceMs: -1 }, /`debounceMs`/],
    [{ mode: 'yolo' }, /`mode`.*`queue`, `followup`, `interrupt`/],
    [{ drop: 'all' }, /`drop`/],
    [{ maxConcurrent: 1.5 }, /`maxConcurrent`/],
    [{ throttleRatio: 0 }, /`throttleRatio`/],
  ])('settings %j throw E_INVALID_OPTION naming the option', (settings, message) => {
    const h = harness({ settings: () => settings as never });
    let caught: unknown;
    try {
      h.scheduler.submit(msg('s'));
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'E_INVALID_OPTION' });
    expect(String((caught as Error).message)).toMatch(message);
  });

  it('lane size < 1 throws at construction and in resize', () => {
    expect(() => new Scheduler({ lanes: { main: 0 }, run: () => undefined })).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }));
    const h = harness();
    expect(() => h.scheduler.lane('main').resize(0)).toThrow(/`lanes.main`/);
  });
});
