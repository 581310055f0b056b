import { describe, expect, it } from 'vitest';
import { ContextMeter, messageTokens, tiktokenCounter, warmTokenizer } from '../../src/agent/index.js';

describe('tiktoken counter (bundled ranks, no network)', () => {
  it('counts cl100k tokens', () => {
    warmTokenizer();
    expect(tiktokenCounter.count('hello world')).toBe(2);
    expect(tiktokenCounter.count('')).toBe(0);
    expect(messageTokens(tiktokenCounter, 'hello world')).toBe(6);
  });
});

describe('ContextMeter', () => {
  it('reports 0 for unknown sessions and a ratio of the window otherwise', () => {
    const m = new ContextMeter({ contextWindow: 1000 });
    expect(m.ratio('a')).toBe(0);
    m.set('a', 600);
    expect(m.ratio('a')).toBeCloseTo(0.6);
    expect(m.tokens('a')).toBe(600);
  });

  it('calibrates by reported prompt tokens (EMA, clamped)', () => {
    const m = new ContextMeter({ contextWindow: 1000, alpha: 0.5 });
    m.set('a', 100);
    m.calibrate(100, 150);
    expect(m.factor).toBeCloseTo(1.5);
    m.calibrate(100, 250);
    expect(m.factor).toBeCloseTo(2);
    expect(m.tokens('a')).toBe(200);
    m.calibrate(100, 1_000_000); // bogus figure: clamped sample 4
    expect(m.factor).toBeCloseTo(3);
    m.calibrate(0, 10); // ignored
    expect(m.factor).toBeCloseTo(3);
  });

  it('forgets the least recently updated sessions beyond maxSessions', () => {
    const m = new ContextMeter({ contextWindow: 100, maxSessions: 2 });
    m.set('a', 1);
    m.set('b', 2);
    m.set('a', 3);
    m.set('c', 4);
    expect(m.size).toBe(2);
    expect(m.ratio('b')).toBe(0);
    expect(m.ratio('a')).toBeCloseTo(0.03);
  });
});
