/**
 * Online backups. The store's checkpoint worker writes the copy (`VACUUM INTO` on its own connection, see
 * `checkpointer.ts`), so no part of it runs on the event loop. Without a worker (`:memory:`, or the worker
 * failed) it falls back to SQLite's backup API on the store's connection (better-sqlite3 `db.backup`), in
 * steps of a few pages with the event loop free between steps; its final step syncs the copy on the event
 * loop (measured 55-70 ms on this VM). Either way the copy is written to a temporary name and renamed when
 * complete, so a backup file is always whole.
 */
import type Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from '../errors.js';
import { backupFileName, pruneBackups } from '../backup-files.js';

/** Options of `backupDatabase`. */
export interface BackupOptions {
  /** Newest backups to keep (older ones are deleted after this one is written). */
  keep: number;
  /** Time that names the file (ms). */
  now: number;
  /** Pages copied per step of the fallback. Default 64 (about 0.3 ms of work per step on a warm cache). */
  pagesPerStep?: number;
  /** Writes a consistent copy to the given path off the event loop (the checkpoint worker), when there is one. */
  copyOffThread?: ((file: string) => Promise<void>) | undefined;
}

/** Writes a backup of `db` into `dir` and rotates. Returns the file path. Internal to `src/store`. */
export async function backupDatabase(db: Database.Database, dir: string, options: BackupOptions): Promise<string> {
  let at = options.now;
  let file = join(dir, backupFileName(new Date(at)));
  while (existsSync(file)) file = join(dir, backupFileName(new Date(++at)));
  const tmp = `${file}.partial`;
  const pages = options.pagesPerStep ?? 64;
  try {
    await mkdir(dir, { recursive: true });
    if (options.copyOffThread !== undefined) await options.copyOffThread(tmp);
    else await db.backup(tmp, { progress: () => pages });
    await rename(tmp, file);
    await pruneBackups(dir, Math.max(1, options.keep));
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new BackupError(dir, err);
  }
  return file;
}
