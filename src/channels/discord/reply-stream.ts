/**
 * One reply on Discord: typing while the run works, an optional preview message edited at a bounded rate, and
 * the final text in chunks of at most 2000 characters.
 *
 * Invariants:
 * - After the run's signal aborts, nothing is sent, edited or typed (the in-flight request is aborted too).
 * - A chunk is recorded in the delivery log as soon as Discord accepts it, and a chunk already recorded for
 *   the run is never sent again (a re-run after a crash skips it). Each create carries a nonce derived from the
 *   run and chunk with `enforce_nonce`, so a transport-level retry of the same POST cannot post it twice.
 * - At most one preview request is in flight; edits are spaced by at least `editIntervalMs`.
 */
import { createHash } from 'node:crypto';
import { Routes, type APIAllowedMentions, type RESTPostAPIChannelMessageJSONBody } from 'discord.js';
import type { REST } from 'discord.js';
import type { Logger } from '../../log/index.js';
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

/** Nonce for chunk `index` of `runId`: stable across retries and re-runs, at most 25 characters. Internal. */
export function chunkNonce(runId: string, index: number): string {
  return createHash('sha256').update(`${runId}#${index}`).digest('base64url').slice(0, 25);
}

/** The Discord `ReplyStream`. Internal: built by `DiscordChannel.openReply`. */
export class DiscordReplyStream implements ReplyStream {
  private text = '';
  private typingTimer: NodeJS.Timeout | undefined;
  private previewTimer: NodeJS.Timeout | undefined;
  private previewId: string | undefined;
  private previewShown = '';
  private previewOp: Promise<void> = Promise.resolve();
  private lastPreviewAt = 0;
  private finished = false;
  private readonly onAbort = (): void => this.halt();

  constructor(private readonly d: ReplyStreamDeps) {
    if (d.signal.aborted) {
      this.finished = true;
      return;
    }
    d.signal.addEventListener('abort', this.onAbort, { once: true });
    this.typing();
    this.typingTimer = setInterval(() => this.typing(), d.typingIntervalMs);
    this.typingTimer.unref();
  }

  delta(text: string): void {
    if (this.finished) return;
    this.text += text;
    if (this.d.streaming.enabled && this.previewTimer === undefined) {
      const wait = Math.max(0, this.lastPreviewAt + this.d.streaming.editIntervalMs - Date.now());
      this.previewTimer = setTimeout(() => {
        this.previewTimer = undefined;
        this.previewOp = this.previewOp.then(() => this.renderPreview());
      }, wait);
      this.previewTimer.unref();
    }
  }

  async complete(fullText: string): Promise<void> {
    if (this.finished) return;
    this.stopTimers();
    await this.previewOp; // a preview request in flight settles first, so its message id is known
    this.finished = true;
    try {
      const chunks = this.d.chunk(fullText, DISCORD_MAX_MESSAGE).filter((c) => c.trim() !== '');
      const done = new Set((await this.d.deliveries.delivered(this.d.runId)).map((r) => r.chunkIndex));
      for (const [index, content] of chunks.entries()) {
        if (this.d.signal.aborted) return;
        if (done.has(index)) continue;
        const platformMessageId = index === 0 && this.previewId !== undefined ? await this.finalizePreview(content) : await this.post(index, content);
        await this.d.deliveries.record({ runId: this.d.runId, chunkIndex: index, platformMessageId });
      }
      // A preview longer than the final reply's chunk count cannot happen: the preview is at most chunk 0.
    } finally {
      this.d.signal.removeEventListener('abort', this.onAbort);
    }
  }

  async cancel(reason?: string): Promise<void> {
    if (this.finished) return;
    this.halt();
    await this.previewOp;
    const previewId = this.previewId;
    this.previewId = undefined;
    if (previewId === undefined) return;
    // Deleting is not sending: the partial preview is removed so no half answer stays in the chat.
    try {
      await this.d.rest.delete(Routes.channelMessage(this.d.discordChannelId, previewId));
    } catch (err) {
      this.d.logger.warn({ err, runId: this.d.runId, reason }, 'discord: could not delete the preview of a cancelled reply');
    }
  }

  private halt(): void {
    this.finished = true;
    this.stopTimers();
    this.d.signal.removeEventListener('abort', this.onAbort);
  }

  private stopTimers(): void {
    if (this.typingTimer) clearInterval(this.typingTimer);
    if (this.previewTimer) clearTimeout(this.previewTimer);
    this.typingTimer = undefined;
    this.previewTimer = undefined;
  }

  private typing(): void {
    this.d.rest.post(Routes.channelTyping(this.d.discordChannelId), { signal: this.d.signal }).catch((err: unknown) => {
      if (!this.d.signal.aborted) this.d.logger.debug({ err, runId: this.d.runId }, 'discord: typing indicator failed');
    });
  }

  /** Shows the beginning of the reply (its first chunk) with an ellipsis while it is being written. */
  private async renderPreview(): Promise<void> {
    if (this.finished || this.d.signal.aborted) return;
    const first = this.d.chunk(this.text, DISCORD_MAX_MESSAGE - 2)[0] ?? '';
    const content = `${first} …`;
    if (first.trim() === '' || content === this.previewShown) return;
    this.lastPreviewAt = Date.now();
    try {
      if (this.previewId === undefined) {
        const body: RESTPostAPIChannelMessageJSONBody = { content, allowed_mentions: NO_MENTIONS, ...this.reference() };
        const msg = (await this.d.rest.post(Routes.channelMessages(this.d.discordChannelId), { body, signal: this.d.signal })) as { id: string };
        this.previewId = msg.id;
      } else {
        await this.d.rest.patch(Routes.channelMessage(this.d.discordChannelId, this.previewId), { body: { content }, signal: this.d.signal });
      }
      this.previewShown = content;
    } catch (err) {
      if (!this.d.signal.aborted) this.d.logger.warn({ err, runId: this.d.runId }, 'discord: preview update failed; the final reply is still sent');
    }
  }

  private async finalizePreview(content: string): Promise<string> {
    const id = this.previewId!;
    try {
      await this.d.rest.patch(Routes.channelMessage(this.d.discordChannelId, id), { body: { content, allowed_mentions: NO_MENTIONS }, signal: this.d.signal });
      return id;
    } catch (err) {
      throw new DiscordSendError(this.d.channelId, 'editing the preview into the reply', this.d.discordChannelId, err);
    }
  }

  private async post(index: number, content: string): Promise<string> {
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
      throw new DiscordSendError(this.d.channelId, `sending chunk ${index}`, this.d.discordChannelId, err);
    }
  }

  private reference(): Pick<RESTPostAPIChannelMessageJSONBody, 'message_reference'> {
    return this.d.replyToMessageId === undefined ? {} : { message_reference: { message_id: this.d.replyToMessageId, fail_if_not_exists: false } };
  }
}
