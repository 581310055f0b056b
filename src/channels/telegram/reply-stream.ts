/**
 * One run's reply in a Telegram chat: typing every ~4 s while the run works (from ~1 s in: a fast reply needs none), a plain-text preview edited at a
 * bounded rate while the model streams, and at the end the final Markdown chunked at 4096 and delivered as real
 * messages (the preview message becomes the first chunk, so the chat does not flicker).
 *
 * Delivery invariant: a chunk Telegram accepted is recorded (`deliveries.record`) right after the Bot API
 * answers (the last chunk's record is queued, not awaited: it commits no later than the run's outcome; see
 * `complete`), and a chunk index already recorded for the run is never sent again, so a re-run after a crash
 * continues where the previous attempt stopped instead of repeating it. After the run's signal aborts nothing
 * new is sent (only the preview is removed, see `cancel`).
 */
import type { Logger } from '../../log/index.js';
import { chunkMarkdown, PreviewStreamer, TypingLoop } from '../../outbound/index.js';
import type { DeliveryLog, DeliveryRecord, ReplyStream, ReplyTarget } from '../ports.js';
import type { TelegramSender } from './sender.js';
import { isDraftUnsupportedError } from './transport.js';

/** Preview id standing for "a draft is shown" (drafts have no message id). */
const DRAFT_PREVIEW = 'draft';

/** No chunk delivered yet (the usual case): no Set to build. */
const NONE: ReadonlySet<number> = new Set();

/** Telegram's message text limit. */
export const TELEGRAM_MAX_TEXT = 4096;

/** Options of a reply stream (internal: built by `TelegramChannel.openReply`). */
export interface TelegramReplyStreamOptions {
  target: ReplyTarget;
  runId: string;
  signal: AbortSignal;
  sender: TelegramSender;
  deliveries: DeliveryLog;
  /** The channel's logger; the reply binds `runId` to it only when it has something to say above debug. */
  logger: Logger;
  /** Preview streaming; undefined disables it (the reply is sent once, complete). */
  preview?: { editIntervalMs: number; minInitialChars: number } | undefined;
  /**
   * Stream with `sendMessageDraft` (private chats, Bot API 9.3+) instead of a preview message. When the server
   * refuses drafts, the stream switches to a preview message and `onDraftsUnsupported` is called so later
   * replies do not try again.
   */
  drafts?: { onUnsupported(): void } | undefined;
  typingIntervalMs: number;
  /** Wait before the first typing indicator (a fast reply sends none). */
  typingDelayMs: number;
  /** Bounds cleanup calls made after the run ended (deleting a preview). */
  cleanupTimeoutMs: number;
}

/** A streamed reply to one run. */
export class TelegramReplyStream implements ReplyStream {
  private readonly typing: TypingLoop;
  private readonly preview: PreviewStreamer | undefined;
  private done = false;
  private previewKind: 'message' | 'draft';
  /** Non-zero id of this reply's draft; updates with the same id animate in the client. */
  private readonly draftId = 1 + Math.floor(Math.random() * 2_000_000_000);
  private runLog: Logger | undefined;

  constructor(private readonly o: TelegramReplyStreamOptions) {
    this.previewKind = o.drafts !== undefined && o.target.peer === 'dm' ? 'draft' : 'message';
    this.typing = new TypingLoop({
      intervalMs: o.typingIntervalMs,
      delayMs: o.typingDelayMs,
      signal: o.signal,
      tick: async (signal) => {
        try {
          await o.sender.typing(o.target, signal);
        } catch (err) {
          if (!signal.aborted) o.logger.debug({ err, runId: o.runId }, 'typing indicator failed');
        }
      },
    }).start();
    if (o.preview !== undefined) {
      this.preview = new PreviewStreamer({
        minEditIntervalMs: o.preview.editIntervalMs,
        minInitialChars: o.preview.minInitialChars,
        maxPreviewLength: TELEGRAM_MAX_TEXT,
        signal: o.signal,
        logger: this.log,
        send: async (text, signal) => {
          if (this.previewKind === 'draft') {
            try {
              await o.sender.draft(o.target, this.draftId, text, signal);
              return DRAFT_PREVIEW;
            } catch (err) {
              if (!isDraftUnsupportedError(err)) throw err;
              this.log.info({ chatId: o.target.chatId }, 'sendMessageDraft not available; streaming by editing a preview message');
              this.previewKind = 'message';
              o.drafts?.onUnsupported();
            }
          }
          // `uncut`: a preview whose request is out when the run aborts still reports its id, so cancel() can
          // delete it instead of leaving a half answer in the chat.
          return String(await o.sender.sendPlain(o.target, text, { replyTo: true, signal, uncut: true }));
        },
        edit: async (id, text, signal) => {
          if (id === DRAFT_PREVIEW) await o.sender.draft(o.target, this.draftId, text, signal);
          else await o.sender.editPlain(o.target, Number(id), text, signal);
        },
      });
    }
  }

  delta(text: string): void {
    if (!this.done) this.preview?.push(text);
  }

  async complete(fullText: string): Promise<void> {
    if (this.done) return;
    this.done = true;
    const { target, runId, signal, sender, deliveries } = this.o;
    try {
      const state = await this.preview?.finish();
      // A draft is not a message: it is replaced by the first real message and needs no cleanup.
      let previewId = state?.messageId !== undefined && state.messageId !== DRAFT_PREVIEW ? Number(state.messageId) : undefined;
      let staleId: number | undefined;
      const done = await deliveries.delivered(runId);
      const already = done.length === 0 ? NONE : new Set(done.map((d) => d.chunkIndex));
      // Telegram trims messages anyway; whitespace-only chunks cannot be sent at all.
      const chunks = chunkMarkdown(fullText, TELEGRAM_MAX_TEXT)
        .map((c) => c.trimEnd())
        .filter((c) => c.trim().length > 0);
      for (let i = 0; i < chunks.length; i++) {
        if (already.has(i)) continue; // accepted by Telegram in an earlier attempt: never resend
        signal.throwIfAborted();
        const chunk = chunks[i]!;
        let messageId: number | undefined;
        if (previewId !== undefined) {
          // The preview becomes this chunk: one message, no flicker.
          const id = previewId;
          previewId = undefined;
          try {
            if (await sender.editMarkdown(target, id, chunk, signal)) messageId = id;
          } catch (err) {
            if (signal.aborted) throw err;
            // The preview cannot become the answer: send the chunk fresh and remove the stale preview.
            this.log.warn({ err, runId, messageId: id }, 'could not finalize the preview; sending the chunk as a new message');
            staleId = id;
          }
        }
        messageId ??= await sender.sendMarkdown(target, chunk, { replyTo: i === 0, signal });
        const recorded = this.recordDelivery({ runId, chunkIndex: i, platformMessageId: String(messageId) });
        // The next chunk goes out only once this one is on record, so a crash resends at most the chunk in
        // flight. The last chunk's record is not waited for: it is queued before the run's outcome, and the
        // store commits writes in order, so the outcome is never stored without it, and both usually share one
        // group commit (one commit per reply fewer on the hot path).
        if (i < chunks.length - 1) await recorded;
      }
      // A preview left over (every chunk was delivered earlier, the reply is empty, or it could not be
      // finalized) would duplicate text.
      for (const id of [previewId, staleId]) if (id !== undefined) await sender.delete(target, id, this.cleanupSignal());
      this.o.logger.debug({ runId, chunks: chunks.length, skipped: already.size }, 'reply delivered');
    } finally {
      this.typing.stop();
    }
  }

  /**
   * The run ended without an answer. Stops typing and deletes the preview, if one was shown: a half-written
   * answer left in the chat reads like a complete one. (This cleanup is the one call made after an abort.)
   */
  async cancel(reason?: string): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.typing.stop();
    const state = await this.preview?.finish();
    if (state?.messageId !== undefined && state.messageId !== DRAFT_PREVIEW) {
      this.o.logger.debug({ runId: this.o.runId, reason }, 'reply cancelled, removing preview');
      await this.o.sender.delete(this.o.target, Number(state.messageId), this.cleanupSignal());
    }
  }

  /** Records a delivered chunk; never rejects (the write is queued before this returns its promise). */
  private async recordDelivery(record: DeliveryRecord): Promise<void> {
    try {
      await this.o.deliveries.record(record);
    } catch (err) {
      // The chunk is in the chat: failing the run now would add a failure notice under a delivered answer.
      // An unrecorded chunk only risks a resend if the process dies before the run's outcome is stored.
      this.log.error({ err, code: (err as { code?: unknown }).code, runId: record.runId, chunkIndex: record.chunkIndex }, 'delivered chunk not recorded (store refused the write)');
    }
  }

  /** The channel's logger with this reply's `runId` bound, made on first use (most replies never log). */
  private get log(): Logger {
    return (this.runLog ??= this.o.logger.child({ runId: this.o.runId }));
  }

  private cleanupSignal(): AbortSignal {
    return AbortSignal.timeout(this.o.cleanupTimeoutMs);
  }
}
