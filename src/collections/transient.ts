/**
 * Registries for short-lived entries in long-lived collections (a session's queue, a run in flight, a pending
 * write), shaped like `Map` and `Set` but safe for V8's young-generation GC.
 *
 * Why they exist: a `Map` or `Set` keeps its entries in a hash table that V8 replaces whenever it fills up
 * with deleted entries, and the replaced table keeps every entry it held plus a link to its successor (for
 * live iterators). A long-lived collection with steady add/delete churn therefore leaves a chain of dead
 * tables in the old generation, and a scavenge treats whatever an old object points to as alive. So every
 * value that ever passed through the collection is copied and then promoted, with everything it references,
 * until the next mark-compact. At 1,000 messages/s that was ~18 KB per message promoted: scavenges of ~6 ms
 * every ~120 ms and a mark-compact every few seconds (see docs/notes/e2e.md, "Nepotism").
 *
 * `TransientMap` boxes each value in a cell that `delete` empties, so the dead tables point at empty cells.
 * `TransientSet` does the same for object members, keyed by a serial number (a member itself never sits in a
 * hash table; the serial lives in a `WeakMap`, whose dead tables hold their keys weakly).
 */

/** A value's box, emptied when its entry leaves the map. */
interface Cell<V> {
  v: V | undefined;
}

/** A `Map` for entries that come and go: same semantics, but a deleted value is not kept alive by V8's old hash tables. */
export class TransientMap<K, V> implements Iterable<[K, V]> {
  private readonly cells = new Map<K, Cell<V>>();

  get size(): number {
    return this.cells.size;
  }

  get(key: K): V | undefined {
    return this.cells.get(key)?.v;
  }

  has(key: K): boolean {
    return this.cells.has(key);
  }

  set(key: K, value: V): this {
    const cell = this.cells.get(key);
    if (cell !== undefined) cell.v = value;
    else this.cells.set(key, { v: value });
    return this;
  }

  delete(key: K): boolean {
    const cell = this.cells.get(key);
    if (cell === undefined) return false;
    cell.v = undefined;
    return this.cells.delete(key);
  }

  clear(): void {
    for (const cell of this.cells.values()) cell.v = undefined;
    this.cells.clear();
  }

  *keys(): IterableIterator<K> {
    yield* this.cells.keys();
  }

  *values(): IterableIterator<V> {
    for (const cell of this.cells.values()) yield cell.v as V;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [key, cell] of this.cells) yield [key, cell.v as V];
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}

/** Serial numbers of set members, shared by every `TransientSet` (weakly held: a member that dies takes its number). */
const serials = new WeakMap<object, number>();
let nextSerial = 1;

function serialOf(item: object): number {
  let n = serials.get(item);
  if (n === undefined) {
    n = nextSerial++;
    serials.set(item, n);
  }
  return n;
}

/** A `Set` of objects that come and go: same semantics, but a removed member is not kept alive by V8's old hash tables. */
export class TransientSet<T extends object> implements Iterable<T> {
  private readonly members = new TransientMap<number, T>();

  get size(): number {
    return this.members.size;
  }

  add(item: T): this {
    this.members.set(serialOf(item), item);
    return this;
  }

  has(item: T): boolean {
    const n = serials.get(item);
    return n !== undefined && this.members.has(n);
  }

  delete(item: T): boolean {
    const n = serials.get(item);
    return n !== undefined && this.members.delete(n);
  }

  clear(): void {
    this.members.clear();
  }

  values(): IterableIterator<T> {
    return this.members.values();
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.members.values();
  }
}
