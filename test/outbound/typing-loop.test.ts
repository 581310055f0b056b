import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { getEventListeners } from 'node:events';
import { TypingLoop } from '../../src/outbound/index.js';

describe('TypingLoop', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ticks at once and then every interval until stopped', async () => {
    const at: number[] = [];
    const t0 = Date.now();
    const loop = new TypingLoop({ intervalMs: 4000, tick: async () => void at.push(Date.now() - t0) }).start();
    await vi.advanceTimersByTimeAsync(12_500);
    expect(at).toEqual([0, 4000, 8000, 12_000]);
    loop.stop();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(at).toHaveLength(4);
    expect(loop.active).toBe(false);
  });

  it('waits delayMs before the first tick, and never ticks when stopped before it', async () => {
    const at: number[] = [];
    const t0 = Date.now();
    const loop = new TypingLoop({ intervalMs: 4000, delayMs: 1000, tick: async () => void at.push(Date.now() - t0) }).start();
    await vi.advanceTimersByTimeAsync(999);
    expect(at).toEqual([]);
    await vi.advanceTimersByTimeAsync(4500);
    expect(at).toEqual([1000, 5000]);
    loop.stop();

    let fast = 0;
    const quick = new TypingLoop({ intervalMs: 4000, delayMs: 1000, tick: async () => void fast++ }).start();
    await vi.advanceTimersByTimeAsync(300);
    quick.stop(); // the reply came first
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fast).toBe(0);
    expect(() => new TypingLoop({ intervalMs: 1000, delayMs: -1, tick: async () => undefined })).toThrow(/delayMs/);
  });

  it('stops when the run signal aborts, and survives failing ticks', async () => {
    const ac = new AbortController();
    let n = 0;
    const loop = new TypingLoop({
      intervalMs: 1000,
      signal: ac.signal,
      tick: async () => {
        n++;
        throw new Error('network');
      },
    }).start();
    await vi.advanceTimersByTimeAsync(2500);
    expect(n).toBe(3);
    ac.abort();
    await vi.advanceTimersByTimeAsync(5000);
    expect(n).toBe(3);
    expect(loop.count).toBe(3);
  });

  it('never overlaps a slow tick', async () => {
    let active = 0;
    let max = 0;
    const loop = new TypingLoop({
      intervalMs: 100,
      tick: async () => {
        active++;
        max = Math.max(max, active);
        await new Promise((r) => setTimeout(r, 350));
        active--;
      },
    }).start();
    await vi.advanceTimersByTimeAsync(2000);
    loop.stop();
    expect(max).toBe(1);
    expect(loop.count).toBeGreaterThan(3);
  });

  it('holds nothing on the run signal until its first tick, and aborts only a tick in flight', async () => {
    const run = new AbortController();
    const signals: AbortSignal[] = [];
    let release: (() => void) | undefined;
    const loop = new TypingLoop({
      intervalMs: 4000,
      delayMs: 1000,
      signal: run.signal,
      tick: (signal) => {
        signals.push(signal);
        return new Promise<void>((r) => (release = r));
      },
    }).start();
    // Waiting for the first tick: no listener on the run's signal (a fast reply stops with a clearTimeout).
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(signals).toHaveLength(1);
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(1);
    run.abort(); // cuts the tick in flight
    expect(signals[0]!.aborted).toBe(true);
    expect(loop.active).toBe(false);
    expect(getEventListeners(run.signal, 'abort')).toHaveLength(0);
    release?.();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(signals).toHaveLength(1);

    // A run aborted before the first tick: the loop never ticks and reads inactive at once.
    const early = new AbortController();
    let n = 0;
    const quiet = new TypingLoop({ intervalMs: 4000, delayMs: 1000, signal: early.signal, tick: async () => void n++ }).start();
    early.abort();
    expect(quiet.active).toBe(false);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(n).toBe(0);
    quiet.stop();
    expect(quiet.start().active).toBe(false); // a stopped loop stays stopped
  });
});
