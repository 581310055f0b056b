/**
 * Group commit: writes of one event-loop turn share one transaction; each promise resolves only after its
 * commit; a failed commit rejects every write of the batch (none stored); a failing write spares its
 * neighbours; reads see writes queued before them; a checkpoint hold postpones the end-of-turn commit (never a
 * read's flush).
 */
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { SqliteStore } from '../../src/store/index.js';
import { WriteQueue } from '../../src/store/sqlite/write-queue.js';
import { msg } from './contract.js';

describe('group commit', () => {
  it('commits the accepts of one turn in one transaction', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const before = store.commits;
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.accept(msg(i + 1))));
    expect(results.every((r) => r.status === 'accepted')).toBe(true);
    expect(store.commits - before).toBe(1);
    await Promise.all([store.accept(msg(500)), store.accept(msg(501))]);
    expect(store.commits - before).toBe(2);
    await store.close();
  });

  it('lets a read see writes queued before it, without waiting for the tick', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const accepted = store.accept(msg(1));
    const read = await store.getMessage(msg(1).id);
    expect(read?.message.id).toBe(msg(1).id);
    expect(await accepted).toMatchObject({ status: 'accepted' });
    await store.close();
  });

  it('rejects every write of a batch whose commit fails, and stores none of them', async () => {
    const db = new Database(':memory:');
    db.pragma('foreign_keys = ON');
    db.exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);`);
    const q = new WriteQueue(db, { commitError: (cause) => Object.assign(new Error('commit failed'), { cause }) });
    const insertChild = db.prepare('INSERT INTO child (id, parent) VALUES (?, ?)');
    // The dangling reference is only detected at COMMIT (deferred), a real commit failure.
    const good = q.push(() => insertChild.run(1, null));
    const bad = q.push(() => insertChild.run(2, 999));
    const results = await Promise.allSettled([good, bad]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(((results[0] as PromiseRejectedResult).reason as Error).message).toBe('commit failed');
    expect(db.prepare('SELECT count(*) FROM child').pluck().get()).toBe(0);
    expect(db.inTransaction).toBe(false);
    // The queue keeps working afterwards.
    await q.push(() => insertChild.run(3, null));
    expect(db.prepare('SELECT count(*) FROM child').pluck().get()).toBe(1);
    db.close();
  });

  it('isolates a failing write from its neighbours in the same batch', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    const q = new WriteQueue(db, { commitError: (cause) => Object.assign(new Error('commit failed'), { cause }) });
    const ins = db.prepare('INSERT INTO t (id, v) VALUES (?, ?)');
    const a = q.push(() => ins.run(1, 'a'));
    const b = q.push(() => {
      ins.run(2, 'b'); // undone with the savepoint
      ins.run(3, null); // NOT NULL violation
    }, true);
    const c = q.push(() => ins.run(4, 'c'));
    const settled = await Promise.allSettled([a, b, c]);
    expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(db.prepare('SELECT id FROM t ORDER BY id').pluck().all()).toEqual([1, 4]);
    db.close();
  });

  it('postpones the end-of-turn commit while commits are held, and commits once the hold ends', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'setImmediate'] });
    try {
      const db = new Database(':memory:');
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
      let held = true;
      const q = new WriteQueue(db, { commitError: (cause) => Object.assign(new Error('commit failed'), { cause }), holdCommits: () => held });
      let done = false;
      const write = q.push(() => db.prepare('INSERT INTO t (id) VALUES (1)').run()).then(() => (done = true));
      await vi.advanceTimersByTimeAsync(5);
      expect(done).toBe(false);
      expect(q.size).toBe(1);
      expect(q.commits).toBe(0);
      held = false;
      await vi.advanceTimersByTimeAsync(1);
      await write;
      expect(q.commits).toBe(1);
      // A read's flush does not wait for a hold: read-your-writes comes first.
      held = true;
      const second = q.push(() => db.prepare('INSERT INTO t (id) VALUES (2)').run());
      q.flush();
      await second;
      expect(q.commits).toBe(2);
      db.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
