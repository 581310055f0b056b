/**
 * Discord → `InboundMessage`. Pure functions over discord.js structures, shared by live messages, catch-up
 * and slash commands so that a message gets the same `id` (the dedupe key) whichever path saw it.
 *
 * Invariants: `chatId` is the guild text channel (the parent for a thread) or the DM channel; `threadId` is set
 * only for threads; `id` is `<channelId>:<chatId>:<platformMessageId>`.
 */
import { MessageFlags, MessageType, type ChatInputCommandInteraction, type Message } from 'discord.js';
import { parseInbound } from '../envelope-guard.js';
import { MAX_INBOUND_TEXT, parseCommand, type Attachment, type InboundMessage } from '../envelope.js';
import { sessionKeyOf, type GroupScope } from '../session-key.js';

/** What normalization needs to know about this adapter. Internal. */
export interface NormalizeContext {
  channelId: string;
  botId: string;
  botUsername: string;
  groupScope: GroupScope;
  now: () => number;
}

/** Why a message was not normalized (logged at debug). Internal. */
export type SkipReason = 'own-message' | 'bot-author' | 'system-message' | 'empty' | 'invalid';

/** Message types that carry a user's words; everything else (joins, pins, thread starters) is skipped. */
const USER_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set([MessageType.Default, MessageType.Reply]);

/** Normalizes a message, or says why it is skipped. Internal. */
export function normalizeMessage(
  message: Message,
  ctx: NormalizeContext,
  options: { allowBots: boolean },
): { message: InboundMessage } | { skip: SkipReason; detail?: string } {
  if (message.author.id === ctx.botId) return { skip: 'own-message' };
  if (message.author.bot && !options.allowBots) return { skip: 'bot-author' };
  if (message.system || !USER_MESSAGE_TYPES.has(message.type)) return { skip: 'system-message' };

  const inGuild = message.guildId !== null;
  const channel = message.channel;
  const isThread = inGuild && channel.isThread();
  const chatId = isThread && channel.parentId ? channel.parentId : message.channelId;
  const threadId = isThread ? message.channelId : undefined;
  const peer = inGuild ? 'group' : 'dm';

  const botRoleIds = inGuild ? new Set(message.guild?.members.me?.roles.cache.keys() ?? []) : new Set<string>();
  botRoleIds.delete(message.guildId ?? ''); // @everyone is not a mention of the bot
  const mentionsBot = message.mentions.users.has(ctx.botId) || message.mentions.roles.some((r) => botRoleIds.has(r.id));
  const repliedUser = message.mentions.repliedUser;
  const replyToId = message.reference?.messageId;
  const replyToBot = replyToId !== undefined && repliedUser?.id === ctx.botId;

  const text = cleanText(message, ctx, botRoleIds);
  const attachments = attachmentsOf(message);
  if (text === '' && attachments.length === 0) return { skip: 'empty' };

  const senderRoles = inGuild && message.member ? [...message.member.roles.cache.keys()].filter((id) => id !== message.guildId) : undefined;
  const referenced = replyToId === undefined ? undefined : message.channel.messages.cache.get(replyToId);
  const candidate: InboundMessage = {
    id: `${ctx.channelId}:${chatId}:${message.id}`,
    channelId: ctx.channelId,
    platform: 'discord',
    sessionKey: sessionKeyOf({ channelId: ctx.channelId, peer, chatId, senderId: message.author.id, threadId }, ctx.groupScope),
    chatId,
    ...(threadId === undefined ? {} : { threadId }),
    senderId: message.author.id,
    senderName: message.member?.displayName ?? message.author.globalName ?? message.author.username,
    ...(senderRoles === undefined ? {} : { senderRoles }),
    peer,
    text: text.length > MAX_INBOUND_TEXT ? text.slice(0, MAX_INBOUND_TEXT) : text,
    mentionsBot,
    replyToBot,
    ...(replyToId === undefined
      ? {}
      : {
          replyTo: {
            platformMessageId: replyToId,
            ...(repliedUser ? { senderId: repliedUser.id } : {}),
            ...(referenced?.content ? { text: referenced.content } : {}),
          },
        }),
    attachments,
    platformMessageId: message.id,
    sentAt: message.createdTimestamp,
    receivedAt: ctx.now(),
  };
  const command = parseCommand(text, ctx.botUsername);
  if (command) candidate.command = command;
  const parsed = parseInbound(candidate);
  if (!parsed.success) return { skip: 'invalid', detail: parsed.error.message };
  return { message: parsed.data };
}

/**
 * The text the agent should see: the leading bot mention (the addressing, `<@bot> hello`) is removed, other
 * user and role mentions become `@name`. A bare `/stop` stays `/stop`, so `<@bot> /stop` is a command too.
 */
function cleanText(message: Message, ctx: NormalizeContext, botRoleIds: ReadonlySet<string>): string {
  let text = message.content.trim();
  const leading = /^<@[!&]?(\d+)>\s*/.exec(text);
  if (leading && (leading[1] === ctx.botId || botRoleIds.has(leading[1]!))) text = text.slice(leading[0].length);
  text = text.replace(/<@!?(\d+)>/g, (raw, id: string) => {
    if (id === ctx.botId) return `@${ctx.botUsername}`;
    const user = message.mentions.users.get(id);
    if (!user) return raw;
    return `@${message.mentions.members?.get(id)?.displayName ?? user.globalName ?? user.username}`;
  });
  text = text.replace(/<@&(\d+)>/g, (raw, id: string) => {
    const role = message.mentions.roles.get(id);
    return role ? `@${role.name}` : raw;
  });
  return text.trim();
}

function attachmentsOf(message: Message): Attachment[] {
  const out: Attachment[] = [];
  const isVoice = message.flags.has(MessageFlags.IsVoiceMessage);
  for (const a of message.attachments.values()) {
    const mime = a.contentType ?? undefined;
    const kind: Attachment['kind'] = isVoice
      ? 'voice'
      : mime?.startsWith('image/')
        ? mime === 'image/gif'
          ? 'animation'
          : 'photo'
        : mime?.startsWith('video/')
          ? 'video'
          : mime?.startsWith('audio/')
            ? 'audio'
            : 'document';
    out.push({
      kind,
      id: a.id,
      ...(mime === undefined ? {} : { mime }),
      size: a.size,
      name: a.name,
      url: a.url,
      ...(a.description ? { caption: a.description } : {}),
    });
  }
  for (const s of message.stickers.values()) out.push({ kind: 'sticker', id: s.id, name: s.name });
  return out;
}

/**
 * A slash command as an `InboundMessage` with `command` set. The interaction id (a snowflake, so ordered in
 * time like message ids) stands in for the platform message id; `mentionsBot` is true because a slash command
 * is addressed to the bot by construction.
 */
export function normalizeInteraction(interaction: ChatInputCommandInteraction, ctx: NormalizeContext): { message: InboundMessage } | { skip: SkipReason; detail?: string } {
  const inGuild = interaction.guildId !== null;
  const channel = interaction.channel;
  const isThread = inGuild && channel !== null && channel.isThread();
  const chatId = isThread && channel.parentId ? channel.parentId : interaction.channelId;
  const threadId = isThread ? interaction.channelId : undefined;
  const peer = inGuild ? 'group' : 'dm';
  const args = interaction.options.data
    .map((o) => (o.value === undefined ? '' : String(o.value)))
    .filter((v) => v !== '')
    .join(' ');
  const name = interaction.commandName.toLowerCase();
  const member = interaction.member;
  const senderRoles = member === null ? undefined : Array.isArray(member.roles) ? [...member.roles] : [...member.roles.cache.keys()];
  const candidate: InboundMessage = {
    id: `${ctx.channelId}:${chatId}:${interaction.id}`,
    channelId: ctx.channelId,
    platform: 'discord',
    sessionKey: sessionKeyOf({ channelId: ctx.channelId, peer, chatId, senderId: interaction.user.id, threadId }, ctx.groupScope),
    chatId,
    ...(threadId === undefined ? {} : { threadId }),
    senderId: interaction.user.id,
    senderName: (member && 'displayName' in member ? member.displayName : undefined) ?? interaction.user.globalName ?? interaction.user.username,
    ...(senderRoles === undefined ? {} : { senderRoles: senderRoles.filter((id) => id !== interaction.guildId) }),
    peer,
    text: args === '' ? `/${name}` : `/${name} ${args}`,
    mentionsBot: true,
    replyToBot: false,
    attachments: [],
    platformMessageId: interaction.id,
    sentAt: interaction.createdTimestamp,
    receivedAt: ctx.now(),
    command: { name, args },
  };
  const parsed = parseInbound(candidate);
  if (!parsed.success) return { skip: 'invalid', detail: parsed.error.message };
  return { message: parsed.data };
}
