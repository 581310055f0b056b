/**
 * Session keys: which conversation a message belongs to. One function derives them, so every area agrees.
 *
 * - DM: `<channelId>:dm:<senderId>`
 * - group / channel: `<channelId>:group:<chatId>`, with `:thread:<threadId>` for a forum topic or thread
 * - group scope `sender` (opt-in): the group key plus `:sender:<senderId>`, one session per person per chat
 */

/** How group messages are grouped into sessions. Default `chat`. */
export type GroupScope = 'chat' | 'sender';

/** The facts a session key is derived from. */
export interface SessionKeyParts {
  channelId: string;
  peer: 'dm' | 'group';
  chatId: string;
  senderId: string;
  threadId?: string | undefined;
}

/** Derives the session key of a message. */
export function sessionKeyOf(parts: SessionKeyParts, groupScope: GroupScope = 'chat'): string {
  if (parts.peer === 'dm') return `${parts.channelId}:dm:${parts.senderId}`;
  let key = `${parts.channelId}:group:${parts.chatId}`;
  if (parts.threadId !== undefined) key += `:thread:${parts.threadId}`;
  if (groupScope === 'sender') key += `:sender:${parts.senderId}`;
  return key;
}

/** The channel id a session key belongs to (everything before the first `:dm:` / `:group:`). */
export function channelIdOfSessionKey(key: string): string {
  const m = /^(.*?):(?:dm|group):/.exec(key);
  return m ? m[1]! : key;
}
