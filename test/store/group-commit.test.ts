/**
 * Group commit: writes of one event-loop turn share one transaction; each promise resolves only after its
 * commit; a failed commit rejects every write of the batch (none stored); a failing write spares its
 * neighbours; reads see writes queued before them; a checkpoint hold postpones the end-of-turn commit (never a
 * read's flush).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { isSwitchyardError } from '../../src/errors/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { isEnvironmentError, WriteQueue } from '../../src/store/sqlite/write-queue.js';
import { msg } from './contract.js';

/** 'stored', or the SQLite code of the E_STORE_WRITE a write failed with. */
const codeOf = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'stored',
    (err: unknown) => (isSwitchyardError(err, 'E_STORE_WRITE') ? err.context.sqliteCode : err),
  );

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

  it('a keyed read (history, deliveries) commits early only when a queued write touches its key', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.appendHistory([{ sessionKey: 's1', role: 'user', content: 'hi', at: 1 }]);
    const before = store.commits;
    // Unrelated writes queued: the reads do not cut the batch, and see what was committed.
    const pending = [store.accept(msg(1)), store.record({ runId: 'other#1', chunkIndex: 0, platformMessageId: '9' })];
    expect((await store.history('s1')).map((e) => e.content)).toEqual(['hi']);
    expect(await store.delivered('r#1')).toEqual([]);
    expect(store.commits).toBe(before);
    // A queued write of the same key is read (read-your-writes), which commits the batch.
    const appended = store.appendHistory([{ sessionKey: 's1', role: 'assistant', content: 'yo', at: 2 }]);
    expect((await store.history('s1')).map((e) => e.content)).toEqual(['hi', 'yo']);
    expect(store.commits).toBe(before + 1);
    const recorded = store.record({ runId: 'r#1', chunkIndex: 0, platformMessageId: '10' });
    expect(await store.delivered('r#1')).toEqual([{ runId: 'r#1', chunkIndex: 0, platformMessageId: '10' }]);
    // A write that names no keys (a pairing) counts as touching everything.
    const paired = store.savePairing({ channelId: 'c', code: 'ABC123', senderId: 'u', senderName: 'U', createdAt: 1, expiresAt: 10 ** 13 });
    await store.history('s2');
    expect(store.commits).toBe(before + 3);
    await Promise.all([...pending, appended, recorded, paired]);
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

  it('a write the database refuses (read-only, disk full) is a typed E_STORE_WRITE; reads go on; it works once lifted', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.accept(msg(1));
    store.simulateFault('readonly');
    expect(await codeOf(store.accept(msg(2)))).toBe('SQLITE_READONLY');
    expect(await codeOf(store.recordOutcomes([{ messageId: msg(1).id, outcome: 'answered', at: 1 }]))).toBe('SQLITE_READONLY');
    expect((await store.getMessage(msg(1).id))?.outcome).toBeUndefined();
    store.simulateFault('full');
    // Larger than a page: it needs new pages, which the capped file cannot give.
    expect(await codeOf(store.accept(msg(3, { text: 'x'.repeat(8000) })))).toBe('SQLITE_FULL');
    expect(await store.getMessage(msg(3).id)).toBeUndefined();
    store.simulateFault(undefined);
    expect(await codeOf(store.accept(msg(3, { text: 'x'.repeat(8000) })))).toBe('stored');
    expect(await store.accept(msg(2))).toMatchObject({ status: 'accepted' });
    await store.close();
  });

  it('retries a stale cutoff the disk refused, so a /stopall during the fault survives a restart', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    const dir = mkdtempSync(join(tmpdir(), 'swyd-cutoff-'));
    try {
      const file = join(dir, 'db.sqlite');
      const store = new SqliteStore({ path: file });
      store.simulateFault('readonly');
      store.cutoffs.set('s1', { sentAt: 42, platformMessageId: '7' });
      store.cutoffs.set('s2', { sentAt: 1 });
      store.cutoffs.set('s2', { sentAt: 2 }); // supersedes: only the latest is retried
      // Queued after the cutoffs, so once it failed they have failed too.
      expect(await codeOf(store.accept(msg(1)))).toBe('SQLITE_READONLY');
      store.simulateFault(undefined);
      await vi.advanceTimersByTimeAsync(100);
      await store.close();
      const reopened = new SqliteStore({ path: file });
      expect(reopened.cutoffs.get('s1')).toMatchObject({ sentAt: 42, platformMessageId: '7' });
      expect(reopened.cutoffs.get('s2')).toMatchObject({ sentAt: 2 });
      await reopened.close();
    } finally {
      vi.useRealTimers();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the error of a write that fails for its own reasons (a constraint): not an environment error', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    const q = new WriteQueue(db, { commitError: (cause) => new Error('commit', { cause }), writeError: (cause) => new Error('refused', { cause }) });
    const insert = db.prepare('INSERT INTO t (id) VALUES (?)');
    await q.push(() => insert.run(1));
    const err = await q.push(() => insert.run(1)).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('SQLITE_CONSTRAINT_PRIMARYKEY');
    expect(isEnvironmentError(err)).toBe(false);
    expect(isEnvironmentError(Object.assign(new Error('x'), { code: 'SQLITE_IOERR_WRITE' }))).toBe(true);
    db.close();
  });
});
