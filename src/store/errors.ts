/**
 * Errors the store raises, one class per failure site. Each names the database file (or backup folder) and
 * says what to do, because the person reading it is an operator looking at a gateway that will not start.
 */
import { SwitchyardError } from '../errors/index.js';

/** The database file could not be opened (missing folder, permissions, a directory, a lock). */
export class StoreOpenError extends SwitchyardError {
  constructor(readonly file: string, cause: unknown) {
    super(
      'E_STORE_OPEN',
      `Cannot open the database ${file}: ${describeCause(cause)}. Check that the path is a file in an existing folder, readable and writable by this user.`,
      { cause, context: { file } },
    );
  }
}

/** The file exists but is not a SQLite database, or is a SQLite database of some other program. */
export class StoreNotDatabaseError extends SwitchyardError {
  constructor(readonly file: string, detail: string, cause?: unknown) {
    super(
      'E_STORE_NOT_DATABASE',
      `${file} is not a Switchyard database (${detail}). Nothing was changed: point store.path at a Switchyard database, or move this file away to start with a new one.`,
      { cause, context: { file } },
    );
  }
}

/** The database was migrated by a newer Switchyard: opening it here could corrupt it, so we refuse. */
export class StoreSchemaTooNewError extends SwitchyardError {
  constructor(readonly file: string, readonly found: number, readonly supported: number) {
    super(
      'E_STORE_SCHEMA_TOO_NEW',
      `${file} has schema version ${found}, but this Switchyard understands up to ${supported}. Nothing was changed: upgrade Switchyard, or restore a backup taken by this version.`,
      { context: { file, found, supported } },
    );
  }
}

/** A write failed (disk full, I/O error, read-only file). The caller's data was not stored. */
export class StoreWriteError extends SwitchyardError {
  constructor(readonly file: string, operation: string, cause: unknown) {
    super(
      'E_STORE_WRITE',
      `The database ${file} refused a write (${operation}): ${describeCause(cause)}. Nothing from this call was stored; check free disk space and permissions.`,
      { cause, context: { file, operation, sqliteCode: sqliteCodeOf(cause) } },
    );
  }
}

/** A call reached a store after `close()`. */
export class StoreClosedError extends SwitchyardError {
  constructor(operation: string) {
    super('E_STORE_CLOSED', `The store is closed (${operation} after close). This happens during shutdown; retry after restart.`, {
      context: { operation },
    });
  }
}

/** An online backup could not be written. The live database is unaffected. */
export class BackupError extends SwitchyardError {
  constructor(readonly dir: string, cause: unknown) {
    super(
      'E_BACKUP_FAILED',
      `The backup into ${dir} failed: ${describeCause(cause)}. The live database is unaffected; check that the folder exists, is writable and the disk has room.`,
      { cause, context: { dir } },
    );
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
  }
  return String(cause);
}

function sqliteCodeOf(cause: unknown): string | undefined {
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
