/**
 * The default compaction summarizer: non-streamed requests to the compaction model. The summary request must
 * itself fit the model's window, so the entries are folded in chunks of at most `budgetTokens`: the first
 * chunk is summarized, then each next chunk together with the summary so far. Each entry is also clipped, so
 * a single huge message cannot make a chunk overflow.
 */
import type { Summarizer, SummarizeInput } from './compaction.js';
import type { AgentObserver } from './observer.js';
import type { ProviderClient } from './provider.js';
import { messageTokens, type TokenCounter } from './tokens.js';

/** Longest part of one entry shown to the summarizer (characters). */
const ENTRY_CHARS = 4_000;

const INSTRUCTIONS = `You compact a chat conversation so it fits the model's context window.
Write a concise summary of the conversation below that keeps: facts about the participants, names, decisions,
commitments, open questions and what the user wants next. Fold the earlier summary in, if there is one.
Do not invent anything. Answer with the summary only.`;

function line(e: SummarizeInput['entries'][number]): string {
  const who = e.role === 'assistant' ? 'Assistant' : e.name ? `User (${e.name})` : 'User';
  const text = e.content.length > ENTRY_CHARS ? `${e.content.slice(0, ENTRY_CHARS)}…` : e.content;
  return `${who}: ${text}`;
}

/** Builds the transcript the summarizer reads. Internal, exported for tests. */
export function transcript(input: Pick<SummarizeInput, 'previousSummary' | 'entries'>): string {
  const lines: string[] = [];
  if (input.previousSummary) lines.push(`Earlier summary:\n${input.previousSummary}\n`);
  for (const e of input.entries) lines.push(line(e));
  return lines.join('\n');
}

/** Options of `defaultSummarizer`. */
export interface DefaultSummarizerOptions {
  model: string;
  counter: TokenCounter;
  /** Most prompt tokens per summary request. */
  budgetTokens: number;
  /** `max_tokens` of a summary. Default 1024. */
  maxTokens?: number;
  /** Idle timeout of each summary request (ms); the job's own timeout still bounds the whole. Default: the client's. */
  timeoutMs?: number;
  /** Told each summary request's tokens and failed attempts (metrics). */
  observer?: Pick<AgentObserver, 'tokens' | 'providerError'> | undefined;
}

/** A summarizer backed by the provider, folding chunks that fit `budgetTokens`. */
export function defaultSummarizer(provider: ProviderClient, options: DefaultSummarizerOptions): Summarizer {
  const { model, counter } = options;
  const maxTokens = options.maxTokens ?? 1024;
  const fixed = messageTokens(counter, INSTRUCTIONS) + 16;
  return async (input, signal) => {
    let summary = input.previousSummary;
    let i = 0;
    const entries = input.entries;
    while (i < entries.length) {
      let used = fixed + (summary === undefined ? 0 : messageTokens(counter, summary));
      const chunk = [];
      // At least one entry per chunk (clipped to ENTRY_CHARS), so the loop always advances.
      while (i < entries.length) {
        const t = messageTokens(counter, line(entries[i]!));
        if (chunk.length > 0 && used + t > options.budgetTokens) break;
        chunk.push(entries[i]!);
        used += t;
        i += 1;
      }
      const res = await provider.chat(
        [
          { role: 'system', content: INSTRUCTIONS },
          { role: 'user', content: transcript({ previousSummary: summary, entries: chunk }) },
        ],
        { model, maxTokens, temperature: 0, signal, timeoutMs: options.timeoutMs, observer: options.observer },
      );
      summary = res.text.trim();
    }
    return summary ?? '';
  };
}
