/**
 * What the agent tells an observer (the gateway's Prometheus `Metrics`) about model calls and background jobs:
 * tokens used, failed provider attempts, compaction results. Kept free of heavy imports so `src/metrics` can
 * take the compaction result vocabulary from here (one source of truth) without loading the model client.
 *
 * Observer calls are fire-and-forget on the turn path: each one is guarded, so an observer that throws is
 * logged and never fails, retries differently or delays a turn or a job.
 */
import type { Logger } from '../log/index.js';
import type { ProviderErrorCode } from './errors.js';

/**
 * How one compaction job ended. `applied`: summary written; `discarded`: the summarized history changed
 * meanwhile (result stale); `nothing`: nothing old enough to summarize; `failed`: model or store error;
 * `timeout`: the job exceeded the quota's `timeoutMs`; `aborted`: superseded by an overflow compaction, the
 * lane drained, or the turn that ran it inline was stopped; `skipped`: refused by the quota (busy, cooldown,
 * attempts used up).
 */
export const COMPACTION_STATUSES = ['applied', 'discarded', 'nothing', 'failed', 'timeout', 'aborted', 'skipped'] as const;
/** One of `COMPACTION_STATUSES`. */
export type CompactionStatus = (typeof COMPACTION_STATUSES)[number];

/** Tokens of one model call, provider-reported (or the agent's estimate when the server reported none). */
export interface TokenCounts {
  prompt: number;
  completion: number;
}

/**
 * Optional observer of an agent (`AgentDeps.observer`). The gateway passes its `Metrics`, which satisfies this
 * structurally. Label values are bounded: configured model ids, catalog error codes, the statuses above.
 */
export interface AgentObserver {
  /**
   * A model call succeeded (turn, summary, classifier). Provider-reported usage; for a turn whose server sent
   * none, the agent's own estimate. Calls of a custom `summarize` / `classify` dependency are not seen.
   */
  tokens(model: string, usage: TokenCounts): void;
  /**
   * A provider attempt failed with this typed error. `retried`: another attempt followed, so the caller never
   * saw this error; `false`: it was the request's final error (including a context overflow the agent then
   * recovers from by compacting, and an empty answer). Aborts (stop, timeout of the run) are not errors.
   */
  providerError(code: ProviderErrorCode, model: string, retried: boolean): void;
  /** A compaction job (background or inline on overflow) ended, or was skipped by the quota. */
  compaction(result: CompactionStatus): void;
}

/** Runs one observer call; what it throws is logged, never propagated. */
export function notify(log: Logger, what: string, call: () => void): void {
  try {
    call();
  } catch (err) {
    log.warn({ err, observer: what }, 'agent observer threw; ignored');
  }
}

/** Wraps an observer so every call is guarded (see `notify`). Undefined in, undefined out. */
export function guardObserver(observer: AgentObserver | undefined, log: Logger): AgentObserver | undefined {
  if (observer === undefined) return undefined;
  return {
    tokens: (model, usage) => notify(log, 'tokens', () => observer.tokens(model, usage)),
    providerError: (code, model, retried) => notify(log, 'providerError', () => observer.providerError(code, model, retried)),
    compaction: (result) => notify(log, 'compaction', () => observer.compaction(result)),
  };
}
