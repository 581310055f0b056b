/**
 * Every SQL statement of `SqliteStore`, prepared once per connection. Internal to `src/store`.
 */
import type Database from 'better-sqlite3';

/** Prepares the store's statements on `db`. */
export function prepareStatements(db: Database.Database) {
  const p = (sql: string): Database.Statement => db.prepare(sql);
  return {
    insertMessage: p(
      `INSERT INTO messages (id, session_key, accepted_at, envelope) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    getMessage: p(`SELECT * FROM messages WHERE id = ?`),
    setOutcome: p(
      `UPDATE messages SET outcome = ?, owner_id = ?, run_id = ?, reason = ?, error = ?, outcome_at = ? WHERE id = ? AND outcome IS NULL`,
    ),
    clearOutcome: p(`UPDATE messages SET outcome = NULL, owner_id = NULL, run_id = NULL, reason = NULL, error = NULL, outcome_at = NULL WHERE id = ?`),
    openMessages: p(`SELECT * FROM messages WHERE outcome IS NULL ORDER BY seq`),
    mergedInto: p(`SELECT * FROM messages WHERE owner_id = ? AND outcome = 'merged' ORDER BY seq`),

    getRun: p(`SELECT * FROM runs WHERE run_id = ?`),
    // Positional parameters (run_id, session_key, owner_id, message_ids, state, attempt, created_at, updated_at,
    // error, force): binding a named-parameter object cost ~1.3 µs more per run write.
    upsertRun: p(
      `INSERT INTO runs (run_id, session_key, owner_id, message_ids, state, attempt, created_at, updated_at, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id) DO UPDATE SET
         message_ids = excluded.message_ids, state = excluded.state, attempt = excluded.attempt,
         updated_at = excluded.updated_at, error = excluded.error
       WHERE runs.state IN ('queued', 'running') OR ? = 1`,
    ),
    // A live run ending with the messages it was stored with (see SqliteStore.writeRun): no upsert, no re-linking.
    endRun: p(
      `UPDATE runs SET state = ?, attempt = ?, updated_at = ?, error = ?
       WHERE run_id = ? AND message_ids = ? AND state IN ('queued', 'running')`,
    ),
    linkRunMessage: p(`INSERT INTO run_messages (message_id, run_id) VALUES (?, ?) ON CONFLICT DO NOTHING`),
    unfinishedRuns: p(`SELECT * FROM runs WHERE state IN ('queued', 'running')`),
    runsContaining: p(`SELECT r.* FROM run_messages m JOIN runs r ON r.run_id = m.run_id WHERE m.message_id = ?`),

    insertDelivery: p(
      `INSERT INTO deliveries (run_id, chunk_index, platform_message_id, owner_id, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    delivered: p(`SELECT run_id, chunk_index, platform_message_id FROM deliveries WHERE run_id = ? ORDER BY chunk_index`),
    hasDelivery: p(`SELECT 1 FROM deliveries WHERE owner_id = ? LIMIT 1`),

    insertHistory: p(
      `INSERT INTO history (id, session_key, role, content, name, tokens, run_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // A turn's user message and answer in one statement: atomic on its own, so no savepoint around two inserts.
    // AUTOINCREMENT gives the rows of one statement consecutive ids, in order.
    insertHistory2: p(
      `INSERT INTO history (id, session_key, role, content, name, tokens, run_id, at)
       VALUES (NULL, ?, ?, ?, ?, ?, ?, ?), (NULL, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // The session key twice (positional: cheaper to bind than a named-parameter object, once per turn).
    history: p(
      `SELECT * FROM history WHERE session_key = ? AND id >= coalesce(
         (SELECT max(id) FROM history WHERE session_key = ? AND role = 'summary'), 0) ORDER BY id`,
    ),
    lastHistoryId: p(`SELECT max(id) AS id FROM history WHERE session_key = ?`),
    historyEntry: p(`SELECT id FROM history WHERE session_key = ? AND id = ?`),
    deleteHistoryThrough: p(`DELETE FROM history WHERE session_key = ? AND id <= ?`),

    allCutoffs: p(`SELECT session_key, platform_message_id, sent_at FROM cutoffs`),
    setCutoff: p(
      `INSERT INTO cutoffs (session_key, platform_message_id, sent_at) VALUES (?, ?, ?)
       ON CONFLICT (session_key) DO UPDATE SET platform_message_id = excluded.platform_message_id, sent_at = excluded.sent_at`,
    ),
    deleteCutoff: p(`DELETE FROM cutoffs WHERE session_key = ?`),

    insertPin: p(`INSERT INTO pins (session_key, text, source, created_at) VALUES (?, ?, ?, ?)`),
    autoPins: p(`SELECT id FROM pins WHERE session_key = ? AND source = 'auto' ORDER BY id`),
    deletePin: p(`DELETE FROM pins WHERE session_key = ? AND id = ?`),
    listPins: p(`SELECT * FROM pins WHERE session_key = ? ORDER BY id`),
    pinCounts: p(`SELECT session_key, count(*) AS n FROM pins GROUP BY session_key`),

    upsertPairing: p(
      `INSERT INTO pairings (channel_id, sender_id, sender_name, code, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (channel_id, sender_id) DO UPDATE SET sender_name = excluded.sender_name, code = excluded.code,
         created_at = excluded.created_at, expires_at = excluded.expires_at`,
    ),
    listPairings: p(`SELECT * FROM pairings WHERE channel_id = ? AND expires_at > ? ORDER BY created_at`),
    pairingByCode: p(`SELECT * FROM pairings WHERE channel_id = ? AND code = ? AND expires_at > ?`),
    deletePairing: p(`DELETE FROM pairings WHERE channel_id = ? AND sender_id = ?`),
    insertPaired: p(`INSERT INTO paired (channel_id, sender_id, approved_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`),
    isPaired: p(`SELECT 1 FROM paired WHERE channel_id = ? AND sender_id = ?`),

    // Pruning walks the tables in insertion order, a chunk at a time (see SqliteStore.prune).
    runChunk: p(`SELECT rowid AS rid, run_id, state, created_at, updated_at FROM runs WHERE rowid > ? ORDER BY rowid LIMIT ?`),
    deleteRun: p(`DELETE FROM runs WHERE run_id = ?`),
    deleteRunLinks: p(`DELETE FROM run_messages WHERE run_id = ?`),
    deleteRunDeliveries: p(`DELETE FROM deliveries WHERE run_id = ?`),
    messageChunk: p(`SELECT seq, accepted_at, outcome, outcome_at FROM messages WHERE seq > ? ORDER BY seq LIMIT ?`),
    deleteMessage: p(`DELETE FROM messages WHERE seq = ?`),
  };
}

/** The prepared statements of one connection. */
export type Statements = ReturnType<typeof prepareStatements>;
