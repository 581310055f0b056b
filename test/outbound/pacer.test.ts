import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Pacer } from '../../src/outbound/index.js';

describe('Pacer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('spaces sends to one chat by the minimum interval, in FIFO order, dropping none', async () => {
    const pacer = new Pacer();
    const t0 = Date.now();
    const order: Array<[number, number]> = [];
    const all = Array.from({ length: 5 }, (_, i) =>
      pacer.acquire('chat1', { minIntervalMs: 1000 }).then(() => order.push([i, Date.now() - t0])),
    );
    await vi.advanceTimersByTimeAsync(10_000);
    await Promise.all(all);
    expect(order).toEqual([
      [0, 0],
      [1, 1000],
      [2, 2000],
      [3, 3000],
      [4, 4000],
    ]);
  });

  it('does not delay another chat', async () => {
    const pacer = new Pacer();
    await pacer.acquire('a', { minIntervalMs: 1000 });
    const t0 = Date.now();
    await pacer.acquire('b', { minIntervalMs: 1000 });
    expect(Date.now() - t0).toBe(0);
  });

  it('enforces a sliding window (20 per minute in a group)', async () => {
    const pacer = new Pacer();
    const rule = { minIntervalMs: 0, window: { max: 20, ms: 60_000 } };
    const t0 = Date.now();
    const times: number[] = [];
    const all = Array.from({ length: 45 }, () => pacer.acquire('group', rule).then(() => times.push(Date.now() - t0)));
    await vi.advanceTimersByTimeAsync(200_000);
    await Promise.all(all);
    expect(times).toHaveLength(45);
    for (let i = 20; i < times.length; i++) expect(times[i]! - times[i - 20]!).toBeGreaterThanOrEqual(60_000);
    expect(times[20]).toBe(60_000);
    expect(times[40]).toBe(120_000);
  });

  it('holds only the sends inside the window, however generous its max (a never-idle bot-wide key)', async () => {
    const pacer = new Pacer();
    const rule = { minIntervalMs: 0, window: { max: 1_000_000, ms: 1000 } };
    for (let i = 0; i < 5_000; i++) {
      await pacer.acquire('bot', rule);
      vi.advanceTimersByTime(1); // 1,000 sends a second, never idle
    }
    // The sends of the last second (1,000), not all 5,000 up to the max.
    expect(pacer.held('bot')).toBeLessThanOrEqual(1_001);
    expect(pacer.held('bot')).toBeGreaterThanOrEqual(999);
  });

  it('an aborted waiter gives up its place without blocking the next one, and state is freed', async () => {
    const pacer = new Pacer();
    await pacer.acquire('c', { minIntervalMs: 1000 });
    const ac = new AbortController();
    const aborted = pacer.acquire('c', { minIntervalMs: 1000 }, ac.signal);
    const next = pacer.acquire('c', { minIntervalMs: 1000 });
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    await vi.advanceTimersByTimeAsync(1000);
    await next;
    expect(pacer.size).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(pacer.size).toBe(0);
  });
});

describe('Pacer.restamp', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts the interval from the real send when a second limit delayed it', async () => {
    const pacer = new Pacer();
    const t0 = Date.now();
    await pacer.acquire('chat', { minIntervalMs: 1000 });
    await vi.advanceTimersByTimeAsync(800); // e.g. waited for a bot-wide slot
    pacer.restamp('chat');
    const next = pacer.acquire('chat', { minIntervalMs: 1000 }).then(() => Date.now() - t0);
    await vi.advanceTimersByTimeAsync(3000);
    expect(await next).toBe(1800);
  });
});

describe('Pacer state expiry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never forgets a key whose restamped history still limits the next send (regression)', async () => {
    const pacer = new Pacer();
    const rule = { minIntervalMs: 1000 };
    const t0 = Date.now();
    await pacer.acquire('chat', rule); // granted at 0: an expiry check is scheduled for 1000
    await vi.advanceTimersByTimeAsync(400); // waited 400 ms for a bot-wide slot
    pacer.restamp('chat'); // the real send: 400
    await vi.advanceTimersByTimeAsync(601); // 1001: the old expiry check has run
    const next = pacer.acquire('chat', rule).then(() => Date.now() - t0);
    await vi.advanceTimersByTimeAsync(2000);
    expect(await next).toBe(1400);
  });

  it('keeps pacing when each acquire starts just after the previous grant (expiry racing the grant)', async () => {
    const pacer = new Pacer();
    const rule = { minIntervalMs: 1000 };
    const t0 = Date.now();
    const times: number[] = [];
    const chain = (async () => {
      for (let k = 0; k < 4; k++) {
        await pacer.acquire('c', rule);
        times.push(Date.now() - t0);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await vi.advanceTimersByTimeAsync(10_000);
    await chain;
    expect(times).toEqual([0, 1000, 2000, 3000]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(pacer.size).toBe(0);
  });

  it('forgets idle keys with one timer per window length, not one per key, in the order they expire', async () => {
    const pacer = new Pacer();
    const dm = { minIntervalMs: 1000 };
    const group = { minIntervalMs: 1000, window: { max: 20, ms: 60_000 } };
    for (let i = 0; i < 1000; i++) expect(pacer.tryAcquire(`dm${i}`, dm)).toBe(true);
    await vi.advanceTimersByTimeAsync(500);
    for (let i = 0; i < 500; i++) expect(pacer.tryAcquire(`dm${i}`, dm)).toBe(false); // still paced
    for (let i = 1000; i < 1500; i++) expect(pacer.tryAcquire(`dm${i}`, dm)).toBe(true);
    for (let i = 0; i < 10; i++) expect(pacer.tryAcquire(`g${i}`, group)).toBe(true);
    expect(vi.getTimerCount()).toBe(2);
    expect(pacer.size).toBe(1510);
    await vi.advanceTimersByTimeAsync(500); // the first 1000 expire
    expect(pacer.size).toBe(510);
    expect(pacer.tryAcquire('dm0', dm)).toBe(true); // a forgotten key starts over
    await vi.advanceTimersByTimeAsync(1000);
    expect(pacer.size).toBe(10); // the groups keep their minute
    await vi.advanceTimersByTimeAsync(59_000);
    expect(pacer.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('tryAcquire takes a free slot at once and refuses (changing nothing) when the rule or a waiter says wait', async () => {
    const pacer = new Pacer();
    const rule = { minIntervalMs: 1000, window: { max: 2, ms: 60_000 } };
    const t0 = Date.now();
    expect(pacer.tryAcquire('g', rule)).toBe(true); // 0
    expect(pacer.tryAcquire('g', rule)).toBe(false); // interval
    await vi.advanceTimersByTimeAsync(1000);
    expect(pacer.tryAcquire('g', rule)).toBe(true); // 1000
    await vi.advanceTimersByTimeAsync(1000);
    expect(pacer.tryAcquire('g', rule)).toBe(false); // window: 2 in the last minute
    // The refused caller queues; a later tryAcquire must not jump that queue even once the window frees up.
    const queued = pacer.acquire('g', rule).then(() => Date.now() - t0);
    await vi.advanceTimersByTimeAsync(58_000); // 60 000: the first send left the window
    expect(await queued).toBe(60_000);
    expect(pacer.tryAcquire('g', rule)).toBe(false); // interval after the queued send
    const later = pacer.acquire('g', rule).then(() => Date.now() - t0);
    await vi.advanceTimersByTimeAsync(500);
    expect(pacer.tryAcquire('g', rule)).toBe(false); // someone waits
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await later).toBe(61_000); // 1000 after the first window send moved out, interval satisfied
    await vi.advanceTimersByTimeAsync(120_000);
    expect(pacer.size).toBe(0); // slots taken by tryAcquire are forgotten like any other
    expect(() => pacer.tryAcquire('x', { minIntervalMs: -1 })).toThrow(/minIntervalMs/);
  });
});
