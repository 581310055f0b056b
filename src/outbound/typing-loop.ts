/**
 * Keeps a "typing…" indicator alive while a run works. Platforms expire the indicator on their own (Telegram
 * after ~5 s, Discord after ~10 s), so it has to be renewed: the loop calls `tick` after `delayMs` (default at
 * once) and then every `intervalMs` until stopped or aborted. A delay spares the platform call (and its HTTP
 * request) for replies that finish before anyone would notice the indicator. Calls never overlap (a slow tick
 * delays the next one), failures are logged and never end the run, and the timer is `unref()`'d so it cannot
 * keep the process alive.
 */
import { InvalidOptionError } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';

/** Options of `TypingLoop`. */
export interface TypingLoopOptions {
  /** Sends one typing indicator. */
  tick(signal: AbortSignal): Promise<void>;
  /** Time between the starts of two ticks (ms). Telegram ~4000, Discord ~8000. */
  intervalMs: number;
  /** Wait before the first tick (ms); a loop stopped earlier never ticks. Default 0 (at once). */
  delayMs?: number;
  /** Stops the loop when aborted (the run's signal). */
  signal?: AbortSignal;
  logger?: Logger;
}

/** Renews a typing indicator every `intervalMs` while active. */
export class TypingLoop {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private ticks = 0;
  private readonly logger: Logger;
  private readonly onAbort = (): void => this.stop();

  constructor(private readonly options: TypingLoopOptions) {
    if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) {
      throw new InvalidOptionError('intervalMs', 'a finite number > 0', options.intervalMs);
    }
    if (options.delayMs !== undefined && (!Number.isFinite(options.delayMs) || options.delayMs < 0)) {
      throw new InvalidOptionError('delayMs', 'a finite number >= 0', options.delayMs);
    }
    this.logger = options.logger ?? silentLogger;
  }

  /** Number of ticks started so far. */
  get count(): number {
    return this.ticks;
  }

  /** Whether the loop is running. */
  get active(): boolean {
    return this.running;
  }

  /** Starts the loop (first tick after `delayMs`). Idempotent; a stopped loop cannot be restarted. */
  start(): this {
    if (this.running || this.controller.signal.aborted) return this;
    if (this.options.signal?.aborted) return this;
    this.running = true;
    this.options.signal?.addEventListener('abort', this.onAbort, { once: true });
    const delay = this.options.delayMs ?? 0;
    if (delay > 0) {
      this.timer = setTimeout(() => void this.tick(), delay);
      this.timer.unref?.();
    } else {
      void this.tick();
    }
    return this;
  }

  /** Stops the loop; an in-flight tick is aborted. Idempotent. */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = false;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.controller.abort();
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    const startedAt = Date.now();
    this.ticks++;
    try {
      await this.options.tick(this.controller.signal);
    } catch (err) {
      if (!this.controller.signal.aborted) this.logger.debug({ err }, 'typing indicator failed');
    }
    if (!this.running) return;
    const wait = Math.max(0, startedAt + this.options.intervalMs - Date.now());
    this.timer = setTimeout(() => void this.tick(), wait);
    this.timer.unref?.();
  }
}
