/**
 * Glue between turns and channel adapters, for the composition root: where a turn's reply goes, and an
 * `openReply` for `createAgent` that finds the turn's adapter by channel id.
 */
import type { ChannelAdapter, InboundMessage, ReplyStream, ReplyTarget } from '../channels/index.js';
import { SwitchyardError } from '../errors/index.js';
import type { Turn } from '../scheduler/index.js';

/**
 * The reply target of a turn: the owner's chat and thread. In groups the answer replies to the owner message
 * (so it is threaded under the question); in DMs it is a plain message.
 */
export function replyTargetOf(turn: Turn<InboundMessage>): ReplyTarget {
  const owner = turn.messages[0];
  if (owner === undefined) throw new SwitchyardError('E_INTERNAL', `Turn ${turn.id} has no messages`, { context: { turnId: turn.id } });
  return {
    channelId: owner.channelId,
    sessionKey: turn.sessionKey,
    chatId: owner.chatId,
    threadId: owner.threadId,
    peer: owner.peer,
    replyToPlatformMessageId: owner.peer === 'group' ? owner.platformMessageId : undefined,
  };
}

/**
 * An `openReply` for `createAgent` over the gateway's adapters. The run id given to the adapter (for its
 * delivery records) is the turn id, `<owner message id>#<attempt>`. Throws E_INTERNAL when the turn's channel
 * has no running adapter (the turn fails with that reason instead of answering into the void).
 */
export function openReplyVia(adapterOf: (channelId: string) => ChannelAdapter | undefined): (turn: Turn<InboundMessage>, signal: AbortSignal) => ReplyStream {
  return (turn, signal) => {
    const target = replyTargetOf(turn);
    const adapter = adapterOf(target.channelId);
    if (adapter === undefined) {
      throw new SwitchyardError('E_INTERNAL', `No channel adapter is running for channel ${target.channelId}`, { context: { channelId: target.channelId } });
    }
    return adapter.openReply(target, { runId: turn.id, signal });
  };
}
