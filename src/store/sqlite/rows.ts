/**
 * Row shapes of the SQLite tables and their conversion to the contract's records. Internal to `src/store`.
 * NULL columns become absent properties, so a record read back equals the record written.
 */
import type { InboundMessage } from '../../channels/index.js';
import type { Outcome, OutcomeReason } from '../../scheduler/index.js';
import type { HistoryEntry, HistoryRole, PairingRequest, Pin, RunRecord, RunState, StoredOutcome } from '../store.js';

export interface MessageRow {
  seq: number;
  id: string;
  envelope: string;
  outcome: string | null;
  owner_id: string | null;
  run_id: string | null;
  reason: string | null;
  error: string | null;
  outcome_at: number | null;
}

export interface RunRow {
  run_id: string;
  session_key: string;
  message_ids: string;
  state: string;
  attempt: number;
  created_at: number;
  updated_at: number;
  error: string | null;
}

export interface HistoryRow {
  id: number;
  session_key: string;
  role: string;
  content: string;
  name: string | null;
  tokens: number | null;
  run_id: string | null;
  at: number;
}

export interface PinRow {
  id: number;
  session_key: string;
  text: string;
  source: string;
  created_at: number;
}

export interface PairingRow {
  channel_id: string;
  sender_id: string;
  sender_name: string;
  code: string;
  created_at: number;
  expires_at: number;
}

export function outcomeOf(row: MessageRow): StoredOutcome | undefined {
  if (row.outcome === null) return undefined;
  const o: StoredOutcome = { messageId: row.id, outcome: row.outcome as Outcome, at: row.outcome_at ?? 0 };
  if (row.owner_id !== null) o.ownerId = row.owner_id;
  if (row.run_id !== null) o.runId = row.run_id;
  if (row.reason !== null) o.reason = row.reason as OutcomeReason;
  if (row.error !== null) o.error = row.error;
  return o;
}

export function envelopeOf(row: MessageRow): InboundMessage {
  return JSON.parse(row.envelope) as InboundMessage;
}

export function runOf(row: RunRow): RunRecord {
  const run: RunRecord = {
    runId: row.run_id,
    sessionKey: row.session_key,
    messageIds: JSON.parse(row.message_ids) as string[],
    state: row.state as RunState,
    attempt: row.attempt,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.error !== null) run.error = row.error;
  return run;
}

export function historyOf(row: HistoryRow): HistoryEntry {
  const e: HistoryEntry = { id: row.id, sessionKey: row.session_key, role: row.role as HistoryRole, content: row.content, at: row.at };
  if (row.name !== null) e.name = row.name;
  if (row.tokens !== null) e.tokens = row.tokens;
  if (row.run_id !== null) e.runId = row.run_id;
  return e;
}

export function pinOf(row: PinRow): Pin {
  return { id: row.id, sessionKey: row.session_key, text: row.text, source: row.source as Pin['source'], createdAt: row.created_at };
}

export function pairingOf(row: PairingRow): PairingRequest {
  return {
    channelId: row.channel_id,
    senderId: row.sender_id,
    senderName: row.sender_name,
    code: row.code,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}
