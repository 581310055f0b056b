/**
 * Paces sends per chat so a platform's rate limits are respected by waiting, never by dropping: Telegram allows
 * about one message per second in a chat and twenty per minute in a group; Discord has per-channel buckets.
 * Callers `await pacer.acquire(chatKey, rule)` before each send; waiters of one key are served in FIFO order,
 * so chunks of a reply keep their order. A 429 that slips through anyway is the transport's job (retry_after).
 *
 * Memory: a key's state is dropped as soon as it has no waiter and its history is older than its window.
 */
import { TransientMap } from '../collections/transient.js';
import { InvalidOptionError } from '../errors/index.js';

/** A rate rule for one key. */
export interface PaceRule {
  /** Minimum time between two sends (ms). */
  minIntervalMs: number;
  /** At most `max` sends in any `ms` window (a sliding window), e.g. `{ max: 20, ms: 60_000 }` for a group. */
  window?: { max: number; ms: number } | undefined;
}

interface KeyState {
  /** Start times of recent sends, oldest first (bounded by the window's `max`). */
  readonly sends: number[];
  /** Tail of the FIFO chain of waiters. */
  tail: Promise<void>;
  waiters: number;
  windowMs: number;
  /** Pending check that drops the state once idle and old. */
  forgetTimer?: ReturnType<typeof setTimeout> | undefined;
}

/** Per-key FIFO pacing with a minimum interval and an optional sliding window. */
export class Pacer {
  /** Per-key state, dropped once idle (a transient registry: see collections/transient.ts). */
  private readonly keys = new TransientMap<string, KeyState>();

  /** Keys with state held (for tests and metrics). */
  get size(): number {
    return this.keys.size;
  }

  /**
   * Resolves when a send to `key` may start under `rule`, and counts it as started. Rejects with the signal's
   * reason when aborted while waiting (the slot is not used).
   */
  acquire(key: string, rule: PaceRule, signal?: AbortSignal): Promise<void> {
    validateRule(rule);
    const s = this.stateOf(key, rule);
    s.waiters++;
    const turn = s.tail.then(() => this.wait(s, rule, signal));
    // The chain continues whether this waiter succeeds or is aborted.
    s.tail = turn.catch(() => undefined);
    return turn.finally(() => {
      s.waiters--;
      this.maybeForget(key, s);
    });
  }

  /**
   * Takes a slot for `key` at once if nobody waits for it and `rule` allows a send now: true means the send may
   * start (it is counted), false means nothing changed and the caller must `await acquire(...)`. The common case
   * (an idle chat) then costs no promise chain at all. Ignores signals: check yours before calling.
   */
  tryAcquire(key: string, rule: PaceRule): boolean {
    validateRule(rule);
    const known = this.keys.get(key);
    const now = Date.now();
    if (known !== undefined && (known.waiters > 0 || readyAt(known, rule, now) > now)) return false;
    const s = this.stateOf(key, rule);
    record(s, rule, now);
    this.maybeForget(key, s);
    return true;
  }

  /**
   * Moves the latest send of `key` to now. For a caller that acquires a second limit after this one (a bot-wide
   * slot after the chat's): the chat's interval then counts from the real send, not from the earlier grant.
   */
  restamp(key: string): void {
    const s = this.keys.get(key);
    if (s !== undefined && s.sends.length > 0) s.sends[s.sends.length - 1] = Date.now();
  }

  private async wait(s: KeyState, rule: PaceRule, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
    for (;;) {
      const now = Date.now();
      const at = readyAt(s, rule, now);
      if (at <= now) break;
      await sleep(at - now, signal);
    }
    record(s, rule, Date.now());
  }

  /** The key's state (created if new), its memory widened to `rule`. */
  private stateOf(key: string, rule: PaceRule): KeyState {
    let s = this.keys.get(key);
    if (s === undefined) {
      s = { sends: [], tail: RESOLVED, waiters: 0, windowMs: 0 };
      this.keys.set(key, s);
    }
    s.windowMs = Math.max(s.windowMs, rule.window?.ms ?? 0, rule.minIntervalMs);
    return s;
  }

  /** Send times held for `key` (bounded by its window; for tests and metrics). */
  held(key: string): number {
    return this.keys.get(key)?.sends.length ?? 0;
  }

  private maybeForget(key: string, s: KeyState): void {
    if (s.waiters > 0 || s.forgetTimer !== undefined) return;
    const last = s.sends.at(-1) ?? -Infinity;
    const age = Date.now() - last;
    if (age >= s.windowMs) {
      this.keys.delete(key);
      return;
    }
    // Forget it later, once its history can no longer delay a send. The check is redone then: the history
    // may have moved on (a new send, a restamp) in the meantime.
    s.forgetTimer = setTimeout(() => {
      s.forgetTimer = undefined;
      if (this.keys.get(key) === s) this.maybeForget(key, s);
    }, s.windowMs - age);
    s.forgetTimer.unref?.();
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

/** When a send to a key in state `s` may start under `rule` (<= now: at once). */
function readyAt(s: KeyState, rule: PaceRule, now: number): number {
  let at = now;
  const n = s.sends.length;
  if (n > 0) at = Math.max(at, s.sends[n - 1]! + rule.minIntervalMs);
  if (rule.window !== undefined && n >= rule.window.max) at = Math.max(at, s.sends[n - rule.window.max]! + rule.window.ms);
  return at;
}

/**
 * Counts a send started at `at`, keeping only the history the rule can still need: at most the window's `max`
 * sends, and none older than the key's longest window (they can no longer delay a send). Without the age bound
 * a generous limit on a key that is never idle (a bot-wide `globalPerSecond` of 1,000,000) held up to `max`
 * timestamps for good. The newest is always kept, for `minIntervalMs`.
 */
function record(s: KeyState, rule: PaceRule, at: number): void {
  s.sends.push(at);
  let drop = Math.max(0, s.sends.length - Math.max(1, rule.window?.max ?? 1));
  while (drop < s.sends.length - 1 && s.sends[drop]! <= at - s.windowMs) drop++;
  if (drop > 0) s.sends.splice(0, drop);
}

function validateRule(rule: PaceRule): void {
  if (!Number.isFinite(rule.minIntervalMs) || rule.minIntervalMs < 0) {
    throw new InvalidOptionError('minIntervalMs', 'a finite number >= 0', rule.minIntervalMs);
  }
  if (rule.window !== undefined) {
    if (!Number.isInteger(rule.window.max) || rule.window.max < 1) {
      throw new InvalidOptionError('window.max', 'an integer >= 1', rule.window.max);
    }
    if (!Number.isFinite(rule.window.ms) || rule.window.ms <= 0) {
      throw new InvalidOptionError('window.ms', 'a finite number > 0', rule.window.ms);
    }
  }
}

/** Abortable sleep. Internal helper. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const reason = (): unknown => signal?.reason ?? new Error('aborted');
    if (signal?.aborted) {
      reject(reason());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(reason());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
