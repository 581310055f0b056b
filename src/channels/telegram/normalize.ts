/**
 * Turns a Telegram update into the gateway's `InboundMessage`, or says why it is not one. Pure (no I/O), so
 * every chat shape is unit-testable without a server.
 *
 * Policy for update kinds (documented in NOTES and tested):
 * - `message` in a private chat, group, supergroup or forum topic: normalized.
 * - `edited_message`: ignored. The original was already accepted (and may be answered); answering the edit
 *   too would give two replies to one question. Users who want a new answer send a new message.
 * - `channel_post`, `edited_channel_post`, callback queries, inline queries, membership changes, polls,
 *   reactions, and anything newer than this code: ignored (debug log).
 * - Messages from other bots: ignored (two bots answering each other loop forever).
 * - Service messages (member joined, pinned, topic created) and messages with neither text nor media: ignored.
 * - An update whose shape is wrong (no chat, no sender): `malformed`; the caller logs it and moves on.
 */
import type { Message, MessageEntity, Update } from 'grammy/types';
import { parseInbound } from '../envelope-guard.js';
import { parseCommand, type Attachment, type InboundMessage } from '../envelope.js';
import { sessionKeyOf, type GroupScope } from '../session-key.js';

/** What the normalizer needs to know about the channel and the bot. */
export interface NormalizeContext {
  channelId: string;
  botId: number;
  botUsername: string;
  groupScope: GroupScope;
  /** Receive time (ms). */
  now: number;
}

/** The result of normalizing one update. */
export type Normalized =
  | { kind: 'message'; message: InboundMessage }
  | { kind: 'ignored'; reason: string }
  | { kind: 'malformed'; reason: string };

/** Update kinds the gateway acts on. */
export const HANDLED_UPDATES = ['message'] as const;

/** Normalizes one update. Never throws: shape problems come back as `malformed`. */
export function normalizeUpdate(update: Update, ctx: NormalizeContext): Normalized {
  if (typeof update !== 'object' || update === null || typeof update.update_id !== 'number') {
    return { kind: 'malformed', reason: 'update without update_id' };
  }
  const msg = update.message;
  if (msg === undefined) {
    const kind = Object.keys(update).find((k) => k !== 'update_id') ?? 'empty';
    return { kind: 'ignored', reason: `update kind ${kind} is not handled` };
  }
  try {
    return normalizeMessage(msg, ctx);
  } catch (err) {
    return { kind: 'malformed', reason: err instanceof Error ? err.message : String(err) };
  }
}

function normalizeMessage(msg: Message, ctx: NormalizeContext): Normalized {
  if (typeof msg !== 'object' || msg === null) return { kind: 'malformed', reason: 'message is not an object' };
  const chat = msg.chat as Message['chat'] | undefined;
  if (chat === undefined || typeof chat.id !== 'number' || typeof chat.type !== 'string') {
    return { kind: 'malformed', reason: 'message without chat' };
  }
  if (typeof msg.message_id !== 'number') return { kind: 'malformed', reason: 'message without message_id' };
  if (typeof msg.date !== 'number') return { kind: 'malformed', reason: 'message without date' };
  if (chat.type === 'channel') return { kind: 'ignored', reason: 'channel messages are not handled' };
  const from = msg.from;
  const senderChat = msg.sender_chat;
  if (from === undefined && senderChat === undefined) return { kind: 'malformed', reason: 'message without sender' };
  if (from?.is_bot === true && senderChat === undefined) return { kind: 'ignored', reason: 'message from a bot' };

  const attachments = attachmentsOf(msg);
  const text = msg.text ?? msg.caption ?? '';
  if (text.trim().length === 0 && attachments.length === 0) {
    return { kind: 'ignored', reason: 'service message or message without text or media' };
  }

  const peer = chat.type === 'private' ? 'dm' : 'group';
  const chatId = String(chat.id);
  // A forum topic is a thread; in a plain supergroup `message_thread_id` only marks a reply chain.
  const threadId = msg.is_topic_message === true && msg.message_thread_id !== undefined ? String(msg.message_thread_id) : undefined;
  // Anonymous admins and linked channels post as a chat: the chat is the sender.
  const senderId = senderChat !== undefined ? `chat${senderChat.id}` : String(from!.id);
  const senderName =
    senderChat !== undefined
      ? ('title' in senderChat && senderChat.title) || String(senderChat.id)
      : [from!.first_name, from!.last_name].filter(Boolean).join(' ') || from!.username || senderId;

  const entities: MessageEntity[] = msg.entities ?? msg.caption_entities ?? [];
  const mentionsBot = mentions(text, entities, ctx);
  const reply = msg.reply_to_message;
  // Inside a forum topic every message "replies" to the topic's creation message: that is not a reply.
  const isRealReply = reply !== undefined && reply.forum_topic_created === undefined;
  const replyToBot = isRealReply && reply.from?.id === ctx.botId;
  const command = msg.text !== undefined ? parseCommand(msg.text, ctx.botUsername) : undefined;
  // `/cmd@OtherBot` in a group is meant for another bot.
  const commandForOtherBot = msg.text !== undefined && msg.text.startsWith('/') && command === undefined && /^\/\w+@\w+/.test(msg.text);

  const candidate: InboundMessage = {
    id: `${ctx.channelId}:${chatId}:${msg.message_id}`,
    channelId: ctx.channelId,
    platform: 'telegram',
    sessionKey: sessionKeyOf({ channelId: ctx.channelId, peer, chatId, senderId, threadId }, ctx.groupScope),
    chatId,
    ...(threadId !== undefined ? { threadId } : {}),
    senderId,
    senderName,
    peer,
    text,
    mentionsBot: mentionsBot || (command !== undefined && /^\/\w+@\w+/.test(msg.text ?? '')),
    replyToBot,
    ...(isRealReply
      ? {
          replyTo: {
            platformMessageId: String(reply.message_id),
            ...(reply.from !== undefined ? { senderId: String(reply.from.id) } : {}),
            ...(reply.text ?? reply.caption ? { text: reply.text ?? reply.caption } : {}),
          },
        }
      : {}),
    attachments,
    platformMessageId: String(msg.message_id),
    sentAt: msg.date * 1000,
    receivedAt: ctx.now,
    ...(command !== undefined ? { command } : {}),
  };
  if (commandForOtherBot) return { kind: 'ignored', reason: 'command addressed to another bot' };
  const parsed = parseInbound(candidate);
  if (!parsed.success) return { kind: 'malformed', reason: parsed.issues };
  return { kind: 'message', message: parsed.data };
}

/** Whether the text mentions the bot: `@username` entity, a text mention of its user id, or a bare `@username`. */
function mentions(text: string, entities: MessageEntity[], ctx: NormalizeContext): boolean {
  const handle = `@${ctx.botUsername}`.toLowerCase();
  for (const e of entities) {
    if (e.type === 'mention' && text.slice(e.offset, e.offset + e.length).toLowerCase() === handle) return true;
    if (e.type === 'text_mention' && e.user.id === ctx.botId) return true;
  }
  if (entities.length > 0) return false;
  // Without entities (some clients, tests): a word-bounded @username. Cheap test first: no '@', no mention.
  if (!text.includes('@')) return false;
  return bareMentionRe(handle).test(text);
}

/** Bare-mention patterns by bot handle (a gateway runs a few bots: each pattern built once, not per message). */
const bareMentions = new Map<string, RegExp>();

function bareMentionRe(handle: string): RegExp {
  let re = bareMentions.get(handle);
  if (re === undefined) {
    re = new RegExp(`(^|[^\\w@])${escapeRegExp(handle)}(?![\\w])`, 'i');
    if (bareMentions.size < 64) bareMentions.set(handle, re);
  }
  return re;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Media of a message as attachment metadata (the gateway never downloads on ingress). */
function attachmentsOf(msg: Message): Attachment[] {
  const out: Attachment[] = [];
  const caption = msg.caption;
  const add = (a: Attachment): void => {
    out.push(out.length === 0 && caption !== undefined ? { ...a, caption } : a);
  };
  if (msg.photo !== undefined && msg.photo.length > 0) {
    const largest = msg.photo[msg.photo.length - 1]!;
    add({ kind: 'photo', id: largest.file_id, ...(largest.file_size !== undefined ? { size: largest.file_size } : {}), mime: 'image/jpeg' });
  }
  if (msg.animation !== undefined) {
    add(fileMeta('animation', msg.animation));
  } else if (msg.document !== undefined) {
    add(fileMeta('document', msg.document));
  }
  if (msg.video !== undefined) add(fileMeta('video', msg.video));
  if (msg.video_note !== undefined) add(fileMeta('video', msg.video_note));
  if (msg.audio !== undefined) add(fileMeta('audio', msg.audio));
  if (msg.voice !== undefined) add(fileMeta('voice', msg.voice));
  if (msg.sticker !== undefined) add({ kind: 'sticker', id: msg.sticker.file_id, ...(msg.sticker.emoji ? { name: msg.sticker.emoji } : {}) });
  return out;
}

function fileMeta(
  kind: Attachment['kind'],
  f: { file_id: string; file_size?: number; mime_type?: string; file_name?: string },
): Attachment {
  return {
    kind,
    id: f.file_id,
    ...(f.mime_type !== undefined ? { mime: f.mime_type } : {}),
    ...(f.file_size !== undefined ? { size: f.file_size } : {}),
    ...(f.file_name !== undefined ? { name: f.file_name } : {}),
  };
}
