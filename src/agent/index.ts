/**
 * Public surface of `src/agent`: LLM turns (streamed, cancellable, retried), context accounting, compaction
 * under quota, post-turn scoring and pins, and the `drain-by-model` lane policy.
 *
 * Wiring (composition root):
 * ```ts
 * warmTokenizer();
 * const agent = createAgent({ config, memory: store, openReply: openReplyVia(adapterOf), lane: (n) => scheduler.lane(n), observer: metrics });
 * const scheduler = new Scheduler({ run: agent.run, contextRatio: agent.contextRatio, ... });
 * ```
 */

// ── For the composition root ─────────────────────────────────────────────────────────────────────────
export { createAgent, createTurnRunner, type Agent, type AgentDeps, type AgentStats, type TurnTiming } from './runner.js';
export { resolveAgentConfig, type AgentConfig, type AgentProviderConfig, type ResolvedAgentConfig } from './config.js';
export { agentRouter, type AgentRouter } from './router.js';
export { replyTargetOf, openReplyVia } from './reply-target.js';
export { pinCommands, type PinCommands, type PinCommandOptions } from './pins.js';
export { DrainByModelPolicy, type DrainByModelOptions } from './drain-by-model.js';
export { warmTokenizer } from './tokens.js';
export type { AgentMemory, BackgroundLane, BackgroundJobOptions } from './types.js';
export { COMPACTION_STATUSES, type AgentObserver, type TokenCounts } from './observer.js';

// ── Errors (match on `code`) ──────────────────────────────────────────────────────────────────────────
export {
  ProviderError,
  ProviderConnectionError,
  ProviderTimeoutError,
  ProviderHttpError,
  ProviderAuthError,
  ProviderRateLimitError,
  ProviderBadResponseError,
  ContextOverflowError,
  CompactionError,
  QuotaExceededError,
  type ProviderErrorCode,
} from './errors.js';

// ── The model client, usable on its own ──────────────────────────────────────────────────────────────
export {
  ProviderClient,
  abortableSleep,
  type ProviderOptions,
  type ChatMessage,
  type ChatResult,
  type ChatRequestOptions,
  type TokenUsage,
} from './provider.js';
export {
  classifyError,
  retryDelay,
  retryAfterMs,
  isContextOverflow,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  type ErrorVerdict,
  type HeaderSource,
} from './retry.js';
export { ChatHttpClient, ChatApiError, type ChatHttpOptions, type ChatCall, type ChatCallHandlers } from './chat-http.js';
export { SseParser, type SseListener } from './sse.js';

// ── Building blocks (custom wiring, tests) ───────────────────────────────────────────────────────────
export { ContextMeter, type ContextMeterOptions } from './context-meter.js';
export { tiktokenCounter, charCounter, messageTokens, type TokenCounter } from './tokens.js';
export {
  Compactor,
  planCompaction,
  type CompactorOptions,
  type CompactionOutcome,
  type CompactionStatus,
  type CompactionPlan,
  type Summarizer,
  type SummarizeInput,
} from './compaction.js';
export { defaultSummarizer, type DefaultSummarizerOptions } from './summarizer.js';
export { JobQuota, type JobQuotaOptions, type QuotaRefusal, type QuotaSnapshot } from './quota.js';
export { TurnScorer, parseScore, scoringPrompt, type TurnScore, type ScoringOutcome, type ClassifierCall, type TurnScorerOptions } from './scoring.js';
export { buildPrompt, renderTurn, renderMessageText, type PromptInput } from './prompt.js';
