/**
 * Wire-level pieces of the fake Bot API (internal to `src/fakes`): the shapes it stores and records, scripted
 * faults, Telegram's error bodies, the text check (length after entity parsing) and request parsing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseEntities } from './telegram-entities.js';

/** A Telegram chat as the fake knows it. */
export interface FakeChat {
  id: number;
  type: 'private' | 'group' | 'supergroup' | 'channel';
  title?: string;
  username?: string;
  first_name?: string;
  is_forum?: boolean;
}

/** A Telegram user as the fake knows it. */
export interface FakeUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  username?: string;
  last_name?: string;
}

/** A message the bot sent, as the chat shows it now (after edits). */
export interface FakeSentMessage {
  message_id: number;
  chat_id: number;
  message_thread_id?: number | undefined;
  text: string;
  parse_mode?: string | undefined;
  reply_to_message_id?: number | undefined;
  date: number;
  edits: number;
  deleted: boolean;
}

/** One recorded API call. */
export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  /** `Date.now()` when the request arrived. */
  at: number;
  /** `performance.now()` when the request arrived (sub-millisecond, for latency figures). */
  perfAt?: number;
  /** HTTP status answered (0 when the connection was dropped without an answer). */
  status: number;
  /** The token in the URL. */
  token: string;
}

/** A scripted failure for the next call(s) of a method. */
export type Fault =
  | { kind: 'error'; status: number; description?: string; retryAfter?: number }
  /** Drops the connection before doing anything. */
  | { kind: 'drop' }
  /** Performs the call (the message exists) and then drops the connection: the client never learns of it. */
  | { kind: 'acceptThenDrop' }
  /** Performs the call after `ms` (a slow server): the request is out, the answer comes late. */
  | { kind: 'delay'; ms: number };

export interface ScriptedFault {
  fault: Fault;
  remaining: number;
  when?: ((params: Record<string, unknown>) => boolean) | undefined;
}

export interface PendingPoll {
  res: ServerResponse;
  timer: ReturnType<typeof setTimeout>;
  offset: number;
  limit: number;
  finish: (status: number, body: unknown) => void;
}

/** Options of `FakeTelegramApi.start`. */
export interface FakeTelegramOptions {
  /** Token the fake accepts. Default `123456:TEST`. Other tokens get 401 Unauthorized. */
  token?: string;
  /** Username of the bot. Default `switchyard_test_bot`. */
  botUsername?: string;
  /** Bot user id. Default 999000. */
  botId?: number;
  /** Cap on a long poll's `timeout`, in ms, so tests never hang. Default 2000. */
  maxPollMs?: number;
  /** Port on 127.0.0.1. Default 0 (any free port). */
  port?: number;
}

/** Telegram's text limit, counted after entity parsing. */
export const TELEGRAM_TEXT_LIMIT = 4096;

/** Validates message text the way Telegram does (after entity parsing). */
export function checkText(text: unknown, parseMode: unknown): { visible: string } | { error: string } {
  if (typeof text !== 'string' || text.length === 0) return { error: 'Bad Request: message text is empty' };
  const parsed = parseEntities(text, parseMode);
  if (!parsed.ok) return { error: parsed.description };
  if (parsed.visible.trim().length === 0) return { error: 'Bad Request: message text is empty' };
  if (parsed.visible.length > TELEGRAM_TEXT_LIMIT) return { error: 'Bad Request: message is too long' };
  return { visible: parsed.visible };
}

/** 409 body: another getUpdates consumer. */
export function conflictPoll(): unknown {
  return {
    ok: false,
    error_code: 409,
    description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
  };
}

/** 409 body: getUpdates while a webhook is set. */
export function conflictWebhook(): unknown {
  return {
    ok: false,
    error_code: 409,
    description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
  };
}

/** Telegram-like description of an error status. */
export function defaultDescription(status: number, retryAfter?: number): string {
  if (status === 429) return `Too Many Requests: retry after ${retryAfter ?? 1}`;
  if (status === 409) return 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running';
  if (status === 401) return 'Unauthorized';
  if (status === 400) return 'Bad Request';
  if (status >= 500) return 'Internal Server Error';
  return 'Error';
}

/** Reads a Bot API request's parameters (JSON, form or query). */
export async function readParams(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  const type = req.headers['content-type'] ?? '';
  const fromQuery = Object.fromEntries(new URL(req.url ?? '/', 'http://x').searchParams);
  if (raw.length === 0) return fromQuery;
  if (type.includes('application/json')) return { ...fromQuery, ...(JSON.parse(raw) as Record<string, unknown>) };
  if (type.includes('application/x-www-form-urlencoded')) return { ...fromQuery, ...Object.fromEntries(new URLSearchParams(raw)) };
  // multipart (file uploads) is not modelled: record the raw size only.
  return { ...fromQuery, _rawBytes: raw.length };
}
