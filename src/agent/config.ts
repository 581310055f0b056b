/**
 * Agent configuration: validated once, fully defaulted, frozen (grammY-style normalization). The YAML schema
 * in src/config mirrors `AgentConfig`; this module owns the defaults and the cross-field rules.
 */
import { InvalidOptionError } from '../errors/index.js';
import type { JobQuotaOptions } from './quota.js';

/** The provider block of an agent. */
export interface AgentProviderConfig {
  /** OpenAI-compatible base URL including `/v1`. */
  baseUrl: string;
  apiKey?: string | undefined;
  model: string;
  /** Silence allowed before the first byte and between stream chunks (ms). Default 60000. */
  timeoutMs?: number | undefined;
  /** Attempts per request for connection errors, 408, 429, 5xx. Default 3. */
  maxAttempts?: number | undefined;
  /** Ask for usage in streams. Default true. */
  includeUsage?: boolean | undefined;
}

/** One agent as configured (`agents.<name>` in the YAML). */
export interface AgentConfig {
  provider: AgentProviderConfig;
  /** Default `You are a helpful assistant.` */
  systemPrompt?: string | undefined;
  /** The model's context window (tokens). Default 8192. */
  contextWindow?: number | undefined;
  /** Tokens held back for the answer; `compactAt` defaults to `contextWindow - reserveTokens`. Default min(16384, window / 4). */
  reserveTokens?: number | undefined;
  /** Estimated prompt size (tokens) at which background compaction starts. */
  compactAt?: number | undefined;
  /** Newest tokens kept verbatim by compaction. Default min(20000, window * 0.3). */
  keepRecentTokens?: number | undefined;
  /** `max_tokens` of a reply. Default: not sent. */
  maxReplyTokens?: number | undefined;
  /** Compaction quota and model. */
  compaction?: (JobQuotaOptions & { enabled?: boolean | undefined; model?: string | undefined }) | undefined;
  /** Post-turn significance scoring. Default enabled with the agent's model. */
  classifier?: { enabled?: boolean | undefined; model?: string | undefined; timeoutMs?: number | undefined; autoCap?: number | undefined } | undefined;
  /** Lane of background jobs. Default `background`. */
  backgroundLane?: string | undefined;
}

/** `AgentConfig` with every default filled in. */
export interface ResolvedAgentConfig {
  readonly provider: Readonly<AgentProviderConfig>;
  readonly systemPrompt: string;
  readonly contextWindow: number;
  readonly compactAt: number;
  readonly keepRecentTokens: number;
  readonly maxReplyTokens: number | undefined;
  readonly compaction: Readonly<JobQuotaOptions & { enabled: boolean; model: string }>;
  readonly classifier: Readonly<{ enabled: boolean; model: string; timeoutMs: number; autoCap: number }>;
  readonly backgroundLane: string;
}

function int(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new InvalidOptionError(name, `an integer >= ${min}`, value);
  return value;
}

/** Validates and defaults an agent config. Throws `InvalidOptionError` naming the option. */
export function resolveAgentConfig(input: AgentConfig): ResolvedAgentConfig {
  if (typeof input !== 'object' || input === null) throw new InvalidOptionError('agent', 'an object', input);
  const p = input.provider;
  if (typeof p !== 'object' || p === null) throw new InvalidOptionError('agent.provider', 'an object with baseUrl and model', p);
  if (typeof p.model !== 'string' || p.model.length === 0) throw new InvalidOptionError('agent.provider.model', 'a model id', p.model);
  const contextWindow = int('agent.contextWindow', input.contextWindow, 8192, 256);
  const reserve = int('agent.reserveTokens', input.reserveTokens, Math.min(16_384, Math.floor(contextWindow / 4)), 0);
  if (reserve >= contextWindow) throw new InvalidOptionError('agent.reserveTokens', `less than contextWindow (${contextWindow})`, reserve);
  const compactAt = int('agent.compactAt', input.compactAt, contextWindow - reserve, 1);
  if (compactAt > contextWindow) throw new InvalidOptionError('agent.compactAt', `at most contextWindow (${contextWindow})`, compactAt);
  const keepRecentTokens = int('agent.keepRecentTokens', input.keepRecentTokens, Math.min(20_000, Math.floor(contextWindow * 0.3)), 0);
  if (keepRecentTokens >= compactAt) {
    throw new InvalidOptionError('agent.keepRecentTokens', `less than compactAt (${compactAt}), or compaction could never shrink the context`, keepRecentTokens);
  }
  const c = input.compaction ?? {};
  const k = input.classifier ?? {};
  return Object.freeze({
    provider: Object.freeze({ ...p }),
    systemPrompt: input.systemPrompt ?? 'You are a helpful assistant.',
    contextWindow,
    compactAt,
    keepRecentTokens,
    maxReplyTokens: input.maxReplyTokens === undefined ? undefined : int('agent.maxReplyTokens', input.maxReplyTokens, 0, 1),
    compaction: Object.freeze({ ...c, enabled: c.enabled ?? true, model: c.model ?? p.model }),
    classifier: Object.freeze({
      enabled: k.enabled ?? true,
      model: k.model ?? p.model,
      timeoutMs: int('agent.classifier.timeoutMs', k.timeoutMs, 60_000, 1),
      autoCap: int('agent.classifier.autoCap', k.autoCap, 8, 0),
    }),
    backgroundLane: input.backgroundLane ?? 'background',
  });
}
