/**
 * Compaction: summarizing a session's older turns into one summary entry, keeping the most recent
 * `keepRecentTokens` verbatim. Runs as a job in the background lane under a per-session `JobQuota` (one at a
 * time, cooldown between starts, timeout, attempts), so a long compaction never blocks or loses a message.
 *
 * Apply rule (why a result can be late but never wrong): the job remembers the history it summarized (the id
 * of the session's first context entry and the last summarized id). Before applying, it re-reads the history;
 * if that prefix is no longer there (another summary was applied, the history was reset), the result is
 * stale and discarded. Entries appended after the summarized prefix do not make it stale: the summary replaces
 * only what it covers. The write itself is the store's compare-and-set (`applySummary` with the latest id just
 * read), so a turn appending in between makes the write fail, and the job re-reads and retries (a few times).
 *
 * Failures (model error, timeout, abort on drain) are logged and counted by the quota; they never reach the
 * turn path. `compactNow` is the exception: a turn whose prompt overflowed runs it inline, skipping the cooldown.
 */
import { isSwitchyardError, toError } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { LeanAbortController } from '../signals/lean-abort.js';
import type { HistoryEntry } from '../store/index.js';
import { CompactionError, QuotaExceededError } from './errors.js';
import { notify, type AgentObserver, type CompactionStatus } from './observer.js';
import { JobQuota, type JobQuotaOptions, type QuotaRefusal } from './quota.js';
import { messageTokens, type TokenCounter } from './tokens.js';
import type { AgentMemory, BackgroundLane } from './types.js';

/** What a summarizer gets: the previous summary (if any) and the entries to fold into it. */
export interface SummarizeInput {
  sessionKey: string;
  previousSummary: string | undefined;
  entries: readonly HistoryEntry[];
}

/** Produces a summary text. Must honour `signal`. */
export type Summarizer = (input: SummarizeInput, signal: AbortSignal) => Promise<string>;

export { COMPACTION_STATUSES, type CompactionStatus } from './observer.js';

/** The result of a compaction request. */
export interface CompactionOutcome {
  status: CompactionStatus;
  /** For `skipped`: which quota rule. */
  refusal?: QuotaRefusal | undefined;
  /** For `failed`, `timeout`, `aborted`. */
  error?: Error | undefined;
  /** For `applied`: entries folded into the summary. */
  summarized?: number | undefined;
}

/** What the job decided to summarize. */
export interface CompactionPlan {
  previousSummary: string | undefined;
  entries: HistoryEntry[];
  /** Id of the session's first context entry when planned (the summary, or the oldest entry). */
  firstId: number;
  /** Last entry folded into the summary. */
  throughId: number;
  /** Tokens kept verbatim. */
  keptTokens: number;
}

/** Token count of an entry: stored figure, else an estimate. */
export function entryTokens(counter: TokenCounter, e: HistoryEntry): number {
  return e.tokens ?? messageTokens(counter, e.content);
}

/**
 * Splits a session's context into what to summarize and what to keep (the newest entries within
 * `keepRecentTokens`, starting at a user entry so a kept answer never loses its question). Undefined when
 * nothing older than the kept part exists. Pure.
 */
export function planCompaction(history: readonly HistoryEntry[], keepRecentTokens: number, counter: TokenCounter): CompactionPlan | undefined {
  const first = history[0];
  if (first === undefined) return undefined;
  const previousSummary = first.role === 'summary' ? first.content : undefined;
  const rest = first.role === 'summary' ? history.slice(1) : history.slice();
  let kept = 0;
  let cut = rest.length;
  while (cut > 0) {
    const t = entryTokens(counter, rest[cut - 1]!);
    if (kept + t > keepRecentTokens) break;
    kept += t;
    cut -= 1;
  }
  // Start the kept part at a user entry: move the cut earlier (keeping a little more) if needed.
  while (cut > 0 && cut < rest.length && rest[cut]!.role !== 'user') {
    cut -= 1;
    kept += entryTokens(counter, rest[cut]!);
  }
  if (cut === 0) return undefined;
  const entries = rest.slice(0, cut);
  return { previousSummary, entries, firstId: first.id, throughId: entries[entries.length - 1]!.id, keptTokens: kept };
}

/** Options of `Compactor`. */
export interface CompactorOptions {
  memory: AgentMemory;
  summarize: Summarizer;
  /** The lane background jobs run in (resolved at job time, so the Scheduler can be built after the agent). */
  lane: () => BackgroundLane;
  counter: TokenCounter;
  /** Newest tokens kept verbatim. */
  keepRecentTokens: number;
  quota?: JobQuotaOptions | undefined;
  /** Model of the summarizer, for `drain-by-model` lanes. */
  model?: string | undefined;
  now?: (() => number) | undefined;
  logger?: Logger | undefined;
  /** Told after a summary was applied (the meter re-estimates the session). */
  onApplied?: ((sessionKey: string) => void) | undefined;
  /** Told how every job ended, and every quota refusal (metrics). Guarded: a throw is logged and ignored. */
  observer?: Pick<AgentObserver, 'compaction'> | undefined;
}

/** How many times the apply step re-reads after losing the compare-and-set to a concurrent append. */
const APPLY_TRIES = 3;

/** Schedules and applies compactions under the per-session quota. */
export class Compactor {
  /** The quota (exposed for snapshots and tests). */
  readonly quota: JobQuota;
  private readonly running = new Map<string, { controller: AbortController | undefined; done: Promise<CompactionOutcome> }>();
  private readonly log: Logger;
  /** Compactions by how they ended, since start (for metrics). */
  readonly counts: Record<CompactionStatus, number> = { applied: 0, discarded: 0, nothing: 0, failed: 0, timeout: 0, aborted: 0, skipped: 0 };

  constructor(private readonly options: CompactorOptions) {
    this.quota = new JobQuota(options.quota, options.now ?? Date.now);
    this.log = options.logger ?? silentLogger;
  }

  /** Whether a compaction job of the session is in flight. */
  isRunning(sessionKey: string): boolean {
    return this.running.has(sessionKey);
  }

  /**
   * Starts a background compaction if the quota allows. Returns the job's outcome (never rejects), or a
   * `skipped` outcome at once. The caller does not wait for it on the turn path.
   */
  request(sessionKey: string): Promise<CompactionOutcome> {
    const refusal = this.quota.tryStart(sessionKey);
    if (refusal !== undefined) {
      this.log.debug({ sessionKey, refusal }, 'compaction refused by quota');
      return Promise.resolve(this.count({ status: 'skipped', refusal, error: new QuotaExceededError(sessionKey, refusal) }));
    }
    const controller = new LeanAbortController();
    let scheduled: Promise<CompactionOutcome>;
    try {
      scheduled = this.options.lane().schedule(sessionKey, (signal) => this.job(sessionKey, this.options.keepRecentTokens, signal), {
        timeoutMs: this.quota.timeoutMs,
        signal: controller.signal,
        ...(this.options.model === undefined ? {} : { model: this.options.model }),
      });
    } catch (err) {
      // No such lane (misconfiguration), draining scheduler: a failed attempt, never an exception on the turn path.
      scheduled = Promise.reject(err);
    }
    const done = scheduled
      .then(
        (outcome) => this.finish(sessionKey, outcome),
        (err: unknown) => this.finish(sessionKey, failure(err, controller.signal.aborted)),
      );
    this.running.set(sessionKey, { controller, done });
    return done;
  }

  /**
   * Compacts now, inline with the caller (a turn whose prompt overflowed): aborts a background job of the
   * session first (its result would be stale), skips the cooldown, keeps `keepRecentTokens` (default the
   * configured figure). Resolves with the outcome; rejects only with the caller's abort reason.
   */
  async compactNow(sessionKey: string, signal: AbortSignal, keepRecentTokens = this.options.keepRecentTokens): Promise<CompactionOutcome> {
    // Loop: another turn of the session may start a background job while we wait for the previous one.
    for (let inflight = this.running.get(sessionKey); inflight !== undefined; inflight = this.running.get(sessionKey)) {
      inflight.controller?.abort(new CompactionError(sessionKey, 'superseded by an overflow compaction'));
      await inflight.done;
      if (signal.aborted) throw toError(signal.reason);
    }
    if (signal.aborted) throw toError(signal.reason);
    const refusal = this.quota.tryStart(sessionKey, true);
    if (refusal !== undefined) return this.count({ status: 'skipped', refusal });
    // Runs under the turn's signal only: a concurrent overflow in the same session waits for it, never aborts it.
    const done = this.job(sessionKey, keepRecentTokens, signal).then(
      (o) => o,
      (err: unknown): CompactionOutcome => failure(err, signal.aborted),
    );
    this.running.set(sessionKey, { controller: undefined, done });
    const outcome = this.finish(sessionKey, await done);
    if (signal.aborted) throw toError(signal.reason);
    return outcome;
  }

  /** Counts an outcome and tells the observer. */
  private count(outcome: CompactionOutcome): CompactionOutcome {
    this.counts[outcome.status] += 1;
    const observer = this.options.observer;
    if (observer !== undefined) notify(this.log, 'compaction', () => observer.compaction(outcome.status));
    return outcome;
  }

  private finish(sessionKey: string, outcome: CompactionOutcome): CompactionOutcome {
    this.running.delete(sessionKey);
    this.count(outcome);
    const success = outcome.status === 'applied' || outcome.status === 'nothing';
    this.quota.finish(sessionKey, success);
    if (outcome.status === 'failed' || outcome.status === 'timeout') {
      this.log.warn({ sessionKey, err: outcome.error, failures: this.quota.snapshot(sessionKey).failures }, 'compaction failed');
    } else {
      this.log.debug({ sessionKey, status: outcome.status, summarized: outcome.summarized }, 'compaction finished');
    }
    if (outcome.status === 'applied') {
      try {
        this.options.onApplied?.(sessionKey);
      } catch (err) {
        this.log.error({ sessionKey, err }, 'onApplied hook threw');
      }
    }
    return outcome;
  }

  private async job(sessionKey: string, keepRecentTokens: number, signal: AbortSignal): Promise<CompactionOutcome> {
    const { memory, counter } = this.options;
    const history = await memory.history(sessionKey);
    const plan = planCompaction(history, keepRecentTokens, counter);
    if (plan === undefined) return { status: 'nothing' };
    const summary = (await this.options.summarize({ sessionKey, previousSummary: plan.previousSummary, entries: plan.entries }, signal)).trim();
    if (signal.aborted) throw toError(signal.reason);
    if (summary.length === 0) throw new CompactionError(sessionKey, 'the summarizer returned an empty summary');
    const tokens = messageTokens(counter, summary);
    for (let i = 0; i < APPLY_TRIES; i += 1) {
      const current = await memory.history(sessionKey);
      const last = current[current.length - 1];
      // Stale: the summarized prefix is gone (another summary applied, history reset).
      if (current[0]?.id !== plan.firstId || last === undefined || !current.some((e) => e.id === plan.throughId)) return { status: 'discarded' };
      if (signal.aborted) throw toError(signal.reason);
      const applied = await memory.applySummary(sessionKey, { content: summary, tokens, throughId: plan.throughId, expectedLastId: last.id });
      if (applied) return { status: 'applied', summarized: plan.entries.length };
    }
    return { status: 'discarded' };
  }
}

/**
 * The outcome of a job that threw: `timeout` when the lane's job timeout fired (`E_RUN_TIMEOUT`), `aborted`
 * when the caller aborted it (superseded, the inline turn stopped) or the lane drained, else `failed`.
 */
function failure(err: unknown, callerAborted: boolean): CompactionOutcome {
  const error = toError(err);
  if (isSwitchyardError(error, 'E_RUN_TIMEOUT') && !callerAborted) return { status: 'timeout', error };
  if (callerAborted || isSwitchyardError(error, 'E_RUN_ABORTED') || isSwitchyardError(error, 'E_DRAINING')) return { status: 'aborted', error };
  return { status: 'failed', error };
}
