/**
 * The SQLite schema, as versioned migrations in code. `PRAGMA user_version` holds the number of migrations
 * applied; `PRAGMA application_id` marks the file as Switchyard's, so a SQLite file of another program is
 * refused instead of being "migrated". Migrations only ever add: a migration is never edited once released.
 */

/** `application_id` of every Switchyard database: ASCII "SWYD". */
export const APPLICATION_ID = 0x53_57_59_44;

/** Migrations in order; index i takes the schema from version i to i + 1. */
export const MIGRATIONS: readonly string[] = [
  // v1: the whole store.
  `
  -- Accepted messages, their envelope (JSON) and their one outcome. seq is the store-wide arrival order;
  -- AUTOINCREMENT so a seq is never reused after pruning.
  CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    session_key TEXT NOT NULL,
    accepted_at INTEGER NOT NULL,
    envelope TEXT NOT NULL,
    outcome TEXT,
    owner_id TEXT,
    run_id TEXT,
    reason TEXT,
    error TEXT,
    outcome_at INTEGER
  );
  -- Recovery reads messages merged into an owner; only merged rows carry owner_id.
  CREATE INDEX messages_owner ON messages(owner_id) WHERE owner_id IS NOT NULL;

  CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    session_key TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    message_ids TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'answered', 'failed', 'cancelled', 'superseded')),
    attempt INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    error TEXT
  );
  CREATE INDEX runs_unfinished ON runs(state) WHERE state IN ('queued', 'running');

  -- Which runs carried which message (a message may be in several attempts).
  CREATE TABLE run_messages (
    message_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (message_id, run_id)
  ) WITHOUT ROWID;
  CREATE INDEX run_messages_run ON run_messages(run_id);

  -- Chunks the platform accepted. owner_id is derived from the run id, so a delivery is linked to its turn
  -- even when the run record was never written.
  CREATE TABLE deliveries (
    run_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    platform_message_id TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (run_id, chunk_index)
  ) WITHOUT ROWID;
  CREATE INDEX deliveries_owner ON deliveries(owner_id);

  CREATE TABLE history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_key TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'summary')),
    content TEXT NOT NULL,
    name TEXT,
    tokens INTEGER,
    run_id TEXT,
    at INTEGER NOT NULL
  );
  CREATE INDEX history_session ON history(session_key, id);
  CREATE INDEX history_summary ON history(session_key, id) WHERE role = 'summary';

  CREATE TABLE cutoffs (
    session_key TEXT PRIMARY KEY,
    platform_message_id TEXT,
    sent_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE pins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_key TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('auto', 'manual')),
    created_at INTEGER NOT NULL
  );
  CREATE INDEX pins_session ON pins(session_key, id);

  -- One pending code per sender and channel; approved senders in paired.
  CREATE TABLE pairings (
    channel_id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    code TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, sender_id)
  ) WITHOUT ROWID;
  CREATE TABLE paired (
    channel_id TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, sender_id)
  ) WITHOUT ROWID;
  `,
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;
