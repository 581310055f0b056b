/**
 * Folds accepted envelopes into "recent chats": one entry per chat and thread with its newest platform
 * message id. Shared by both stores so they agree. Internal to src/store.
 */
import { compareDecimal } from '../scheduler/index.js';
import type { RecentChat } from './store.js';

/** The facts of an envelope that matter here. */
export interface ChatFact {
  chatId: string;
  threadId?: string | undefined;
  platformMessageId: string;
}

/** Newest platform message id per (chat, thread); numeric ids compare as numbers, others as strings. */
export function foldRecentChats(facts: Iterable<ChatFact>): RecentChat[] {
  const byChat = new Map<string, RecentChat>();
  for (const f of facts) {
    const key = `${f.chatId}\u0000${f.threadId ?? ''}`;
    const seen = byChat.get(key);
    if (seen === undefined || newer(f.platformMessageId, seen.lastPlatformMessageId)) {
      byChat.set(key, { chatId: f.chatId, threadId: f.threadId, lastPlatformMessageId: f.platformMessageId });
    }
  }
  return [...byChat.values()];
}

function newer(a: string, b: string): boolean {
  const numeric = /^\d+$/;
  return numeric.test(a) && numeric.test(b) ? compareDecimal(a, b) > 0 : a > b;
}
