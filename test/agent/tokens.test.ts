import { describe, expect, it } from 'vitest';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import { ContextMeter, messageTokens, tiktokenCounter, warmTokenizer } from '../../src/agent/index.js';
import { seededRandom } from '../support/rng.js';

describe('tiktoken counter (bundled ranks, no network)', () => {
  it('counts cl100k tokens', () => {
    warmTokenizer();
    expect(tiktokenCounter.count('hello world')).toBe(2);
    expect(tiktokenCounter.count('')).toBe(0);
    expect(messageTokens(tiktokenCounter, 'hello world')).toBe(6);
  });

  it('counts exactly what encode counts, without calling it per text (random mixed text, memo cold and warm)', () => {
    warmTokenizer();
    const exact = new Tiktoken(cl100k);
    const rng = seededRandom(11);
    const alphabet = ['a', 'b', 'Z', ' ', '  ', '\n', '\r\n', '\t', '1', '23', '456', '.', ',', '!?', "'s", "'ll", 'é', 'ß', '中', '文', '😀', '𝒜', '-', '_', '<|endoftext|>', '<|fim_prefix|>', '{"a":1}', 'hello', ' world', 'the'];
    for (let i = 0; i < 300; i++) {
      const parts = Array.from({ length: 1 + Math.floor(rng() * 40) }, () => alphabet[Math.floor(rng() * alphabet.length)]!);
      const text = parts.join('');
      const want = exact.encode(text, [], []).length;
      expect(tiktokenCounter.count(text)).toBe(want);
      expect(tiktokenCounter.count(text)).toBe(want); // second time from the piece memo
    }
  });

  it('counts text that looks like a special token as ordinary text instead of throwing', () => {
    warmTokenizer();
    expect(() => new Tiktoken(cl100k).encode('say <|endoftext|> now')).toThrow(); // what the counter used to call
    expect(tiktokenCounter.count('say <|endoftext|> now')).toBe(new Tiktoken(cl100k).encode('say <|endoftext|> now', [], []).length);
  });

  it('counts long unbroken runs in slices, close to the exact BPE count', () => {
    // Exact BPE over one 2,000-letter piece is still affordable (~0.2 s); compare the sliced count to it.
    const rng = seededRandom(7);
    const letters = Array.from({ length: 2_000 }, () => String.fromCharCode(97 + Math.floor(rng() * 26))).join('');
    const exact = new Tiktoken(cl100k).encode(letters).length;
    const sliced = tiktokenCounter.count(letters);
    expect(Math.abs(sliced - exact) / exact).toBeLessThan(0.02);
    // Text around the run is counted as before.
    expect(tiktokenCounter.count(`hello ${letters} world`)).toBeGreaterThanOrEqual(sliced + 2);
  });

  it('counts a 50k-character "word", punctuation run and whitespace run without freezing (was quadratic)', () => {
    // Unsliced, BPE over one of these pieces takes minutes; sliced, well under the test timeout.
    expect(tiktokenCounter.count('a'.repeat(50_000))).toBe(6_250);
    expect(tiktokenCounter.count('!'.repeat(50_000))).toBeGreaterThan(0);
    expect(tiktokenCounter.count(' '.repeat(50_000))).toBeGreaterThan(0);
    // A run of astral characters is never cut inside a surrogate pair (a lone surrogate would count oddly).
    expect(tiktokenCounter.count('𝒜'.repeat(1_000))).toBeGreaterThan(0);
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

  it('evicts exactly the least recently updated session, over long random runs of set and forget', () => {
    const rng = seededRandom(5);
    const max = 8;
    const m = new ContextMeter({ contextWindow: 100, maxSessions: max });
    let model: string[] = []; // least recently updated first
    for (let i = 0; i < 5_000; i++) {
      const key = `s${Math.floor(rng() * 20)}`;
      if (rng() < 0.1) {
        m.forget(key);
        model = model.filter((k) => k !== key);
      } else {
        m.set(key, i + 1);
        model = [...model.filter((k) => k !== key), key];
        if (model.length > max) model.shift();
      }
      expect(m.size).toBe(model.length);
    }
    for (let k = 0; k < 20; k++) expect(m.ratio(`s${k}`) > 0).toBe(model.includes(`s${k}`));
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

  it('update changes an estimate in place (recency as set left it) and sets an unknown session', () => {
    const m = new ContextMeter({ contextWindow: 100, maxSessions: 2 });
    m.set('a', 1);
    m.set('b', 2);
    m.update('a', 5); // still the least recently set: evicted first
    m.set('c', 3);
    expect(m.ratio('a')).toBe(0);
    expect(m.tokens('b')).toBe(2);
    m.update('d', 7); // unknown: a plain set, evicting b
    expect(m.tokens('d')).toBe(7);
    expect(m.ratio('b')).toBe(0);
    expect(m.size).toBe(2);
  });
});
