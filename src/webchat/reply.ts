/**
 * One streamed webchat reply. Deltas go to the browser as they come (the page renders them; WebSocket frames
 * need no edit-rate pacing), the final text replaces the preview, and after the run's signal fires no more
 * chat text is sent: only a `reply:cancel` so the page stops showing the preview as in progress.
 */
import type { Logger } from 'pino';
import type { DeliveryLog, ReplyStream } from '../channels/index.js';
import type { ServerFrame } from './protocol.js';

/** What a reply needs from its channel. Internal. */
export interface WebchatReplyOptions {
  runId: string;
  signal: AbortSignal;
  /** Sends to the browser (or its outbox); returns whether a tab received it. */
  send: (frame: ServerFrame) => boolean;
  deliveryLog: DeliveryLog | undefined;
  log: Logger;
}

/** A `ReplyStream` over the webchat socket(s) of one browser. Internal to `WebchatChannel`. */
export class WebchatReply implements ReplyStream {
  private started = false;
  /** Set once the reply is over (done, cancelled or aborted): nothing more is sent. */
  private finished = false;
  /** The page shows why the reply stopped: the scheduler's abort cause (`stop`, `timeout`, `drain`, ...). */
  private readonly onAbort = (): void => {
    const cause = (this.o.signal.reason as { abortCause?: unknown } | undefined)?.abortCause;
    this.finish(typeof cause === 'string' ? cause : 'stopped');
  };

  constructor(private readonly o: WebchatReplyOptions) {
    if (o.signal.aborted) this.finished = true;
    else o.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  delta(text: string): void {
    if (this.finished || text === '') return;
    if (!this.started) {
      this.started = true;
      this.o.send({ type: 'reply:start', runId: this.o.runId });
    }
    this.o.send({ type: 'reply:delta', runId: this.o.runId, text });
  }

  async complete(fullText: string): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.o.signal.removeEventListener('abort', this.onAbort);
    // A run re-played after a crash must not show a reply the browser already got.
    if (this.o.deliveryLog !== undefined) {
      const done = await this.o.deliveryLog.delivered(this.o.runId);
      if (done.some((d) => d.chunkIndex === 0)) return;
      // The signal may have fired while we looked: nothing is sent after an abort.
      if (this.o.signal.aborted) return;
    }
    this.o.send({ type: 'reply:done', runId: this.o.runId, text: fullText });
    if (this.o.deliveryLog !== undefined) {
      try {
        await this.o.deliveryLog.record({ runId: this.o.runId, chunkIndex: 0, platformMessageId: this.o.runId });
      } catch (err) {
        // The reply is shown; failing to record it risks a duplicate after a crash, not a lost reply.
        this.o.log.warn({ err, runId: this.o.runId }, 'could not record a webchat delivery');
      }
    }
  }

  async cancel(reason?: string): Promise<void> {
    this.finish(reason ?? 'cancelled');
  }

  private finish(reason: string): void {
    if (this.finished) return;
    this.finished = true;
    this.o.signal.removeEventListener('abort', this.onAbort);
    this.o.send({ type: 'reply:cancel', runId: this.o.runId, reason });
  }
}
