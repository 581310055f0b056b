/**
 * Public surface of `src/agent`: LLM turns (streamed, cancellable, retried), context accounting, compaction
 * under quota, post-turn scoring and pins, and the `drain-by-model` lane policy.
 *
 * Wiring (composition root):
 * ```ts
 * const agent = createAgent({ config, memory: store, openReply, lane: (n) => scheduler.lane(n) });
 * const scheduler = new Scheduler({ run: agent.run, contextRatio: agent.contextRatio, ... });
 * ```
 */
export { createAgent, createTurnRunner, type Agent, type AgentDeps, type AgentStats, type TurnTiming } from './runner.js';
export { resolveAgentConfig, type AgentConfig, type AgentProviderConfig, type ResolvedAgentConfig } from './config.js';
export {
  ProviderClient,
  abortableSleep,
  type ProviderOptions,
  type ChatMessage,
  type ChatResult,
  type ChatRequestOptions,
  type TokenUsage,
} from './provider.js';
export { classifyError, retryDelay, retryAfterMs, isContextOverflow, DEFAULT_RETRY_POLICY, type RetryPolicy, type ErrorVerdict } from './retry.js';
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
export { ContextMeter, type ContextMeterOptions } from './context-meter.js';
export { tiktokenCounter, charCounter, warmTokenizer, messageTokens, type TokenCounter } from './tokens.js';
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
export { pinCommands, type PinCommands, type PinCommandOptions } from './pins.js';
export { buildPrompt, renderTurn, renderMessageText, type PromptInput } from './prompt.js';
export { DrainByModelPolicy, type DrainByModelOptions } from './drain-by-model.js';
export { replyTargetOf, openReplyVia } from './reply-target.js';
export { agentRouter, type AgentRouter } from './router.js';
export type { AgentMemory, BackgroundLane, BackgroundJobOptions } from './types.js';
