/**
 * Opening bad files: each gives a typed error naming the file and what to do, and never a silent reset (the
 * file's bytes are unchanged afterwards). Also: migrations, persistence across reopen, the exclusive lock.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { isSwitchyardError } from '../../src/errors/index.js';
import { SCHEMA_VERSION, SqliteStore } from '../../src/store/index.js';
import { msg } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'swyd-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `db${++n}.db`);

function openError(path: string): Error & { code?: string } {
  try {
    new SqliteStore({ path }).close().catch(() => undefined);
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error(`opening ${path} did not fail`);
}

describe('SqliteStore: opening files', () => {
  it('creates new files with 1 KiB pages (less WAL per commit); an existing file keeps its page size', async () => {
    const path = fresh();
    await new SqliteStore({ path, checkpoints: 'inline' }).close();
    const pageSize = (file: string): number => {
      const raw = new Database(file, { readonly: true });
      const size = raw.pragma('page_size', { simple: true }) as number;
      raw.close();
      return size;
    };
    expect(pageSize(path)).toBe(1024);
    const old = fresh();
    await new SqliteStore({ path: old, checkpoints: 'inline', pageSize: 4096 }).close();
    const reopened = new SqliteStore({ path: old, checkpoints: 'inline' });
    await reopened.accept(msg(1));
    await reopened.close();
    expect(pageSize(old)).toBe(4096);
    expect(() => new SqliteStore({ path: fresh(), pageSize: 1000 })).toThrow(/pageSize/);
  });

  it('creates a new database with the current schema version', async () => {
    const path = fresh();
    const store = new SqliteStore({ path });
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('application_id', { simple: true })).toBe(0x53575944);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('keeps everything across close and reopen, cutoffs included', async () => {
    const path = fresh();
    const a = new SqliteStore({ path });
    await a.accept(msg(1));
    a.cutoffs.set('s1', { platformMessageId: '42', sentAt: 7 });
    a.cutoffs.set('s2', { sentAt: 8 });
    a.cutoffs.set('s2', undefined);
    await a.appendHistory([{ sessionKey: 's1', role: 'user', content: 'hi', at: 1 }]);
    await a.close();
    const b = new SqliteStore({ path });
    expect(await b.accept(msg(1))).toEqual({ status: 'duplicate' });
    expect(b.cutoffs.get('s1')).toEqual({ platformMessageId: '42', sentAt: 7 });
    expect(b.cutoffs.get('s2')).toBeUndefined();
    expect((await b.history('s1')).map((e) => e.content)).toEqual(['hi']);
    const next = await b.accept(msg(2));
    expect(next.status).toBe('accepted');
    expect(next.status === 'accepted' && next.seq).toBeGreaterThan(1);
    await b.close();
  });

  it('refuses a file that is not SQLite, naming it, and leaves it untouched', () => {
    const path = fresh();
    const bytes = 'this is my diary, not a database\n'.repeat(200);
    writeFileSync(path, bytes);
    const err = openError(path);
    expect(isSwitchyardError(err, 'E_STORE_NOT_DATABASE')).toBe(true);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/move this file away/);
    expect(readFileSync(path, 'utf8')).toBe(bytes);
  });

  it("refuses another program's SQLite database", () => {
    const path = fresh();
    const other = new Database(path);
    other.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES (\'keep me\')');
    other.close();
    const err = openError(path);
    expect(isSwitchyardError(err, 'E_STORE_NOT_DATABASE')).toBe(true);
    expect(err.message).toContain('another program');
    const again = new Database(path, { readonly: true });
    expect(again.prepare('SELECT body FROM notes').pluck().get()).toBe('keep me');
    expect(again.pragma('user_version', { simple: true })).toBe(0);
    again.close();
  });

  it('refuses a database from a newer schema version and leaves it untouched', async () => {
    const path = fresh();
    const store = new SqliteStore({ path });
    await store.accept(msg(1));
    await store.close();
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 3}`);
    db.close();
    const err = openError(path);
    expect(isSwitchyardError(err, 'E_STORE_SCHEMA_TOO_NEW')).toBe(true);
    expect(err.message).toContain(path);
    expect(err.message).toContain(`schema version ${SCHEMA_VERSION + 3}`);
    expect(err.message).toMatch(/upgrade Switchyard/);
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT count(*) FROM messages').pluck().get()).toBe(1);
    expect(check.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 3);
    check.close();
  });

  it('refuses a path in a missing folder, and a folder', () => {
    const missing = join(dir, 'no-such-folder', 'x.db');
    const err = openError(missing);
    expect(isSwitchyardError(err, 'E_STORE_OPEN')).toBe(true);
    expect(err.message).toContain(missing);
    expect(err.message).toContain('does not exist');

    const folder = join(dir, 'a-folder.db');
    mkdirSync(folder);
    const err2 = openError(folder);
    expect(isSwitchyardError(err2, 'E_STORE_OPEN')).toBe(true);
    expect(err2.message).toContain(folder);
  });

  it.skipIf(process.getuid?.() === 0)('refuses an unreadable file', () => {
    const path = fresh();
    writeFileSync(path, '');
    chmodSync(path, 0o000);
    const err = openError(path);
    expect(isSwitchyardError(err, 'E_STORE_OPEN')).toBe(true);
    expect(err.message).toContain(path);
  });

  it('closes its checkpoint connection first, so no WAL is left behind, and keeps the lock in <file>-lock', async () => {
    const path = fresh();
    const store = new SqliteStore({ path });
    await store.accept(msg(1));
    expect(existsSync(`${path}-lock`)).toBe(true);
    await store.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    const again = new SqliteStore({ path });
    expect(await again.accept(msg(1))).toEqual({ status: 'duplicate' });
    await again.close();
  });

  it('refuses a second store on the same file while the first is open', async () => {
    const path = fresh();
    const first = new SqliteStore({ path });
    await first.accept(msg(1));
    const t0 = Date.now();
    const second = (() => {
      try {
        return new SqliteStore({ path, busyTimeoutMs: 100 });
      } catch (err) {
        return err as Error;
      }
    })();
    expect(second).toBeInstanceOf(Error);
    expect(isSwitchyardError(second, 'E_STORE_OPEN')).toBe(true);
    expect((second as Error).message).toContain('in use by another process');
    expect(Date.now() - t0).toBeLessThan(10_000);
    await first.close();
    const third = new SqliteStore({ path });
    expect(await third.accept(msg(1))).toEqual({ status: 'duplicate' });
    await third.close();
  });
});
