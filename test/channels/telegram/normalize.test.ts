import { describe, expect, it } from 'vitest';
import type { Update } from 'grammy/types';
import { normalizeUpdate, type NormalizeContext } from '../../../src/channels/telegram/index.js';

const ctx: NormalizeContext = { channelId: 'tg', botId: 42, botUsername: 'my_bot', groupScope: 'chat', now: 1_700_000_000_123 };
const user = { id: 7, is_bot: false, first_name: 'Ann', last_name: 'Lee', username: 'ann' };
const dm = { id: 7, type: 'private' as const, first_name: 'Ann' };
const grp = { id: -100, type: 'supergroup' as const, title: 'G' };

function upd(message: Record<string, unknown>, id = 1): Update {
  return { update_id: id, message: { message_id: 10, date: 1_700_000_000, chat: dm, from: user, ...message } } as unknown as Update;
}

function ok(u: Update, c: NormalizeContext = ctx) {
  const r = normalizeUpdate(u, c);
  if (r.kind !== 'message') throw new Error(`expected a message, got ${r.kind}: ${r.reason}`);
  return r.message;
}

describe('normalizeUpdate', () => {
  it('normalizes a private text message', () => {
    expect(ok(upd({ text: 'hi' }))).toEqual({
      id: 'tg:7:10',
      channelId: 'tg',
      platform: 'telegram',
      sessionKey: 'tg:dm:7',
      chatId: '7',
      senderId: '7',
      senderName: 'Ann Lee',
      peer: 'dm',
      text: 'hi',
      mentionsBot: false,
      replyToBot: false,
      attachments: [],
      platformMessageId: '10',
      sentAt: 1_700_000_000_000,
      receivedAt: ctx.now,
    });
  });

  it('detects mentions by entity, by text mention, and by bare @username; not a different bot', () => {
    expect(ok(upd({ chat: grp, text: 'hey @My_Bot!', entities: [{ type: 'mention', offset: 4, length: 7 }] })).mentionsBot).toBe(true);
    expect(ok(upd({ chat: grp, text: 'hey bot', entities: [{ type: 'text_mention', offset: 4, length: 3, user: { id: 42, is_bot: true, first_name: 'B' } }] })).mentionsBot).toBe(true);
    expect(ok(upd({ chat: grp, text: 'ping @my_bot' })).mentionsBot).toBe(true);
    expect(ok(upd({ chat: grp, text: 'ping @my_bot_two' })).mentionsBot).toBe(false);
    expect(ok(upd({ chat: grp, text: 'mail me@my_bot.com' })).mentionsBot).toBe(false);
    // Two bots in one gateway: each text is matched against its own bot's handle (patterns are cached per bot).
    const other: NormalizeContext = { ...ctx, botId: 43, botUsername: 'other_bot' };
    expect(ok(upd({ chat: grp, text: 'ping @Other_Bot' }), other).mentionsBot).toBe(true);
    expect(ok(upd({ chat: grp, text: 'ping @my_bot' }), other).mentionsBot).toBe(false);
    expect(ok(upd({ chat: grp, text: 'ping @other_bot' })).mentionsBot).toBe(false);
    expect(ok(upd({ chat: grp, text: 'ping @MY_BOT' })).mentionsBot).toBe(true);
  });

  it('keys forum topics by thread, but not reply chains in plain supergroups', () => {
    const topic = ok(upd({ chat: { ...grp, is_forum: true }, text: 'x', message_thread_id: 5, is_topic_message: true }));
    expect(topic.threadId).toBe('5');
    expect(topic.sessionKey).toBe('tg:group:-100:thread:5');
    const chain = ok(upd({ chat: grp, text: 'x', message_thread_id: 3 }));
    expect(chain.threadId).toBeUndefined();
    expect(chain.sessionKey).toBe('tg:group:-100');
  });

  it('uses a per-sender key when the group scope is sender', () => {
    expect(ok(upd({ chat: grp, text: 'x' }), { ...ctx, groupScope: 'sender' }).sessionKey).toBe('tg:group:-100:sender:7');
  });

  it('marks replies to the bot, but not the implicit reply to a forum topic creation', () => {
    const toBot = ok(upd({ chat: grp, text: 'and?', reply_to_message: { message_id: 3, date: 1, chat: grp, from: { id: 42, is_bot: true, first_name: 'B' }, text: 'answer' } }));
    expect(toBot.replyToBot).toBe(true);
    expect(toBot.replyTo).toEqual({ platformMessageId: '3', senderId: '42', text: 'answer' });
    const inTopic = ok(
      upd({
        chat: { ...grp, is_forum: true },
        text: 'x',
        message_thread_id: 3,
        is_topic_message: true,
        reply_to_message: { message_id: 3, date: 1, chat: grp, from: { id: 42, is_bot: true, first_name: 'B' }, forum_topic_created: { name: 't', icon_color: 1 } },
      }),
    );
    expect(inTopic.replyToBot).toBe(false);
    expect(inTopic.replyTo).toBeUndefined();
  });

  it('turns media into attachment metadata with the caption as text', () => {
    const m = ok(
      upd({
        caption: 'look',
        photo: [
          { file_id: 'small', file_unique_id: 's', width: 90, height: 90, file_size: 100 },
          { file_id: 'big', file_unique_id: 'b', width: 900, height: 900, file_size: 9000 },
        ],
      }),
    );
    expect(m.text).toBe('look');
    expect(m.attachments).toEqual([{ kind: 'photo', id: 'big', size: 9000, mime: 'image/jpeg', caption: 'look' }]);
    const doc = ok(upd({ document: { file_id: 'd1', file_unique_id: 'u', mime_type: 'application/pdf', file_name: 'a.pdf', file_size: 5 } }));
    expect(doc.text).toBe('');
    expect(doc.attachments).toEqual([{ kind: 'document', id: 'd1', mime: 'application/pdf', size: 5, name: 'a.pdf' }]);
    const voice = ok(upd({ voice: { file_id: 'v', file_unique_id: 'u', duration: 2, mime_type: 'audio/ogg' } }));
    expect(voice.attachments[0]!.kind).toBe('voice');
  });

  it('parses commands for this bot and ignores commands for another bot', () => {
    expect(ok(upd({ text: '/stop' })).command).toEqual({ name: 'stop', args: '' });
    const addressed = ok(upd({ chat: grp, text: '/status@my_bot' }));
    expect(addressed.command).toEqual({ name: 'status', args: '' });
    expect(addressed.mentionsBot).toBe(true);
    expect(normalizeUpdate(upd({ chat: grp, text: '/stop@other_bot' }), ctx)).toMatchObject({ kind: 'ignored' });
    // A command in a caption is not a command.
    expect(ok(upd({ caption: '/stop', photo: [{ file_id: 'p', file_unique_id: 'p', width: 1, height: 1 }] })).command).toBeUndefined();
  });

  it('attributes anonymous admin posts to the sender chat', () => {
    const m = ok(upd({ chat: grp, text: 'x', from: { id: 1087968824, is_bot: true, first_name: 'Group' }, sender_chat: { id: -100, type: 'supergroup', title: 'G' } }));
    expect(m.senderId).toBe('chat-100');
    expect(m.senderName).toBe('G');
  });

  it('ignores edits, other update kinds, bots, channels and service messages; flags malformed updates', () => {
    const edited = { update_id: 2, edited_message: { message_id: 1, date: 1, edit_date: 2, chat: dm, from: user, text: 'x' } } as unknown as Update;
    expect(normalizeUpdate(edited, ctx)).toEqual({ kind: 'ignored', reason: 'update kind edited_message is not handled' });
    expect(normalizeUpdate({ update_id: 3, callback_query: {} } as unknown as Update, ctx)).toMatchObject({ kind: 'ignored' });
    expect(normalizeUpdate(upd({ text: 'x', from: { id: 9, is_bot: true, first_name: 'Other' } }), ctx)).toMatchObject({ kind: 'ignored' });
    expect(normalizeUpdate(upd({ chat: { id: -5, type: 'channel', title: 'C' }, text: 'x' }), ctx)).toMatchObject({ kind: 'ignored' });
    expect(normalizeUpdate(upd({ chat: grp, new_chat_members: [user] }), ctx)).toMatchObject({ kind: 'ignored' });
    expect(normalizeUpdate({ update_id: 4, message: { message_id: 1, date: 1, text: 'no chat' } } as unknown as Update, ctx)).toMatchObject({ kind: 'malformed' });
    expect(normalizeUpdate({ update_id: 5, message: { message_id: 1, date: 1, chat: dm, text: 'no sender' } } as unknown as Update, ctx)).toMatchObject({ kind: 'malformed' });
    expect(normalizeUpdate({ message: {} } as unknown as Update, ctx)).toMatchObject({ kind: 'malformed' });
    expect(normalizeUpdate(upd({ text: 'x'.repeat(20_000) }), ctx)).toMatchObject({ kind: 'malformed' });
  });
});
