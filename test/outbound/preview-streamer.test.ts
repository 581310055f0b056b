import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PreviewStreamer } from '../../src/outbound/index.js';

interface Call {
  kind: 'send' | 'edit';
  text: string;
  at: number;
}

/** A recording platform: each call resolves after `latencyMs` of (fake) time. */
function platform(latencyMs = 50) {
  const calls: Call[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const run = async (kind: Call['kind'], text: string): Promise<void> => {
    calls.push({ kind, text, at: Date.now() });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, latencyMs));
    inFlight--;
  };
  return {
    calls,
    maxInFlight: () => maxInFlight,
    send: async (text: string) => {
      await run('send', text);
      return 'm1';
    },
    edit: async (_id: string, text: string) => run('edit', text),
  };
}

describe('PreviewStreamer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('bounds the edit rate under a fast token stream and coalesces deltas', async () => {
    const p = platform(50);
    const s = new PreviewStreamer({ ...p, minEditIntervalMs: 1000, maxPreviewLength: 100_000, minInitialChars: 10 });
    // 2000 tokens, one every 5 ms: 10 s of streaming.
    for (let i = 0; i < 2000; i++) {
      s.push(`tok${i} `);
      await vi.advanceTimersByTimeAsync(5);
    }
    await vi.advanceTimersByTimeAsync(2000);
    const state = await s.finish();
    expect(p.calls.length).toBeGreaterThanOrEqual(9); // it did stream
    expect(p.calls.length).toBeLessThanOrEqual(12); // ~10 s / 1 s
    expect(p.calls[0]!.kind).toBe('send');
    expect(p.calls.slice(1).every((c) => c.kind === 'edit')).toBe(true);
    for (let i = 1; i < p.calls.length; i++) {
      expect(p.calls[i]!.at - p.calls[i - 1]!.at).toBeGreaterThanOrEqual(1000);
    }
    expect(p.maxInFlight()).toBe(1);
    expect(state.messageId).toBe('m1');
    // The last edit shows everything that was pushed (within the preview limit).
    expect(state.shownText).toBe(s.fullText);
    expect(state.calls).toBe(p.calls.length);
  });

  it('sends nothing for a short answer finished before the first interval', async () => {
    const p = platform();
    const s = new PreviewStreamer({ ...p, minEditIntervalMs: 1000, maxPreviewLength: 100 });
    s.push('Short answer.');
    const state = await s.finish();
    await vi.advanceTimersByTimeAsync(5000);
    expect(p.calls).toEqual([]);
    expect(state.messageId).toBeUndefined();
  });

  it('truncates the preview to the maximum length with an ellipsis', async () => {
    const p = platform(1);
    const s = new PreviewStreamer({ ...p, minEditIntervalMs: 100, maxPreviewLength: 50, minInitialChars: 1 });
    s.push('x'.repeat(120));
    await vi.advanceTimersByTimeAsync(10);
    const state = await s.finish();
    expect(p.calls).toHaveLength(1);
    expect(p.calls[0]!.text).toBe(`${'x'.repeat(49)}…`);
    expect(state.shownText.length).toBe(50);
  });

  it('stops at once when the run is aborted: no call after the abort', async () => {
    const p = platform(10);
    const ac = new AbortController();
    const s = new PreviewStreamer({ ...p, minEditIntervalMs: 500, maxPreviewLength: 4096, minInitialChars: 1, signal: ac.signal });
    s.push('hello there');
    await vi.advanceTimersByTimeAsync(100);
    expect(p.calls).toHaveLength(1);
    s.push(' more text');
    ac.abort();
    await vi.advanceTimersByTimeAsync(5000);
    s.push(' ignored');
    await vi.advanceTimersByTimeAsync(5000);
    expect(p.calls).toHaveLength(1);
  });

  it('keeps streaming after a failed edit (best effort) and never overlaps calls', async () => {
    let fail = true;
    const calls: number[] = [];
    const s = new PreviewStreamer({
      send: async () => 'id',
      edit: async () => {
        calls.push(Date.now());
        if (fail) {
          fail = false;
          throw new Error('429');
        }
      },
      minEditIntervalMs: 200,
      maxPreviewLength: 4096,
      minInitialChars: 1,
    });
    for (let i = 0; i < 20; i++) {
      s.push(`w${i} `);
      await vi.advanceTimersByTimeAsync(100);
    }
    await s.finish();
    expect(calls.length).toBeGreaterThan(3);
  });

  it('rejects invalid options with a clear error', () => {
    const p = platform();
    expect(() => new PreviewStreamer({ ...p, minEditIntervalMs: -1, maxPreviewLength: 10 })).toThrow(/minEditIntervalMs/);
    expect(() => new PreviewStreamer({ ...p, minEditIntervalMs: 1, maxPreviewLength: 0 })).toThrow(/maxPreviewLength/);
  });

  it('finish() cuts an edit stuck in a long wait instead of waiting it out', async () => {
    let editSignal: AbortSignal | undefined;
    const s = new PreviewStreamer({
      send: async () => 'id',
      // An edit that would wait 60 s (a flood wait), unless aborted.
      edit: (_id, _text, signal) =>
        new Promise<void>((resolve, reject) => {
          editSignal = signal;
          const t = setTimeout(resolve, 60_000);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            reject(new Error('aborted'));
          });
        }),
      minEditIntervalMs: 100,
      maxPreviewLength: 4096,
      minInitialChars: 1,
    });
    s.push('first');
    await vi.advanceTimersByTimeAsync(10);
    s.push(' second');
    await vi.advanceTimersByTimeAsync(200);
    expect(editSignal).toBeDefined();
    let done = false;
    const finished = s.finish().then((st) => {
      done = true;
      return st;
    });
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    expect((await finished).shownText).toBe('first');
    expect(editSignal!.aborted).toBe(true);
  });

  it('finish() with no call in flight aborts nothing (no abort per reply), and nothing is sent after it', async () => {
    const signals: AbortSignal[] = [];
    let sends = 0;
    const streamer = new PreviewStreamer({
      minEditIntervalMs: 1000,
      maxPreviewLength: 4096,
      minInitialChars: 1,
      send: async (_text, signal) => {
        signals.push(signal);
        sends++;
        return 'm1';
      },
      edit: async (_id, _text, signal) => void signals.push(signal),
    });
    streamer.push('hello there');
    await vi.advanceTimersByTimeAsync(0); // the preview is sent and answered
    expect(sends).toBe(1);
    const state = await streamer.finish();
    expect(state).toMatchObject({ messageId: 'm1', shownText: 'hello there', calls: 1 });
    expect(signals.every((sig) => !sig.aborted)).toBe(true);
    streamer.push(' and more');
    await vi.advanceTimersByTimeAsync(5000);
    expect(signals).toHaveLength(1);
  });
});
