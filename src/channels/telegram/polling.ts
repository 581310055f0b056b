/**
 * Long polling with "confirm only after accept": our own loop over `getUpdates` instead of `bot.start()`.
 *
 * Why not `bot.start()`: it hands a failed update to `bot.catch` and then confirms it with the next offset
 * (the message is lost if the store was briefly unwritable), and it rethrows 409 Conflict and stops polling
 * (the gateway would have to restart it). `@grammyjs/runner` is not installed and processes updates
 * concurrently, which we do not need: ingress only validates, persists and enqueues (milliseconds).
 *
 * Guarantees:
 * - The updates of one batch are handed to ingress together (their accepts share one store group commit) and
 *   reach it in `update_id` order. The offset moves past an update only after its handler resolved (ingress
 *   committed it, or the update was ignored or malformed). A failed update is retried alone, with backoff,
 *   blocking the stream: nothing after it is confirmed either. (Caveat: later updates of the same batch may
 *   already be accepted, so a transiently failing update can reach the scheduler after them.)
 * - Telegram forgets an update only when a later `getUpdates` carries a higher offset, so a crash at any point
 *   redelivers at most the updates whose accept may not have committed; ingress deduplicates them by id.
 * - 409 Conflict (another consumer, or a webhook is set) is logged as `E_CHANNEL_CONFLICT` and retried with
 *   exponential backoff and jitter (1 s doubling to 60 s), never a hot loop. 401 is fatal (`E_CHANNEL_AUTH`).
 */
import { BotError, GrammyError, type Api } from 'grammy';
import type { Update } from 'grammy/types';
import type { Logger } from '../../log/index.js';
import { sleep } from '../../outbound/index.js';
import { TelegramAuthError, TelegramConflictError } from './errors.js';
import { grammySignal } from './transport.js';

/** Longest wait between retries of an update the store refused (`E_STORE_WRITE`). */
const STORE_RETRY_MAX_MS = 5_000;

/** Options of `PollingLoop`. */
export interface PollingLoopOptions {
  channelId: string;
  api: Api;
  /**
   * Handles one update; resolves once it may be confirmed. Throwing retries the same update later. It gets no
   * signal on purpose: `stop()` lets an accept in progress commit rather than cutting it in half.
   */
  handle(update: Update): Promise<void>;
  logger: Logger;
  /** Long-poll timeout sent to Telegram (seconds). Default 25. */
  timeoutSeconds: number;
  /** Update kinds requested. */
  allowedUpdates: readonly string[];
  /** Backoff bounds (ms) for conflicts and transient failures. */
  backoff: { initialMs: number; maxMs: number };
  /** Called once when the loop stops for good because of an error (401). */
  onFatal(err: Error): void;
}

/** The polling loop. Start it once; `stop()` aborts the pending poll and waits for the loop to end. */
export class PollingLoop {
  private readonly controller = new AbortController();
  private offset = 0;
  /** Offset last sent to Telegram: everything below it is confirmed. */
  private confirmedOffset = 0;
  private loop: Promise<void> | undefined;
  private conflicts = 0;

  constructor(private readonly o: PollingLoopOptions) {}

  /** Number of consecutive 409 answers (for tests and /status). */
  get conflictStreak(): number {
    return this.conflicts;
  }

  /** Starts polling in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops polling: aborts the pending `getUpdates`, lets a handler in progress finish, and confirms the
   * offsets handled since the last poll so a restart does not redeliver them (dedupe would catch them anyway).
   */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.loop;
    if (this.offset > this.confirmedOffset) {
      try {
        await this.o.api.getUpdates({ offset: this.offset, limit: 1, timeout: 0 }, grammySignal(AbortSignal.timeout(5000)));
        this.confirmedOffset = this.offset;
      } catch (err) {
        this.o.logger.debug({ err }, 'could not confirm the last offsets on stop; they will be redelivered and deduplicated');
      }
    }
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    let failures = 0;
    let first = true;
    while (!signal.aborted) {
      let updates: Update[];
      try {
        updates = await this.o.api.getUpdates(
          {
            offset: this.offset,
            timeout: this.o.timeoutSeconds,
            // Telegram remembers allowed_updates; send it once.
            ...(first ? { allowed_updates: this.o.allowedUpdates as never } : {}),
          },
          grammySignal(signal),
        );
        this.confirmedOffset = this.offset;
        first = false;
        failures = 0;
        this.conflicts = 0;
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof GrammyError && err.error_code === 401) {
          const fatal = new TelegramAuthError(this.o.channelId, err);
          this.o.logger.error({ err: fatal, code: fatal.code }, fatal.message);
          this.o.onFatal(fatal);
          return;
        }
        const isConflict = err instanceof GrammyError && err.error_code === 409;
        if (isConflict) this.conflicts++;
        else failures++;
        // A 429 that auto-retry passed on (retry_after above its bound) says exactly how long to wait.
        const retryAfter = err instanceof GrammyError && err.error_code === 429 ? err.parameters.retry_after : undefined;
        const delay = retryAfter !== undefined ? retryAfter * 1000 : this.delay(isConflict ? this.conflicts : failures);
        if (isConflict) {
          const conflict = new TelegramConflictError(this.o.channelId, (err as GrammyError).description, delay, err);
          this.o.logger.error({ err: conflict, code: conflict.code, streak: this.conflicts, retryInMs: delay }, conflict.message);
        } else {
          this.o.logger.warn({ err, retryInMs: delay }, 'getUpdates failed, retrying');
        }
        await sleep(delay, signal).catch(() => undefined);
        continue;
      }
      // The updates of one batch are handed to ingress together, so their accepts share one group commit
      // (one fsync for up to 100 messages instead of one each: that is what lets a busy bot keep up). Each
      // accept resolves in queue order, so messages reach the scheduler in update order. An update that
      // failed is retried on its own, in order, before anything after it is confirmed.
      const fresh = updates.filter((u) => u.update_id >= this.offset); // older ones: already handled (resent)
      const results = await Promise.allSettled(fresh.map((u) => this.o.handle(u)));
      for (let i = 0; i < fresh.length; i++) {
        const update = fresh[i]!;
        if (results[i]!.status === 'rejected') {
          const ok = await this.handleWithRetry(update, signal);
          if (!ok) return; // stopped while the update was failing: leave it unconfirmed
        }
        this.offset = update.update_id + 1;
      }
    }
  }

  /** Runs the handler until it succeeds; false if stopped first. */
  private async handleWithRetry(update: Update, signal: AbortSignal): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.o.handle(update);
        return true;
      } catch (err) {
        if (signal.aborted) return false;
        // grammY wraps what the handler threw in a BotError; the cause carries the typed code (E_STORE_WRITE...).
        const cause: unknown = err instanceof BotError ? err.error : err;
        const code = (cause as { code?: unknown } | null)?.code;
        // A store refusing writes (disk full, read-only) usually recovers when an operator frees space: retry
        // at most every STORE_RETRY_MAX_MS so the backlog starts moving soon after, not up to a minute later.
        const delay = code === 'E_STORE_WRITE' ? Math.min(STORE_RETRY_MAX_MS, this.delay(attempt)) : this.delay(attempt);
        this.o.logger.error({ err: cause, code, updateId: update.update_id, attempt, retryInMs: delay }, 'update not accepted; retrying before confirming it');
        try {
          await sleep(delay, signal);
        } catch {
          return false;
        }
      }
    }
  }

  /** Exponential backoff with ±20 % jitter. */
  private delay(attempt: number): number {
    const { initialMs, maxMs } = this.o.backoff;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(30, attempt - 1));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }
}
