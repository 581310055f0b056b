import { describe, expect, it, vi } from 'vitest';
import { Maintenance, msUntilHour, scrub } from '../../src/gateway/index.js';

describe('log scrubbing', () => {
  it('replaces each secret, raw and JSON-escaped, and leaves short values alone', () => {
    const secrets = new Set(['tok"en\\1234', 'abcd1234', 'ab']);
    const line = JSON.stringify({ a: 'x abcd1234 y', b: 'tok"en\\1234', c: 'ab' });
    const out = scrub(line, secrets);
    expect(out).not.toContain('abcd1234');
    expect(out).not.toContain(JSON.stringify('tok"en\\1234').slice(1, -1));
    expect(JSON.parse(out)).toEqual({ a: 'x [redacted] y', b: '[redacted]', c: 'ab' });
  });
});

describe('Maintenance', () => {
  it('computes the next local hour', () => {
    const base = new Date(2026, 0, 10, 2, 30, 0, 0).getTime();
    expect(msUntilHour(base, 3)).toBe(30 * 60_000);
    expect(msUntilHour(base, 2)).toBe(23.5 * 3_600_000);
  });

  it('prunes hourly and backs up at the configured hour; failures are logged, not thrown', async () => {
    vi.useFakeTimers({ now: new Date(2026, 0, 10, 2, 0, 0, 0) });
    try {
      const calls: string[] = [];
      let failPrune = true;
      const store = {
        prune: async (olderThan: number) => {
          calls.push(`prune<${olderThan}`);
          if (failPrune) throw new Error('disk');
          return { messages: 1, runs: 1 };
        },
        backup: async (dir: string, o?: { keep?: number }) => {
          calls.push(`backup ${dir} keep ${o?.keep}`);
          return `${dir}/b.db`;
        },
      };
      const m = new Maintenance({ store, pruneTtlMs: 1000, backup: { dir: '/b', hour: 3, keep: 5 } });
      m.start();
      await vi.advanceTimersByTimeAsync(3_600_000);
      expect(calls).toEqual([`prune<${new Date(2026, 0, 10, 3).getTime() - 1000}`, 'backup /b keep 5']);
      failPrune = false;
      await vi.advanceTimersByTimeAsync(24 * 3_600_000);
      expect(calls.filter((c) => c.startsWith('backup'))).toHaveLength(2);
      expect(calls.filter((c) => c.startsWith('prune'))).toHaveLength(25);
      await m.stop();
      await vi.advanceTimersByTimeAsync(48 * 3_600_000);
      expect(calls.filter((c) => c.startsWith('backup'))).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
