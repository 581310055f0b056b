import { describe, expect, it } from 'vitest';
import { openReplyVia, replyTargetOf } from '../../src/agent/index.js';
import type { ChannelAdapter, OpenReplyOptions, ReplyTarget } from '../../src/channels/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';
import { message, RecordingReply, turnOf } from './helpers.js';

describe('reply targets', () => {
  it('replies in the owner chat and thread; threads group answers under the owner message', () => {
    const g = message({ peer: 'group', chatId: 'g9', threadId: 't3', platformMessageId: '77' });
    expect(replyTargetOf(turnOf([g, message({ peer: 'group', chatId: 'g9' })]))).toEqual({
      channelId: 't',
      sessionKey: g.sessionKey,
      chatId: 'g9',
      threadId: 't3',
      peer: 'group',
      replyToPlatformMessageId: '77',
    });
    expect(replyTargetOf(turnOf([message()])).replyToPlatformMessageId).toBeUndefined();
  });

  it('opens the reply on the adapter of the turn channel with the turn id as run id', () => {
    const opened: Array<[ReplyTarget, OpenReplyOptions]> = [];
    const adapter = {
      id: 't',
      openReply: (target: ReplyTarget, options: OpenReplyOptions) => {
        opened.push([target, options]);
        return new RecordingReply(options.signal);
      },
    } as unknown as ChannelAdapter;
    const open = openReplyVia((id) => (id === 't' ? adapter : undefined));
    const turn = turnOf([message()]);
    const signal = new AbortController().signal;
    expect(open(turn, signal)).toBeInstanceOf(RecordingReply);
    expect(opened[0]![1]).toEqual({ runId: turn.id, signal });
    let err: unknown;
    try {
      open(turnOf([message({ channelId: 'gone' })]), signal);
    } catch (e) {
      err = e;
    }
    expect(isSwitchyardError(err, 'E_INTERNAL')).toBe(true);
  });
});
