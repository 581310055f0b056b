import type { InboundMessage } from '../../src/channels/index.js';
import { sessionKeyOf } from '../../src/channels/index.js';

let seq = 0;
/** A well-formed inbound message; override what the test is about. */
export function msg(over: Partial<InboundMessage> = {}): InboundMessage {
  const n = ++seq;
  const base = {
    channelId: 'tg',
    platform: 'telegram' as const,
    chatId: over.peer === 'group' ? '-100' : (over.senderId ?? '42'),
    senderId: '42',
    senderName: 'Ada',
    peer: 'dm' as const,
    text: 'hello',
    mentionsBot: false,
    replyToBot: false,
    attachments: [],
    platformMessageId: String(n),
    sentAt: 1000 + n,
    receivedAt: 1000 + n,
    ...over,
  };
  return {
    id: `${base.channelId}:${base.chatId}:${base.platformMessageId}`,
    sessionKey: sessionKeyOf(base),
    ...base,
  };
}
