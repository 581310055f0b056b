/**
 * Run-state webhooks: each committed run transition is POSTed as JSON to an operator's URL, signed with
 * HMAC-SHA256 over the raw body, retried with exponential backoff, delivered at least once (never more than
 * `maxAttempts` tries). A webhook never fails or delays a run: `send` is synchronous and O(1), it only
 * enqueues into a bounded in-memory queue; a full queue drops the oldest event and logs it.
 *
 * Receivers: verify `X-Switchyard-Signature: sha256=<hex>` over the exact body bytes; deduplicate by
 * `X-Switchyard-Delivery` (stable across retries of one event); order by `at` (events of different runs are
 * sent concurrently, and a retried event can arrive after a later one).
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { silentLogger } from '../log/index.js';
import { InvalidOptionError } from '../errors/index.js';
import type { RunState, RunTransition } from './store.js';

/** The JSON body of a run-state webhook. */
export interface RunStateEvent {
  runId: string;
  sessionKey: string;
  messageIds: string[];
  state: RunState;
  /** Null when the run was created. */
  previousState: RunState | null;
  /** When the transition happened (ms since the epoch). */
  at: number;
  attempt: number;
  error?: string;
}

/** Options of `RunStateWebhook`. */
export interface RunStateWebhookOptions {
  /** Where events are POSTed. */
  url: string;
  /** HMAC-SHA256 key. Never logged. */
  secret: string;
  /** Tries per event (first try included). Default 5. */
  maxAttempts?: number;
  /** Backoff before the 2nd try (ms); doubles each try, with jitter. Default 500. */
  baseDelayMs?: number;
  /** Longest backoff (ms). Default 30 s. */
  maxDelayMs?: number;
  /** One request's timeout (ms). Default 10 s. */
  timeoutMs?: number;
  /** Events waiting to be sent at most; beyond it the oldest is dropped. Default 1000. */
  queueLimit?: number;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  logger?: Logger;
  /** Jitter source in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** Counters of a webhook sender. */
export interface RunStateWebhookStats {
  queued: number;
  inFlight: number;
  delivered: number;
  /** Gave up after `maxAttempts`, or the receiver refused it (4xx). */
  failed: number;
  /** Dropped because the queue was full or the sender closed. */
  dropped: number;
}

interface Job {
  id: string;
  body: string;
  runId: string;
}

/** Sends run-state webhooks for one channel (see the file comment). */
export class RunStateWebhook {
  /** Pass as the store's `onRunTransition` (or call from one). */
  readonly onTransition = (t: RunTransition): void => this.send(t);
  private readonly url: URL;
  private readonly secret: string;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly queueLimit: number;
  private readonly concurrency: number;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly queue: Job[] = [];
  private readonly closing = new AbortController();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly counters = { delivered: 0, failed: 0, dropped: 0 };
  private inFlight = 0;

  constructor(options: RunStateWebhookOptions) {
    try {
      this.url = new URL(options.url);
    } catch {
      throw new InvalidOptionError('webhook.url', 'an absolute http(s) URL', options.url);
    }
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new InvalidOptionError('webhook.url', 'an http(s) URL', options.url);
    if (typeof options.secret !== 'string' || options.secret.length === 0) throw new InvalidOptionError('webhook.secret', 'a non-empty string', '[redacted]');
    this.secret = options.secret;
    this.maxAttempts = int('webhook.maxAttempts', options.maxAttempts ?? 5, 1);
    this.baseDelayMs = int('webhook.baseDelayMs', options.baseDelayMs ?? 500, 0);
    this.maxDelayMs = int('webhook.maxDelayMs', options.maxDelayMs ?? 30_000, 0);
    this.timeoutMs = int('webhook.timeoutMs', options.timeoutMs ?? 10_000, 1);
    this.queueLimit = int('webhook.queueLimit', options.queueLimit ?? 1000, 1);
    this.concurrency = int('webhook.concurrency', options.concurrency ?? 4, 1);
    this.log = options.logger ?? silentLogger;
    this.random = options.random ?? Math.random;
  }

  /** Queues the event of one transition. Synchronous, never throws, never waits. */
  send(transition: RunTransition): void {
    if (this.closing.signal.aborted) {
      this.counters.dropped++;
      return;
    }
    const { run, previousState } = transition;
    const event: RunStateEvent = {
      runId: run.runId,
      sessionKey: run.sessionKey,
      messageIds: run.messageIds,
      state: run.state,
      previousState: previousState ?? null,
      at: run.updatedAt,
      attempt: run.attempt,
      ...(run.error === undefined ? {} : { error: run.error }),
    };
    if (this.queue.length >= this.queueLimit) {
      const dropped = this.queue.shift()!;
      this.counters.dropped++;
      this.log.warn({ runId: dropped.runId, queueLimit: this.queueLimit }, 'webhook queue full: oldest event dropped');
    }
    this.queue.push({ id: randomUUID(), body: JSON.stringify(event), runId: run.runId });
    this.pump();
  }

  /** Current counters. */
  stats(): RunStateWebhookStats {
    return { queued: this.queue.length, inFlight: this.inFlight, ...this.counters };
  }

  /** Resolves once nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops: waits up to `deadlineMs` (default 5 s) for queued events, then aborts what is left (counted as
   * dropped). New events after `close` are dropped.
   */
  async close(options: { deadlineMs?: number } = {}): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.deadlineMs ?? 5_000);
      timer.unref();
    });
    try {
      await Promise.race([this.idle(), deadline]);
    } finally {
      clearTimeout(timer);
    }
    this.counters.dropped += this.queue.length;
    this.queue.length = 0;
    this.closing.abort();
    await this.idle();
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.inFlight++;
      void this.deliver(job).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.queue.length === 0 && this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  /** Tries one event up to `maxAttempts` times. Never rejects. */
  private async deliver(job: Job): Promise<void> {
    const signature = `sha256=${createHmac('sha256', this.secret).update(job.body).digest('hex')}`;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (this.closing.signal.aborted) {
        this.counters.dropped++;
        return;
      }
      const verdict = await this.post(job, signature, attempt);
      if (verdict.kind === 'ok') {
        this.counters.delivered++;
        return;
      }
      if (verdict.kind === 'refused' || attempt === this.maxAttempts) {
        this.counters.failed++;
        this.log.warn({ runId: job.runId, attempts: attempt, reason: verdict.reason, url: this.url.origin }, 'run-state webhook not delivered');
        return;
      }
      const delay = verdict.retryAfterMs ?? this.backoff(attempt);
      this.log.debug({ runId: job.runId, attempt, delay, reason: verdict.reason }, 'run-state webhook retry');
      await sleep(delay, this.closing.signal);
    }
  }

  private async post(job: Job, signature: string, attempt: number): Promise<{ kind: 'ok' } | { kind: 'retry' | 'refused'; reason: string; retryAfterMs?: number }> {
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.timeoutMs)]);
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Switchyard-Webhook/1',
          'x-switchyard-event': 'run.state',
          'x-switchyard-delivery': job.id,
          'x-switchyard-attempt': String(attempt),
          'x-switchyard-signature': signature,
        },
        body: job.body,
        signal,
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return { kind: 'ok' };
      const reason = `HTTP ${res.status}`;
      if (res.status === 408 || res.status === 429 || res.status >= 500) {
        const retryAfter = Number(res.headers.get('retry-after'));
        return Number.isFinite(retryAfter) && retryAfter > 0
          ? { kind: 'retry', reason, retryAfterMs: Math.min(retryAfter * 1000, this.maxDelayMs) }
          : { kind: 'retry', reason };
      }
      return { kind: 'refused', reason };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const reason = e.name === 'TimeoutError' ? `timeout after ${this.timeoutMs} ms` : (e.cause?.code ?? e.message);
      return { kind: 'retry', reason };
    }
  }

  /** Exponential backoff with jitter: base · 2^(attempt-1), capped, times [0.5, 1). */
  private backoff(attempt: number): number {
    const raw = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(raw * (0.5 + this.random() / 2));
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}

function int(option: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new InvalidOptionError(option, `an integer >= ${min}`, value);
  return value;
}
