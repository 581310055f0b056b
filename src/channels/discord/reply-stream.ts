/**
 * One reply on Discord: typing while the run works, an optional preview message edited at a bounded rate, and
 * the final text in chunks of at most 2000 characters.
 *
 * Invariants:
 * - After the run's signal aborts, nothing is sent, edited or typed (the in-flight request is aborted too).
 * - A chunk is recorded in the delivery log as soon as Discord accepts it, and a chunk already recorded for
 *   the run is never sent again (a re-run after a crash skips it). Each create carries a nonce derived from the
 *   run and chunk with `enforce_nonce`, so a transport-level retry of the same POST cannot post it twice.
 * - Preview pacing and typing come from `src/outbound` (`PreviewStreamer`: one request in flight, starts at least
  `editIntervalMs` apart, deltas coalesced; `TypingLoop`: renewed every `typingIntervalMs`, never overlapping).
 */
import { createHash } from 'node:crypto';
import { Routes, type APIAllowedMentions, type RESTPostAPIChannelMessageJSONBody } from 'discord.js';
import type { REST } from 'discord.js';
import type { Logger } from '../../log/index.js';
import { PreviewStreamer, TypingLoop } from '../../outbound/index.js';
import type { DeliveryLog, ReplyStream } from '../ports.js';
import { DiscordSendError } from './errors.js';
import { DISCORD_MAX_MESSAGE } from './options.js';

/** Splits text into chunks of at most `limit` characters without breaking code fences. */
export type Chunker = (text: string, limit: number) => string[];

/** Everything a reply stream needs. Internal to the adapter. */
export interface ReplyStreamDeps {
  rest: REST;
  /** Config id of the channel, for errors and logs. */
  channelId: string;
  /** Discord channel to post in: the thread, the guild text channel or the DM channel. */
  discordChannelId: string;
  replyToMessageId: string | undefined;
  runId: string;
  signal: AbortSignal;
  deliveries: DeliveryLog;
  chunk: Chunker;
  streaming: { enabled: boolean; editIntervalMs: number };
  typingIntervalMs: number;
  logger: Logger;
}

/** No pings from model output: `@everyone` or `<@id>` in a reply must not notify anyone. */
const NO_MENTIONS: APIAllowedMentions = Object.freeze({ parse: [], replied_user: false });

/**
 * Nonce for chunk `index` of the turn `runId` answers: at most 25 characters, and the same for every attempt
 * of the turn (`<owner id>#<attempt>` minus the attempt). A crash between Discord accepting a chunk and the
 * delivery record being written re-runs the turn as the next attempt; with `enforce_nonce`, Discord then
 * returns the chunk it already has instead of posting it twice. Internal.
 */
export function chunkNonce(runId: string, index: number): string {
  const turn = runId.replace(/#\d+$/, '');
  return createHash('sha256').update(`${turn}#${index}`).digest('base64url').slice(0, 25);
}

/** The Discord `ReplyStream`. Internal: built by `DiscordChannel.openReply`. */
export class DiscordReplyStream implements ReplyStream {
  private readonly typing: TypingLoop;
  private readonly preview: PreviewStreamer | undefined;
  private previewId: string | undefined;
  private finished = false;
  private readonly onAbort = (): void => this.halt();

  constructor(private readonly d: ReplyStreamDeps) {
    const logger = d.logger.child({ runId: d.runId });
    this.typing = new TypingLoop({
      tick: (signal) => this.d.rest.post(Routes.channelTyping(d.discordChannelId), { signal }).then(() => undefined),
      intervalMs: d.typingIntervalMs,
      signal: d.signal,
      logger,
    });
    if (d.streaming.enabled) {
      this.preview = new PreviewStreamer({
        send: async (text, signal) => {
          const body: RESTPostAPIChannelMessageJSONBody = { content: text, allowed_mentions: NO_MENTIONS, ...this.reference() };
          const msg = (await d.rest.post(Routes.channelMessages(d.discordChannelId), { body, signal })) as { id: string };
          return msg.id;
        },
        edit: async (id, text, signal) => {
          await d.rest.patch(Routes.channelMessage(d.discordChannelId, id), { body: { content: text }, signal });
        },
        minEditIntervalMs: d.streaming.editIntervalMs,
        maxPreviewLength: DISCORD_MAX_MESSAGE,
        signal: d.signal,
        logger,
      });
    }
    if (d.signal.aborted) {
      this.finished = true;
      return;
    }
    d.signal.addEventListener('abort', this.onAbort, { once: true });
    this.typing.start();
  }

  delta(text: string): void {
    if (!this.finished) this.preview?.push(text);
  }

  async complete(fullText: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.typing.stop();
    try {
      // A preview request in flight settles first, so its message id is known and it becomes chunk 0.
      this.previewId = (await this.preview?.finish())?.messageId;
      const chunks = this.d.chunk(fullText, DISCORD_MAX_MESSAGE).filter((c) => c.trim() !== '');
      const done = new Set((await this.d.deliveries.delivered(this.d.runId)).map((r) => r.chunkIndex));
      for (const [index, content] of chunks.entries()) {
        if (this.d.signal.aborted) return;
        if (done.has(index)) continue;
        const platformMessageId = index === 0 && this.previewId !== undefined ? await this.finalizePreview(content) : await this.post(index, content);
        if (platformMessageId === undefined) return; // aborted during the request: the run is over, quietly
        const recorded = this.recordDelivery(index, platformMessageId);
        // As on Telegram: the next chunk waits for this one's record; the last one's commits with the outcome
        // (queued later on the same store, which commits in order).
        if (index < chunks.length - 1) await recorded;
      }
    } finally {
      this.d.signal.removeEventListener('abort', this.onAbort);
    }
  }

  /** Records a posted chunk; never rejects (the write is queued before this returns its promise). */
  private async recordDelivery(chunkIndex: number, platformMessageId: string): Promise<void> {
    try {
      await this.d.deliveries.record({ runId: this.d.runId, chunkIndex, platformMessageId });
    } catch (err) {
      // The chunk is posted: failing the run now would add a failure notice under a delivered answer. An
      // unrecorded chunk only risks a resend if the process dies before the run's outcome is stored.
      this.d.logger.error({ err, code: (err as { code?: unknown }).code, runId: this.d.runId, chunkIndex }, 'discord: delivered chunk not recorded (store refused the write)');
    }
  }

  async cancel(reason?: string): Promise<void> {
    if (this.finished && this.preview === undefined) return;
    this.halt();
    const previewId = (await this.preview?.finish())?.messageId;
    if (previewId === undefined || previewId === this.previewId) return; // none, or already the final chunk 0
    // Deleting is not sending: the partial preview is removed so no half answer stays in the chat.
    try {
      await this.d.rest.delete(Routes.channelMessage(this.d.discordChannelId, previewId));
    } catch (err) {
      this.d.logger.warn({ err, runId: this.d.runId, reason }, 'discord: could not delete the preview of a cancelled reply');
    }
  }

  private halt(): void {
    this.finished = true;
    this.typing.stop();
    this.d.signal.removeEventListener('abort', this.onAbort);
  }

  /**
   * Requests below resolve `undefined` when the run's signal aborted them. Discord may still have accepted a
   * create whose response was cut off; it goes unrecorded, and the chunk's nonce (`enforce_nonce`) keeps a
   * re-run of the turn (after a drain, say) from posting it a second time.
   */
  private async finalizePreview(content: string): Promise<string | undefined> {
    const id = this.previewId!;
    try {
      await this.d.rest.patch(Routes.channelMessage(this.d.discordChannelId, id), { body: { content, allowed_mentions: NO_MENTIONS }, signal: this.d.signal });
      return id;
    } catch (err) {
      if (this.d.signal.aborted) return undefined;
      throw new DiscordSendError(this.d.channelId, 'editing the preview into the reply', this.d.discordChannelId, err);
    }
  }

  private async post(index: number, content: string): Promise<string | undefined> {
    const body: RESTPostAPIChannelMessageJSONBody = {
      content,
      allowed_mentions: NO_MENTIONS,
      nonce: chunkNonce(this.d.runId, index),
      enforce_nonce: true,
      ...(index === 0 ? this.reference() : {}),
    };
    try {
      const msg = (await this.d.rest.post(Routes.channelMessages(this.d.discordChannelId), { body, signal: this.d.signal })) as { id: string };
      return msg.id;
    } catch (err) {
      if (this.d.signal.aborted) return undefined;
      throw new DiscordSendError(this.d.channelId, `sending chunk ${index}`, this.d.discordChannelId, err);
    }
  }

  private reference(): Pick<RESTPostAPIChannelMessageJSONBody, 'message_reference'> {
    return this.d.replyToMessageId === undefined ? {} : { message_reference: { message_id: this.d.replyToMessageId, fail_if_not_exists: false } };
  }
}
