/**
 * Backup file naming and rotation, shared by both stores and the maintenance loop. Backups are named by
 * their UTC time (`switchyard-20250101T030000123Z.db`), so name order is time order, and only files matching
 * that pattern are ever deleted: rotation never touches anything else in the folder.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

const PREFIX = 'switchyard-';

/** The file name of a backup taken at `at`. */
export function backupFileName(at: Date, ext = 'db'): string {
  // 2025-01-01T03:00:00.123Z → 20250101T030000123Z: fixed width, so name order is time order.
  const stamp = at.toISOString().replace(/[-:.]/g, '');
  return `${PREFIX}${stamp}.${ext}`;
}

/** Backup files in `dir` (names only), oldest first. A missing folder has none. */
export async function listBackups(dir: string, ext = 'db'): Promise<string[]> {
  const pattern = new RegExp(`^${PREFIX}\\d{8}T\\d{9}Z\\.${ext}$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => pattern.test(n)).sort();
}

/** Deletes all but the newest `keep` backups in `dir`. Returns the names deleted. */
export async function pruneBackups(dir: string, keep: number, ext = 'db'): Promise<string[]> {
  const names = await listBackups(dir, ext);
  const doomed = names.slice(0, Math.max(0, names.length - keep));
  for (const name of doomed) await rm(join(dir, name), { force: true });
  return doomed;
}

/** Modification time (ms) of the newest backup in `dir`, or undefined when there is none. */
export async function newestBackupTime(dir: string, ext = 'db'): Promise<number | undefined> {
  let newest: number | undefined;
  for (const name of await listBackups(dir, ext)) {
    const { mtimeMs } = await stat(join(dir, name));
    if (newest === undefined || mtimeMs > newest) newest = mtimeMs;
  }
  return newest;
}
