/** Online backups: a whole, openable copy with the data; rotation keeps the newest N; failures are typed. */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { isSwitchyardError } from '../../src/errors/index.js';
import { SqliteStore, backupFileName, listBackups } from '../../src/store/index.js';
import { msg } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'swyd-backup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteStore.backup', () => {
  it('writes a complete database that opens as a store with the same data', async () => {
    const store = new SqliteStore({ path: join(dir, 'live.db') });
    for (let i = 1; i <= 500; i++) await store.accept(msg(i));
    await store.appendHistory([{ sessionKey: 's', role: 'user', content: 'remember me', at: 1 }]);
    // Writes issued while the backup runs must not break it.
    const backingUp = store.backup(join(dir, 'b1'));
    const during = Promise.all([store.accept(msg(501)), store.accept(msg(502))]);
    const file = await backingUp;
    await during;
    await store.close();
    expect(basename(file)).toMatch(/^switchyard-\d{8}T\d{9}Z\.db$/);
    expect(readdirSync(join(dir, 'b1'))).toEqual([basename(file)]);
    const copy = new SqliteStore({ path: file });
    expect(await copy.accept(msg(1))).toEqual({ status: 'duplicate' });
    expect((await copy.history('s')).map((e) => e.content)).toEqual(['remember me']);
    await copy.close();
    const raw = new Database(file, { readonly: true });
    expect(raw.prepare('PRAGMA integrity_check').pluck().get()).toBe('ok');
    expect(raw.prepare('SELECT count(*) FROM messages').pluck().get()).toBeGreaterThanOrEqual(500);
    raw.close();
  });

  it('keeps the newest `keep` backups and never touches other files', async () => {
    let t = Date.UTC(2025, 0, 1, 3, 0, 0);
    const store = new SqliteStore({ path: ':memory:', now: () => t });
    const target = join(dir, 'b2');
    await store.backup(target);
    writeFileSync(join(target, 'notes.txt'), 'mine');
    writeFileSync(join(target, 'switchyard-old.db'), 'not a backup name');
    const written: string[] = [];
    for (let i = 0; i < 5; i++) {
      t += 86_400_000;
      written.push(basename(await store.backup(target, { keep: 3 })));
    }
    expect(await listBackups(target)).toEqual(written.slice(-3));
    expect(existsSync(join(target, 'notes.txt'))).toBe(true);
    expect(existsSync(join(target, 'switchyard-old.db'))).toBe(true);
    // Two backups in the same millisecond get distinct names.
    const a = await store.backup(target, { keep: 10 });
    const b = await store.backup(target, { keep: 10 });
    expect(a).not.toBe(b);
    await store.close();
  });

  it('names files by UTC time so name order is time order', () => {
    expect(backupFileName(new Date(Date.UTC(2025, 11, 31, 23, 59, 58, 7)))).toBe('switchyard-20251231T235958007Z.db');
  });

  it('fails with E_BACKUP_FAILED naming the folder when it cannot write, and leaves no partial file', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.accept(msg(1));
    const notADir = join(dir, 'a-file');
    writeFileSync(notADir, 'x');
    const err = await store.backup(join(notADir, 'sub')).catch((e: unknown) => e as Error);
    expect(isSwitchyardError(err, 'E_BACKUP_FAILED')).toBe(true);
    expect((err as Error).message).toContain(join(notADir, 'sub'));
    // The store keeps working.
    expect((await store.accept(msg(2))).status).toBe('accepted');
    await store.close();
  });
});
