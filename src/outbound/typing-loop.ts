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
import { LeanAbortController } from '../signals/lean-abort.js';

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

/**
 * Renews a typing indicator every `intervalMs` while active.
 *
 * Cheap when it never ticks (most replies finish within `delayMs`): until the first tick starts it holds only
 * its timer, no AbortController and no listener on the run's signal, so `stop()` is a `clearTimeout`. The
 * controller (whose abort builds a DOMException) exists only for a tick that is in flight.
 */
export class TypingLoop {
  private controller: LeanAbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private stopped = false;
  private inFlight = false;
  private listening = false;
  private ticks = 0;
  private readonly logger: Logger;
  private readonly onAbort = (): void => this.stop();
  private readonly onTimer = (): void => void this.tick();

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

  /** Whether the loop is running (false once stopped or once the run's signal aborted). */
  get active(): boolean {
    return this.running && this.options.signal?.aborted !== true;
  }

  /** Starts the loop (first tick after `delayMs`). Idempotent; a stopped loop cannot be restarted. */
  start(): this {
    if (this.running || this.stopped) return this;
    if (this.options.signal?.aborted) return this;
    this.running = true;
    const delay = this.options.delayMs ?? 0;
    if (delay > 0) {
      this.timer = setTimeout(this.onTimer, delay);
      this.timer.unref?.();
    } else {
      void this.tick();
    }
    return this;
  }

  /** Stops the loop; an in-flight tick is aborted. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.listening) this.options.signal?.removeEventListener('abort', this.onAbort);
    this.listening = false;
    if (this.inFlight) this.controller?.abort();
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    const runSignal = this.options.signal;
    if (runSignal?.aborted) {
      this.stop();
      return;
    }
    // From the first tick on, an abort of the run must cut the tick in flight: listen now (not before).
    if (!this.listening && runSignal !== undefined) {
      runSignal.addEventListener('abort', this.onAbort, { once: true });
      this.listening = true;
    }
    this.controller ??= new LeanAbortController();
    const signal = this.controller.signal;
    const startedAt = Date.now();
    this.ticks++;
    this.inFlight = true;
    try {
      await this.options.tick(signal);
    } catch (err) {
      if (!signal.aborted) this.logger.debug({ err }, 'typing indicator failed');
    } finally {
      this.inFlight = false;
    }
    if (!this.running) return;
    const wait = Math.max(0, startedAt + this.options.intervalMs - Date.now());
    this.timer = setTimeout(this.onTimer, wait);
    this.timer.unref?.();
  }
}
