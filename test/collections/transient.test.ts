import { describe, expect, it } from 'vitest';
import { TransientMap, TransientSet } from '../../src/collections/transient.js';

describe('TransientMap', () => {
  it('behaves like a Map: set, overwrite, get, has, delete, size, insertion order', () => {
    const m = new TransientMap<string, { n: number }>();
    const a = { n: 1 };
    expect(m.set('a', a)).toBe(m);
    m.set('b', { n: 2 });
    m.set('c', { n: 3 });
    m.set('b', { n: 20 }); // overwrite keeps the position
    expect(m.size).toBe(3);
    expect(m.get('a')).toBe(a);
    expect(m.get('b')).toEqual({ n: 20 });
    expect(m.has('c')).toBe(true);
    expect(m.get('zz')).toBeUndefined();
    expect([...m.keys()]).toEqual(['a', 'b', 'c']);
    expect([...m.values()].map((v) => v.n)).toEqual([1, 20, 3]);
    expect([...m].map(([k, v]) => `${k}=${v.n}`)).toEqual(['a=1', 'b=20', 'c=3']);
    expect(m.delete('b')).toBe(true);
    expect(m.delete('b')).toBe(false);
    expect(m.has('b')).toBe(false);
    expect(m.get('b')).toBeUndefined();
    expect([...m.keys()]).toEqual(['a', 'c']);
    m.set('b', { n: 5 }); // re-added after delete: goes last, like a Map
    expect([...m.keys()]).toEqual(['a', 'c', 'b']);
  });

  it('keeps an undefined value apart from a missing key', () => {
    const m = new TransientMap<string, number | undefined>();
    m.set('x', undefined);
    expect(m.has('x')).toBe(true);
    expect(m.size).toBe(1);
    expect([...m.entries()]).toEqual([['x', undefined]]);
  });

  it('iterates safely while entries are deleted, and clear() empties it', () => {
    const m = new TransientMap<number, string>();
    for (let i = 0; i < 10; i++) m.set(i, `v${i}`);
    const seen: number[] = [];
    for (const [k] of m) {
      seen.push(k);
      m.delete(k + 1); // deleting ahead of the cursor skips it, as in a Map
    }
    expect(seen).toEqual([0, 2, 4, 6, 8]);
    m.clear();
    expect(m.size).toBe(0);
    expect(m.get(0)).toBeUndefined();
    expect([...m]).toEqual([]);
  });
});

describe('TransientSet', () => {
  it('behaves like a Set of objects: add is idempotent, has/delete by identity, insertion order', () => {
    const s = new TransientSet<{ id: string }>();
    const a = { id: 'a' };
    const b = { id: 'b' };
    const lookalike = { id: 'a' };
    expect(s.add(a)).toBe(s);
    s.add(b);
    s.add(a);
    expect(s.size).toBe(2);
    expect(s.has(a)).toBe(true);
    expect(s.has(lookalike)).toBe(false);
    expect(s.delete(lookalike)).toBe(false);
    expect([...s].map((x) => x.id)).toEqual(['a', 'b']);
    expect(s.delete(a)).toBe(true);
    expect(s.has(a)).toBe(false);
    expect([...s.values()]).toEqual([b]);
    s.clear();
    expect(s.size).toBe(0);
    expect(s.has(b)).toBe(false);
  });

  it('lets one object belong to several sets independently', () => {
    const x = {};
    const s1 = new TransientSet<object>();
    const s2 = new TransientSet<object>();
    s1.add(x);
    expect(s2.has(x)).toBe(false);
    s2.add(x);
    s1.delete(x);
    expect(s1.has(x)).toBe(false);
    expect(s2.has(x)).toBe(true);
  });
});
