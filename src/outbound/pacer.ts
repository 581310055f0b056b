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
  /** The key waits in an expiry queue (see `ExpiryQueue`). */
  queued: boolean;
}

/**
 * Keys that may be forgotten once their window has passed since their last send, for one window length: pushed
 * as they go idle, so in the order they expire (a state whose window was widened later may wait a little longer
 * behind the others). One timer per queue, at its head's expiry.
 *
 * Why not a timer per key: a busy bot sends to thousands of chats a minute, and each timer (a Timeout, its
 * closure, its place in node's timer lists) lived for the chat's whole window, long enough to be promoted to
 * V8's old generation and copied by every scavenge on the way: per chat, most of what pacing cost.
 */
interface ExpiryQueue {
  keys: string[];
  /** Index of the first key still queued (the array is compacted once half of it is consumed). */
  head: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Per-key FIFO pacing with a minimum interval and an optional sliding window. */
export class Pacer {
  /** Per-key state, dropped once idle (a transient registry: see collections/transient.ts). */
  private readonly keys = new TransientMap<string, KeyState>();
  /** Expiry queues by window length (a handful: the rules of one platform). */
  private readonly expiries = new Map<number, ExpiryQueue>();

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
      s = { sends: [], tail: RESOLVED, waiters: 0, windowMs: 0, queued: false };
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
    if (s.waiters > 0 || s.queued) return;
    const age = Date.now() - (s.sends.at(-1) ?? -Infinity);
    if (age >= s.windowMs) {
      this.keys.delete(key);
      return;
    }
    // Forget it later, once its history can no longer delay a send. The check is redone then: the history
    // may have moved on (a new send, a restamp) in the meantime.
    s.queued = true;
    let q = this.expiries.get(s.windowMs);
    if (q === undefined) {
      q = { keys: [], head: 0, timer: undefined };
      this.expiries.set(s.windowMs, q);
    }
    q.keys.push(key);
    if (q.timer === undefined) this.arm(q, s.windowMs - age);
  }

  private arm(q: ExpiryQueue, ms: number): void {
    q.timer = setTimeout(() => this.sweep(q), ms);
    q.timer.unref?.();
  }

  /** Checks the queue's keys in order until one is not due yet, then waits for that one. */
  private sweep(q: ExpiryQueue): void {
    q.timer = undefined;
    const now = Date.now();
    while (q.head < q.keys.length) {
      const key = q.keys[q.head]!;
      const s = this.keys.get(key);
      if (s !== undefined && s.queued) {
        const due = (s.sends.at(-1) ?? -Infinity) + s.windowMs;
        if (due > now && s.waiters === 0) {
          this.arm(q, due - now);
          break;
        }
        s.queued = false;
        this.maybeForget(key, s); // forgets it, or queues it again (at the back) if it is busy or was restamped
      }
      q.head++;
    }
    if (q.head >= q.keys.length) {
      q.keys = [];
      q.head = 0;
    } else if (q.head > 1024 && q.head * 2 > q.keys.length) {
      q.keys = q.keys.slice(q.head);
      q.head = 0;
    }
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
