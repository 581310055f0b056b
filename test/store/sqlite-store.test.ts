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
