/**
 * Shows a reply while the model is still writing it: the first text is sent as a preview message, later text
 * edits that message, never more often than `minEditIntervalMs` (platforms rate-limit edits; Telegram answers
 * 429 when a chat is edited too fast). Deltas arriving in between are coalesced into the next edit, so the
 * number of platform calls is bounded by elapsed time, not by the token rate.
 *
 * Platform-neutral: the adapter supplies `send` and `edit`. At the end the adapter calls `finish()` and
 * replaces the preview with the final, formatted first chunk (or deletes it).
 *
 * Invariants: at most one platform call in flight; consecutive calls start at least `minEditIntervalMs` apart;
 * after `finish()` is called or the signal aborts, no further call is started and the one in flight gets an
 * aborted signal (`finish()` does not wait out a slow edit).
 */
import { InvalidOptionError } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { LeanAbortController } from '../signals/lean-abort.js';

/** Options of `PreviewStreamer`. */
export interface PreviewStreamerOptions {
  /** Sends the preview message; resolves with its platform id. */
  send(text: string, signal: AbortSignal): Promise<string>;
  /** Replaces the preview's text. */
  edit(messageId: string, text: string, signal: AbortSignal): Promise<void>;
  /** Minimum time between the starts of two platform calls (ms). Telegram: ~1000 in DMs, ~3000 in groups. */
  minEditIntervalMs: number;
  /** Longest preview text; longer text is cut and ends with `…`. Telegram 4096, Discord 2000. */
  maxPreviewLength: number;
  /**
   * Characters to collect before the first preview is sent, so a short answer is sent once as the final
   * message instead of as a preview plus an edit. Default 40.
   */
  minInitialChars?: number;
  /** Aborts with the run: pending updates are dropped and nothing more is sent. */
  signal?: AbortSignal;
  logger?: Logger;
}

/** What the preview looks like when streaming stops. */
export interface PreviewState {
  /** Platform id of the preview message, when one was sent. */
  messageId?: string | undefined;
  /** The text the preview currently shows (`''` when none was sent). */
  shownText: string;
  /** Number of platform calls made (sends + edits). */
  calls: number;
}

/** Streams a growing text into one preview message at a bounded edit rate. */
export class PreviewStreamer {
  private readonly opts: Required<Omit<PreviewStreamerOptions, 'signal'>> & { signal?: AbortSignal | undefined };
  private readonly controller = new LeanAbortController();
  private text = '';
  private shown = '';
  private messageId: string | undefined;
  private lastCallAt = -Infinity;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: Promise<void> | undefined;
  private finished = false;
  private calls = 0;
  private readonly onAbort = (): void => {
    this.stopTimer();
    this.controller.abort();
  };

  constructor(options: PreviewStreamerOptions) {
    if (!Number.isFinite(options.minEditIntervalMs) || options.minEditIntervalMs < 0) {
      throw new InvalidOptionError('minEditIntervalMs', 'a finite number >= 0', options.minEditIntervalMs);
    }
    if (!Number.isInteger(options.maxPreviewLength) || options.maxPreviewLength < 2) {
      throw new InvalidOptionError('maxPreviewLength', 'an integer >= 2', options.maxPreviewLength);
    }
    this.opts = { minInitialChars: 40, logger: silentLogger, ...options };
    if (options.signal?.aborted) this.onAbort();
    else options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Appends model output. Cheap and synchronous; the platform update is scheduled, never awaited here. */
  push(delta: string): void {
    if (this.finished || this.controller.signal.aborted || delta.length === 0) return;
    this.text += delta;
    this.schedule();
  }

  /** All text pushed so far. */
  get fullText(): string {
    return this.text;
  }

  /**
   * Stops streaming: cancels any scheduled update and waits for the one in flight. Idempotent. The adapter
   * then finalizes the preview (edit it into the first chunk, or delete it).
   */
  async finish(): Promise<PreviewState> {
    this.finished = true;
    this.stopTimer();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    // An update still in flight is cut (it may be sitting in a 429 wait): the final text replaces the preview
    // anyway, and the final answer must not wait behind a best-effort edit. With none in flight there is
    // nothing to cut (`finished` already stops everything), so no abort (and no DOMException) per reply.
    if (this.inFlight !== undefined) this.controller.abort();
    await this.inFlight;
    return { messageId: this.messageId, shownText: this.shown, calls: this.calls };
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private previewText(): string {
    const max = this.opts.maxPreviewLength;
    return this.text.length <= max ? this.text : `${this.text.slice(0, max - 1)}…`;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.inFlight !== undefined) return; // the pending call will pick the text up
    if (this.messageId === undefined && this.text.trim().length < this.opts.minInitialChars) return;
    if (this.previewText() === this.shown) return;
    const wait = Math.max(0, this.lastCallAt + this.opts.minEditIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
    this.timer.unref?.();
  }

  private flush(): void {
    if (this.finished || this.controller.signal.aborted) return;
    const text = this.previewText();
    if (text === this.shown || text.trim().length === 0) return;
    this.lastCallAt = Date.now();
    this.calls++;
    const signal = this.controller.signal;
    const call =
      this.messageId === undefined
        ? this.opts.send(text, signal).then((id) => {
            this.messageId = id;
          })
        : this.opts.edit(this.messageId, text, signal);
    this.inFlight = call
      .then(
        () => {
          this.shown = text;
        },
        (err: unknown) => {
          // The preview is best effort: the final message is delivered by the adapter either way.
          if (!signal.aborted) this.opts.logger.warn({ err, messageId: this.messageId }, 'preview update failed');
        },
      )
      .finally(() => {
        this.inFlight = undefined;
        if (!this.finished && !signal.aborted) this.schedule();
      });
  }
}
