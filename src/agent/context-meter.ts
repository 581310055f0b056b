/**
 * Context accounting per session: how full the model's context window is, from a tokenizer estimate
 * calibrated by what the provider reports. Feeds the scheduler's adaptive throttle (`ratio`, synchronous and
 * O(1)) and the compaction trigger.
 *
 * The calibration factor is an exponential moving average of `reported prompt_tokens / estimated tokens`,
 * per agent (one model, one tokenizer mismatch), clamped to [0.25, 4] so a bogus usage figure cannot blow up
 * the throttle. Sessions not seen since start report 0 until their first turn (or `set` from a primer).
 */

/** Options of `ContextMeter`. */
export interface ContextMeterOptions {
  /** The model's context window (tokens). */
  contextWindow: number;
  /** Weight of a new observation in the calibration average (0..1]. Default 0.3. */
  alpha?: number;
  /** Most sessions remembered (least recently updated are forgotten first). Default 10000. */
  maxSessions?: number;
}

/** Tracks the estimated prompt size of each session against the context window. */
export class ContextMeter {
  /** The window the ratio is relative to. */
  readonly contextWindow: number;
  private readonly alpha: number;
  private readonly maxSessions: number;
  private readonly estimates = new Map<string, number>();
  /**
   * Where eviction left off in `estimates` (oldest first). Map iterators are live: every entry behind it was
   * evicted or re-inserted at the end, so its next key is always the least recently updated one. A fresh
   * `keys()` per eviction re-scanned, from the table's start, every slot evictions had emptied (until V8
   * compacted the table): that made `set` a few µs at 10,000 sessions, once per turn.
   */
  private oldest: IterableIterator<string> | undefined;
  private calibration = 1;
  private observations = 0;

  constructor(options: ContextMeterOptions) {
    this.contextWindow = options.contextWindow;
    this.alpha = options.alpha ?? 0.3;
    this.maxSessions = options.maxSessions ?? 10_000;
  }

  /** Current calibration factor (reported / estimated). */
  get factor(): number {
    return this.calibration;
  }

  /** Records a provider-reported prompt size against our estimate of the same prompt. */
  calibrate(estimatedTokens: number, reportedPromptTokens: number): void {
    if (!(estimatedTokens > 0) || !(reportedPromptTokens > 0)) return;
    const sample = Math.min(4, Math.max(0.25, reportedPromptTokens / estimatedTokens));
    this.calibration = this.observations === 0 ? sample : this.calibration + this.alpha * (sample - this.calibration);
    this.observations += 1;
  }

  /** Sets a session's raw (uncalibrated) estimate of its next prompt, in tokenizer tokens. */
  set(sessionKey: string, estimatedTokens: number): void {
    this.estimates.delete(sessionKey); // re-insert: Map order is our recency order
    this.estimates.set(sessionKey, estimatedTokens);
    if (this.estimates.size > this.maxSessions) {
      this.oldest ??= this.estimates.keys();
      let next = this.oldest.next();
      if (next.done === true) {
        // Never with a non-empty map (see `oldest`); start over rather than trust that.
        this.oldest = this.estimates.keys();
        next = this.oldest.next();
      }
      if (next.done !== true) this.estimates.delete(next.value);
    }
  }

  /**
   * Sets a session's estimate without making it the most recent (a plain `set` when it is unknown): for the
   * second update of a turn, which `set` at the turn's start already moved to the end. Saves a delete and
   * re-insert (and the hole it leaves in the table) per turn.
   */
  update(sessionKey: string, estimatedTokens: number): void {
    if (this.estimates.has(sessionKey)) this.estimates.set(sessionKey, estimatedTokens);
    else this.set(sessionKey, estimatedTokens);
  }

  /** Calibrated token estimate of the session's next prompt (0 when unknown). */
  tokens(sessionKey: string): number {
    return Math.round((this.estimates.get(sessionKey) ?? 0) * this.calibration);
  }

  /** Context fill 0..1 (may exceed 1 when over the window). For the scheduler's adaptive throttle. */
  ratio(sessionKey: string): number {
    const raw = this.estimates.get(sessionKey);
    return raw === undefined ? 0 : (raw * this.calibration) / this.contextWindow;
  }

  /** Drops what is known of a session. */
  forget(sessionKey: string): void {
    this.estimates.delete(sessionKey);
  }

  /** Sessions tracked. */
  get size(): number {
    return this.estimates.size;
  }
}
