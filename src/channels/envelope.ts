/**
 * The one normalized shape of an inbound chat message, whatever platform it came from. Channel adapters
 * produce it; ingress, store, scheduler and agent consume it. Defined once, as a zod schema, so a malformed
 * envelope is caught at the adapter boundary with a clear error instead of deep inside a run.
 */
import { z } from 'zod';

/** Largest text the gateway accepts in one message (characters). Telegram allows 4096, Discord 4000 (Nitro). */
export const MAX_INBOUND_TEXT = 16_384;

/** Platforms Switchyard speaks. */
export const PLATFORMS = ['telegram', 'discord', 'webchat'] as const;
/** A platform Switchyard speaks. */
export type Platform = (typeof PLATFORMS)[number];

/** Attachment kinds, normalized across platforms. */
export const ATTACHMENT_KINDS = ['photo', 'video', 'audio', 'voice', 'document', 'sticker', 'animation', 'file'] as const;

/** Metadata of a media attachment (the gateway never downloads media on ingress). */
export const AttachmentSchema = z.strictObject({
  kind: z.enum(ATTACHMENT_KINDS),
  /** Platform file id (Telegram `file_id`, Discord attachment id). */
  id: z.string().min(1),
  mime: z.string().optional(),
  size: z.number().int().nonnegative().optional(),
  name: z.string().optional(),
  url: z.string().optional(),
  caption: z.string().optional(),
});
/** Metadata of a media attachment. */
export type Attachment = z.infer<typeof AttachmentSchema>;

/** A bot command parsed from the text: `/stop@MyBot now` → `{ name: 'stop', args: 'now' }`. */
export const CommandSchema = z.strictObject({
  name: z.string().min(1),
  args: z.string(),
});
/** A bot command parsed from the text. */
export type Command = z.infer<typeof CommandSchema>;

/** What the message replies to, when it is a reply. */
export const ReplyRefSchema = z.strictObject({
  platformMessageId: z.string().min(1),
  senderId: z.string().optional(),
  text: z.string().optional(),
});

/**
 * The normalized inbound message. `id` is globally unique (`<channelId>:<chatId>:<platformMessageId>`), so it
 * doubles as the dedupe key. Times are milliseconds since the epoch.
 */
export const InboundMessageSchema = z.strictObject({
  id: z.string().min(1),
  channelId: z.string().min(1),
  platform: z.enum(PLATFORMS),
  sessionKey: z.string().min(1),
  chatId: z.string().min(1),
  threadId: z.string().min(1).optional(),
  senderId: z.string().min(1),
  senderName: z.string(),
  /** Discord role ids of the sender in the guild (for role-based admins); absent elsewhere. */
  senderRoles: z.array(z.string()).optional(),
  peer: z.enum(['dm', 'group']),
  text: z.string().max(MAX_INBOUND_TEXT),
  mentionsBot: z.boolean(),
  replyToBot: z.boolean(),
  replyTo: ReplyRefSchema.optional(),
  attachments: z.array(AttachmentSchema),
  platformMessageId: z.string().min(1),
  sentAt: z.number().finite(),
  receivedAt: z.number().finite(),
  command: CommandSchema.optional(),
});
/** The normalized inbound message. */
export type InboundMessage = z.infer<typeof InboundMessageSchema>;

/**
 * Parses a bot command from message text. Accepts `/name`, `/name args` and `/name@BotName args` (the
 * `@BotName` must match `botUsername` when given, so commands meant for another bot in a group are ignored).
 * Returns undefined when the text is not a command.
 */
export function parseCommand(text: string, botUsername?: string): Command | undefined {
  const m = /^\/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?:\s+([\s\S]*))?$/.exec(text.trim());
  if (!m) return undefined;
  const [, name, target, args] = m;
  if (target !== undefined && botUsername !== undefined && target.toLowerCase() !== botUsername.toLowerCase()) {
    return undefined;
  }
  return { name: name!.toLowerCase(), args: (args ?? '').trim() };
}
