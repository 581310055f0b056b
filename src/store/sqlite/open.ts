/**
 * Opening a database file safely. Every way a file can be wrong (unopenable, not SQLite, another program's
 * SQLite, a newer schema, held by another gateway) becomes a typed error naming the file and what to do.
 * Nothing is ever reset or overwritten: the checks run before the first write.
 *
 * Durability choice (`durability`), WAL in both cases:
 * - `'process'` (default): `synchronous=NORMAL`. A commit is written to the WAL (the OS page cache) before the
 *   promise resolves, so it survives kill -9, an OOM kill, a crash of Node: exactly the promise Switchyard
 *   makes ("accepted means answered exactly once, even across kill -9"; the crash test proves it). It does not
 *   fsync per commit, so the last commits before a power loss or kernel panic may roll back.
 * - `'power'`: `synchronous=FULL`. Every commit fsyncs the WAL, so an accepted message also survives power
 *   loss. The fsync (about 1 ms here) runs on the event loop thread (better-sqlite3 is synchronous), so each
 *   group commit blocks the whole gateway for that long: p99 accept latency roughly doubles and throughput
 *   halves (see `bench/store.ts`). Choose it when the host can lose power and the platform cannot redeliver.
 *
 * Checkpoints: SQLite copies the WAL into the database file on the committing thread once the WAL passes
 * `wal_autocheckpoint` pages, and syncs both files while doing so. That is what the store does until its
 * checkpoint worker is up (and again if the worker fails); with the worker running, the store turns automatic
 * checkpoints off (see `checkpointer.ts`).
 *
 * One gateway per file: the checkpoint worker needs a second connection, so the database itself cannot be
 * opened with `locking_mode=EXCLUSIVE`. Instead the store holds an exclusive SQLite lock on a sidecar file,
 * `<file>-lock` (an empty database, never written), for as long as it is open; a second gateway fails on that
 * lock before it touches the database. The operating system drops the lock when the process dies (kill -9
 * included), so a crash never leaves the file locked.
 */
import Database from 'better-sqlite3';
import { dirname } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { InvalidOptionError } from '../../errors/index.js';
import { StoreNotDatabaseError, StoreOpenError, StoreSchemaTooNewError } from '../errors.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './schema.js';

/** How hard a commit is pushed to disk (see the file comment). */
export type Durability = 'power' | 'process';

/** Options of `openDatabase`. */
export interface OpenDatabaseOptions {
  durability?: Durability;
  /**
   * Hold the file exclusively, so a second gateway on the same file fails at start instead of both
   * recovering the same runs. Default true.
   */
  exclusive?: boolean;
  /** How long a locked database is waited for (ms). Default 2000. */
  busyTimeoutMs?: number;
  /** WAL size (pages) that triggers an automatic checkpoint (when no checkpoint worker runs). Default 256. */
  checkpointPages?: number;
  /**
   * Page size (bytes, a power of two from 512 to 65536) of a database created now; an existing file keeps
   * its own. Default 1024 (see `DEFAULT_PAGE_SIZE`).
   */
  pageSize?: number;
}

/**
 * Page size of new database files. A message changes a row or an index entry in ~10 pages (its message row,
 * its run, its delivery, its history, their index entries), and every commit writes each page it changed to
 * the WAL in full: at 4096 bytes that was ~35 KB of WAL per message (about 9 pages), at 1024 ~12 KB (the
 * checkpoint worker then copies a third as much). Rows larger than a page (long messages, long answers) spill
 * into overflow pages, which only costs reads of those rows a few more page lookups.
 */
export const DEFAULT_PAGE_SIZE = 1024;

type Db = Database.Database;

/** An open database: the connection, and the sidecar lock it holds (when `exclusive`). */
export interface OpenedDatabase {
  db: Db;
  /** Connection holding the exclusive lock on `<file>-lock`; closed after `db`. */
  lock: Db | undefined;
  /** Whether the file is in WAL mode (false for `:memory:`), i.e. whether a checkpoint worker makes sense. */
  wal: boolean;
}

/** Opens (creating if needed), checks and migrates the database at `file`. Internal to `src/store`. */
export function openDatabase(file: string, options: OpenDatabaseOptions = {}): OpenedDatabase {
  const pages = options.checkpointPages ?? 256;
  if (!Number.isInteger(pages) || pages < 1) throw new InvalidOptionError('checkpointPages', 'an integer >= 1', options.checkpointPages);
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0) {
    throw new InvalidOptionError('pageSize', 'a power of two from 512 to 65536', options.pageSize);
  }
  const memory = file === ':memory:' || file === '';
  if (!memory) {
    const dir = dirname(file);
    if (!existsSync(dir)) throw new StoreOpenError(file, new Error(`the folder ${dir} does not exist`));
    if (existsSync(file) && statSync(file).isDirectory()) throw new StoreOpenError(file, new Error('the path is a folder, not a file'));
  }
  const lock = !memory && (options.exclusive ?? true) ? takeLock(file, options.busyTimeoutMs ?? 2000) : undefined;
  let db: Db;
  try {
    db = new Database(file, { timeout: options.busyTimeoutMs ?? 2000 });
  } catch (err) {
    lock?.close();
    throw new StoreOpenError(file, err);
  }
  try {
    check(db, file);
    // Only a file with no pages yet takes it (SQLite fixes the page size when it writes the first page).
    if ((db.pragma('page_count', { simple: true }) as number) === 0) db.pragma(`page_size = ${pageSize}`);
    const wal = configure(db, file, options, pages);
    migrate(db, file);
    return { db, lock, wal };
  } catch (err) {
    db.close();
    lock?.close();
    throw err;
  }
}

/** Takes the one-gateway-per-file lock (see the file comment). */
function takeLock(file: string, timeoutMs: number): Db {
  let lock: Db | undefined;
  try {
    lock = new Database(`${file}-lock`, { timeout: timeoutMs });
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.pragma('journal_mode = OFF');
    // An empty exclusive transaction: in EXCLUSIVE locking mode the lock is kept after COMMIT, until close.
    lock.exec('BEGIN EXCLUSIVE; COMMIT');
    return lock;
  } catch (err) {
    lock?.close();
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw classify(file, err);
    throw new StoreOpenError(file, new Error(`cannot take the lock file ${file}-lock`, { cause: err }));
  }
}

/** Refuses files that are not ours or too new. Runs only reads. */
function check(db: Db, file: string): void {
  let version: number;
  let appId: number;
  let tables: number;
  try {
    version = db.pragma('user_version', { simple: true }) as number;
    appId = db.pragma('application_id', { simple: true }) as number;
    tables = (db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'`).get() as { n: number }).n;
  } catch (err) {
    throw classify(file, err);
  }
  if (appId !== APPLICATION_ID && (appId !== 0 || tables > 0)) {
    const detail = appId === 0 ? `a SQLite database with ${tables} table(s) of another program` : `a SQLite database of another program (application_id ${appId})`;
    throw new StoreNotDatabaseError(file, detail);
  }
  if (version > SCHEMA_VERSION) throw new StoreSchemaTooNewError(file, version, SCHEMA_VERSION);
}

function configure(db: Db, file: string, options: OpenDatabaseOptions, pages: number): boolean {
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
    if (mode !== 'wal' && mode !== 'memory') throw new Error(`journal_mode is ${mode}, expected wal`);
    db.pragma(`synchronous = ${(options.durability ?? 'process') === 'power' ? 'FULL' : 'NORMAL'}`);
    db.pragma(`wal_autocheckpoint = ${pages}`);
    db.pragma('foreign_keys = OFF');
    db.pragma('temp_store = MEMORY');
    // 16 MiB page cache: the hot set (recent messages, unfinished runs, indexes) stays in memory.
    db.pragma('cache_size = -16384');
    return mode === 'wal';
  } catch (err) {
    throw classify(file, err);
  }
}

/** Applies missing migrations in one transaction (a crash mid-migration leaves the old version intact). */
function migrate(db: Db, file: string): void {
  const from = db.pragma('user_version', { simple: true }) as number;
  try {
    // IMMEDIATE: takes the write lock at once, so a database busy in another process fails here, at start.
    db.transaction(() => {
      for (let v = from; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
      if (from < SCHEMA_VERSION) {
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
        db.pragma(`application_id = ${APPLICATION_ID}`);
      }
    }).immediate();
  } catch (err) {
    throw classify(file, err);
  }
}

/** Maps a SQLite error met while opening to the store error an operator can act on. */
function classify(file: string, err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB') return new StoreNotDatabaseError(file, 'the file header is not SQLite', err);
  if (code === 'SQLITE_CORRUPT') return new StoreNotDatabaseError(file, 'the database is damaged', err);
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new StoreOpenError(file, new Error('the database is in use by another process (another gateway?)', { cause: err }));
  }
  return err instanceof StoreNotDatabaseError || err instanceof StoreSchemaTooNewError ? err : new StoreOpenError(file, err);
}
