import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/index.js';
import { describeStoreContract, msg, run } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'swyd-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describeStoreContract('SqliteStore (file)', async (opts) => new SqliteStore({ path: join(dir, `c${++n}.db`), ...opts }));
describeStoreContract('SqliteStore (:memory:)', async (opts) => new SqliteStore({ path: ':memory:', ...opts }));

describe('SqliteStore run rows and their message links', () => {
  it('an ending run is one UPDATE only when its messages are unchanged; otherwise it is upserted and linked', async () => {
    const file = join(dir, 'links.db');
    const store = new SqliteStore({ path: file, checkpoints: 'inline' });
    const [m1, m2, m3, m4] = [msg(1), msg(2), msg(3), msg(4)];
    for (const m of [m1, m2, m3, m4]) await store.accept(m);
    await store.saveRun(run(m1, 'running'));
    await store.saveRun({ ...run(m1, 'answered'), updatedAt: 50 });
    await store.saveRun({ ...run(m1, 'failed'), updatedAt: 60, error: 'late' }); // final already: ignored
    await store.saveRun(run(m2, 'running'));
    await store.saveRun({ ...run(m2, 'failed', 1, [m3]), updatedAt: 70, error: 'boom' }); // ends with another message
    await store.saveRun(run(m4, 'cancelled')); // never stored live: inserted and linked
    await store.close();
    const raw = new Database(file, { readonly: true });
    const runs = raw.prepare('SELECT run_id, state, message_ids, updated_at, error FROM runs ORDER BY run_id').all();
    const links = raw.prepare('SELECT message_id, run_id FROM run_messages ORDER BY run_id, message_id').all();
    raw.close();
    expect(runs).toEqual([
      { run_id: `${m1.id}#1`, state: 'answered', message_ids: JSON.stringify([m1.id]), updated_at: 50, error: null },
      { run_id: `${m2.id}#1`, state: 'failed', message_ids: JSON.stringify([m2.id, m3.id]), updated_at: 70, error: 'boom' },
      { run_id: `${m4.id}#1`, state: 'cancelled', message_ids: JSON.stringify([m4.id]), updated_at: expect.any(Number), error: null },
    ]);
    expect(links).toEqual([
      { message_id: m1.id, run_id: `${m1.id}#1` },
      { message_id: m2.id, run_id: `${m2.id}#1` },
      { message_id: m3.id, run_id: `${m2.id}#1` },
      { message_id: m4.id, run_id: `${m4.id}#1` },
    ]);
  });
});

describe('SqliteStore delivery cache (live runs) and one-statement history appends', () => {
  const d = (runId: string, chunkIndex: number, platformMessageId = `${chunkIndex}`) => ({ runId, chunkIndex, platformMessageId });

  it('a started run re-run under the same id sees the deliveries an earlier process recorded, then its own', async () => {
    const file = join(dir, 'deliveries-cache.db');
    const m1 = msg(1);
    const runId = `${m1.id}#1`;
    const first = new SqliteStore({ path: file, checkpoints: 'inline' });
    await first.accept(m1);
    await first.record(d(runId, 0, 'early')); // recorded, run row never written (e.g. its write was lost)
    await first.close();

    const store = new SqliteStore({ path: file, checkpoints: 'inline' });
    await store.saveRun(run(m1, 'running')); // a pending message re-run reuses `#1`
    expect(await store.delivered(runId)).toEqual([d(runId, 0, 'early')]);
    await store.record(d(runId, 2));
    await store.record(d(runId, 1));
    await store.record(d(runId, 0, 'late')); // first record of a chunk wins
    const seen = await store.delivered(runId);
    expect(seen).toEqual([d(runId, 0, 'early'), d(runId, 1), d(runId, 2)]);
    seen[0]!.platformMessageId = 'mutated'; // a copy
    expect((await store.delivered(runId))[0]).toEqual(d(runId, 0, 'early'));
    await store.saveRun(run(m1, 'answered'));
    expect(await store.delivered(runId)).toEqual([d(runId, 0, 'early'), d(runId, 1), d(runId, 2)]);
    await store.close();
  });

  it('forgets what a lost batch wrote: a record committed with a batch the disk refused is not reported', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const m1 = msg(1);
    await store.accept(m1);
    await store.saveRun(run(m1, 'running'));
    store.simulateFault('full');
    // Same batch: the record succeeds, then the big accept needs pages the capped file cannot give, and SQLite
    // rolls the whole transaction back.
    const results = await Promise.allSettled([store.record(d(`${m1.id}#1`, 0)), store.accept(msg(2, { text: 'x'.repeat(8000) }))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    store.simulateFault(undefined);
    expect(await store.delivered(`${m1.id}#1`)).toEqual([]);
    // A record the database refuses on its own (read-only) is not reported either.
    store.simulateFault('readonly');
    await expect(store.record(d(`${m1.id}#1`, 0))).rejects.toThrow();
    store.simulateFault(undefined);
    expect(await store.delivered(`${m1.id}#1`)).toEqual([]);
    await store.record(d(`${m1.id}#1`, 0));
    expect(await store.delivered(`${m1.id}#1`)).toEqual([d(`${m1.id}#1`, 0)]);
    await store.close();
  });

  it('appends a user message and its answer in one statement, ids in order, no savepoint', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.appendHistory([{ sessionKey: 's', role: 'user', content: 'a', at: 1 }]);
    const [u, a] = await store.appendHistory([
      { sessionKey: 's', role: 'user', content: 'q', name: 'Ann', at: 2, runId: 'r#1' },
      { sessionKey: 's', role: 'assistant', content: 'x', tokens: 3, at: 3, runId: 'r#1' },
    ]);
    expect(a!.id).toBe(u!.id + 1);
    expect(await store.history('s')).toEqual([
      { id: u!.id - 1, sessionKey: 's', role: 'user', content: 'a', at: 1 },
      { ...u },
      { ...a },
    ]);
    expect(u).toEqual({ id: expect.any(Number), sessionKey: 's', role: 'user', content: 'q', name: 'Ann', at: 2, runId: 'r#1' });
    await store.close();
  });

  it('lists pins of sessions that have some, across a restart, through adds, removals, the auto cap and a lost batch', async () => {
    const file = join(dir, 'pins-cache.db');
    const first = new SqliteStore({ path: file, checkpoints: 'inline' });
    const kept = await first.addPin({ sessionKey: 'a', text: 'one', source: 'manual', createdAt: 1 });
    await first.close();

    const store = new SqliteStore({ path: file, checkpoints: 'inline' });
    expect(await store.listPins('a')).toEqual([kept]); // from before the restart
    expect(await store.listPins('b')).toEqual([]);
    const b1 = await store.addPin({ sessionKey: 'b', text: 'x', source: 'auto', createdAt: 2 }, { autoCap: 1 });
    const b2 = await store.addPin({ sessionKey: 'b', text: 'y', source: 'auto', createdAt: 3 }, { autoCap: 1 }); // evicts b1
    expect(await store.listPins('b')).toEqual([b2]);
    expect(await store.removePin('b', b1.id)).toBe(false);
    expect(await store.removePin('b', b2.id)).toBe(true);
    expect(await store.listPins('b')).toEqual([]);
    // A removal in a batch the disk refused did not happen: the pin is still listed.
    const c1 = await store.addPin({ sessionKey: 'c', text: 'z', source: 'manual', createdAt: 4 });
    store.simulateFault('full');
    const lost = await Promise.allSettled([store.removePin('c', c1.id), store.accept(msg(9, { text: 'x'.repeat(8000) }))]);
    expect(lost.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    store.simulateFault(undefined);
    expect(await store.listPins('c')).toEqual([c1]);
    expect(await store.listPins('a')).toEqual([kept]);
    await store.close();
  });
});
