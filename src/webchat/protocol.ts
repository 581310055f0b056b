/**
 * The webchat wire protocol: JSON text frames over one WebSocket per browser tab. Client frames are validated
 * with zod (a bad frame gets an `error` frame, never a crash); server frames are a typed union the page
 * switches on. Documented for third-party clients in docs/HTTP.md.
 *
 * Client → server
 * - `{type:'hello', clientId, name?}` first: binds the socket to the browser's session (`clientId` is a random
 *   id the page keeps in localStorage, so a reload or a second tab continues the same conversation).
 * - `{type:'message', text, clientMessageId}`: a chat message. `clientMessageId` makes a resend idempotent.
 * - `{type:'command', name, args?, clientMessageId?}`: a bot command (the stop button sends `name:'stop'`).
 *
 * Server → client: `ready`, `history`, `ack`, `reply:start`, `reply:delta`, `reply:done`, `reply:cancel`, `notice`, `error`.
 */
import { z } from 'zod';
import { MAX_INBOUND_TEXT } from '../channels/index.js';

/** Browser client id: random, URL-safe, 8–64 characters. */
export const ClientIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'expected 8-64 characters of A-Z a-z 0-9 _ -');
/** Client message id: 1–64 URL-safe characters (the page sends a time-ordered decimal). */
export const ClientMessageIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ -');

/** Frames a client may send. */
export const ClientFrameSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('hello'), clientId: ClientIdSchema, name: z.string().trim().min(1).max(64).optional() }),
  z.strictObject({
    type: z.literal('message'),
    text: z.string().max(MAX_INBOUND_TEXT),
    clientMessageId: ClientMessageIdSchema,
  }),
  z.strictObject({
    type: z.literal('command'),
    name: z.string().regex(/^[a-z0-9_]{1,32}$/, 'expected a lower-case command name'),
    args: z.string().max(1_000).optional(),
    clientMessageId: ClientMessageIdSchema.optional(),
  }),
]);
/** A frame a client may send. */
export type ClientFrame = z.infer<typeof ClientFrameSchema>;

/** One line of the conversation shown after a reload. `runId` lets the page match a later `reply:done`. */
export interface HistoryLine {
  role: 'user' | 'assistant';
  text: string;
  at: number;
  runId?: string | undefined;
}

/** Frames the server sends. */
export type ServerFrame =
  | { type: 'ready'; clientId: string; sessionKey: string; channelId: string }
  /** What ingress decided about a message or command (`accepted`, `duplicate`, `command`, `denied`, `ignored`). */
  | { type: 'ack'; clientMessageId: string; messageId: string; status: string }
  | { type: 'reply:start'; runId: string }
  | { type: 'reply:delta'; runId: string; text: string }
  /** The final text of a reply (replaces the streamed preview). */
  | { type: 'reply:done'; runId: string; text: string }
  /** The run ended without an answer: stop showing the preview as in progress. */
  | { type: 'reply:cancel'; runId: string; reason: string }
  /** The conversation so far (after `ready`, when the channel has a history source), oldest first. */
  | { type: 'history'; entries: HistoryLine[] }
  | { type: 'notice'; text: string }
  | { type: 'error'; code: string; message: string; clientMessageId?: string | undefined };
