/**
 * Sends, edits and deletes Telegram messages for the adapter: Markdown rendered as HTML with a plain-text
 * fallback when Telegram rejects the entities, per-chat pacing (never dropping), and failures turned into
 * `TelegramSendError`. Knows nothing of runs or deliveries; `TelegramReplyStream` builds on it.
 */
import { GrammyError, type Api } from 'grammy';
import type { Logger } from '../../log/index.js';
import { Pacer, type PaceRule } from '../../outbound/index.js';
import type { ReplyTarget } from '../ports.js';
import { TelegramSendError } from './errors.js';
import { markdownToTelegramHtml } from './format.js';
import { grammySignal, isMessageGoneError, isNotModifiedError, isParseEntitiesError } from './transport.js';

/** Pacing limits (Telegram: ~1 message/s per chat, ~20/min per group). */
export interface TelegramPacing {
  /** Minimum gap between messages to one chat (ms). Default 1000. */
  chatIntervalMs: number;
  /** Messages per minute in a group. Default 20. */
  groupPerMinute: number;
  /** Messages per second across all chats of the bot (Telegram's bulk limit). Default 30. */
  globalPerSecond: number;
}

/** Pacer key of the bot-wide limit (chat ids never start with `*`). */
const GLOBAL_KEY = '*';

/** Options of a send. */
export interface SendOptions {
  /** Reply to the target's `replyToPlatformMessageId`. */
  replyTo?: boolean;
  /** Aborts the wait for a pacing slot and (unless `uncut`) the request. */
  signal?: AbortSignal;
  /** Once started, the request is not aborted by `signal` (bounded by a timeout instead). */
  uncut?: boolean;
}

/** Bound on a send that `signal` does not cut. */
const UNCUT_SEND_TIMEOUT_MS = 15_000;

/** Where a message goes, in Bot API terms. Internal. */
interface Dest {
  chatId: number | string;
  threadId?: number | undefined;
  replyTo?: number | undefined;
}

/** Bot API numbers from a `ReplyTarget`. */
export function destOf(target: ReplyTarget): Dest {
  const chatId = /^-?\d+$/.test(target.chatId) ? Number(target.chatId) : target.chatId;
  const threadId = target.threadId !== undefined && /^\d+$/.test(target.threadId) ? Number(target.threadId) : undefined;
  const replyTo =
    target.replyToPlatformMessageId !== undefined && /^\d+$/.test(target.replyToPlatformMessageId)
      ? Number(target.replyToPlatformMessageId)
      : undefined;
  return { chatId, threadId, replyTo };
}

/** `link_preview_options` of every text we send (shared: grammY only serializes it). */
const NO_LINK_PREVIEW = { is_disabled: true } as const;

/** Message operations with formatting fallback and pacing. */
export class TelegramSender {
  private readonly pacer = new Pacer();
  private readonly dmRule: PaceRule;
  private readonly groupRule: PaceRule;
  private readonly globalRule: PaceRule;

  constructor(
    private readonly api: Api,
    pacing: TelegramPacing,
    private readonly logger: Logger,
  ) {
    this.dmRule = { minIntervalMs: pacing.chatIntervalMs };
    this.groupRule = { minIntervalMs: pacing.chatIntervalMs, window: { max: pacing.groupPerMinute, ms: 60_000 } };
    this.globalRule = { minIntervalMs: 0, window: { max: pacing.globalPerSecond, ms: 1000 } };
  }

  /**
   * Sends one chunk of Markdown (<= 4096 characters) as a new message; resolves with its message id. Tries
   * HTML first and falls back to the Markdown source as plain text if Telegram rejects the entities.
   */
  async sendMarkdown(target: ReplyTarget, markdown: string, options: { replyTo?: boolean; signal?: AbortSignal } = {}): Promise<number> {
    const html = markdownToTelegramHtml(markdown);
    try {
      return await this.send(target, html, 'HTML', options);
    } catch (err) {
      if (!isParseEntitiesError(err)) throw this.wrap('sendMessage', target.chatId, err);
      this.logger.debug({ chatId: target.chatId, description: (err as GrammyError).description }, 'HTML rejected, sending plain text');
      try {
        return await this.send(target, markdown, undefined, options);
      } catch (err2) {
        throw this.wrap('sendMessage', target.chatId, err2);
      }
    }
  }

  /** Sends plain text (previews, notices that must not be parsed). */
  async sendPlain(target: ReplyTarget, text: string, options: SendOptions = {}): Promise<number> {
    try {
      return await this.send(target, text, undefined, options);
    } catch (err) {
      throw this.wrap('sendMessage', target.chatId, err);
    }
  }

  private async send(
    target: ReplyTarget,
    text: string,
    parseMode: 'HTML' | undefined,
    options: SendOptions,
  ): Promise<number> {
    const dest = destOf(target);
    // An aborted send waits for nothing and sends nothing (even an `uncut` one: it is cut before it starts).
    options.signal?.throwIfAborted();
    // Per chat first (FIFO within the chat), then the bot-wide slot: a busy chat never holds a global slot. An
    // idle chat and a free bot-wide window (the usual case) take their slots without waiting.
    const chatKey = target.chatId;
    const chatRule = target.peer === 'group' ? this.groupRule : this.dmRule;
    if (!this.pacer.tryAcquire(chatKey, chatRule)) await this.pacer.acquire(chatKey, chatRule, options.signal);
    if (!this.pacer.tryAcquire(GLOBAL_KEY, this.globalRule)) {
      await this.pacer.acquire(GLOBAL_KEY, this.globalRule, options.signal);
      this.pacer.restamp(chatKey);
    }
    const other: Parameters<Api['sendMessage']>[2] & object = { link_preview_options: NO_LINK_PREVIEW };
    if (parseMode !== undefined) other.parse_mode = parseMode;
    if (dest.threadId !== undefined) other.message_thread_id = dest.threadId;
    if (options.replyTo === true && dest.replyTo !== undefined) other.reply_parameters = { message_id: dest.replyTo, allow_sending_without_reply: true };
    const msg = await this.api.sendMessage(
      dest.chatId,
      text,
      other,
      // Once the request is out, Telegram may create the message whatever we do; `uncut` sends finish (bounded)
      // so the caller learns the message id and can clean it up, instead of leaving an orphan.
      grammySignal(options.uncut === true ? AbortSignal.timeout(UNCUT_SEND_TIMEOUT_MS) : options.signal),
    );
    return msg.message_id;
  }

  /**
   * Replaces a message's text with a Markdown chunk (HTML, plain-text fallback). Resolves `false` when the
   * message no longer exists (the caller sends a new one instead).
   */
  async editMarkdown(target: ReplyTarget, messageId: number, markdown: string, signal?: AbortSignal): Promise<boolean> {
    try {
      return await this.edit(target, messageId, markdownToTelegramHtml(markdown), 'HTML', signal);
    } catch (err) {
      if (!isParseEntitiesError(err)) throw this.wrap('editMessageText', target.chatId, err);
      try {
        return await this.edit(target, messageId, markdown, undefined, signal);
      } catch (err2) {
        throw this.wrap('editMessageText', target.chatId, err2);
      }
    }
  }

  /** Replaces a message's text with plain text (preview updates). */
  async editPlain(target: ReplyTarget, messageId: number, text: string, signal?: AbortSignal): Promise<boolean> {
    try {
      return await this.edit(target, messageId, text, undefined, signal);
    } catch (err) {
      throw this.wrap('editMessageText', target.chatId, err);
    }
  }

  private async edit(target: ReplyTarget, messageId: number, text: string, parseMode: 'HTML' | undefined, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.api.editMessageText(
        destOf(target).chatId,
        messageId,
        text,
        parseMode !== undefined ? { parse_mode: parseMode, link_preview_options: NO_LINK_PREVIEW } : { link_preview_options: NO_LINK_PREVIEW },
        grammySignal(signal),
      );
      return true;
    } catch (err) {
      if (isNotModifiedError(err)) return true;
      if (isMessageGoneError(err)) return false;
      throw err;
    }
  }

  /** Deletes a message; a message already gone is fine. Failures are logged, never thrown (cleanup). */
  async delete(target: ReplyTarget, messageId: number, signal?: AbortSignal): Promise<void> {
    try {
      await this.api.deleteMessage(destOf(target).chatId, messageId, grammySignal(signal));
    } catch (err) {
      if (!isMessageGoneError(err)) this.logger.warn({ err, chatId: target.chatId, messageId }, 'could not delete preview message');
    }
  }

  /**
   * Shows or updates a draft (Bot API 9.3+ `sendMessageDraft`, private chats only): an ephemeral, animated
   * preview that needs no cleanup and is replaced by the real message. Throws the raw grammY error so the caller
   * can tell "not supported by this server" from other failures.
   */
  async draft(target: ReplyTarget, draftId: number, text: string, signal?: AbortSignal): Promise<void> {
    const dest = destOf(target);
    if (typeof dest.chatId !== 'number') throw new TelegramSendError('sendMessageDraft', target.chatId, 'drafts need a numeric private chat id', undefined);
    await this.api.sendMessageDraft(dest.chatId, draftId, text, dest.threadId !== undefined ? { message_thread_id: dest.threadId } : {}, grammySignal(signal));
  }

  /** Shows "typing…" in the chat (and topic). */
  async typing(target: ReplyTarget, signal?: AbortSignal): Promise<void> {
    const dest = destOf(target);
    await this.api.sendChatAction(dest.chatId, 'typing', dest.threadId !== undefined ? { message_thread_id: dest.threadId } : {}, grammySignal(signal));
  }

  private wrap(method: string, chatId: string, err: unknown): unknown {
    if (err instanceof TelegramSendError) return err;
    if (err instanceof GrammyError) return new TelegramSendError(method, chatId, err.description, err.error_code, err);
    if (err instanceof Error && err.name === 'AbortError') return err;
    if (err instanceof Error) return new TelegramSendError(method, chatId, err.message, undefined, err);
    return err;
  }
}
