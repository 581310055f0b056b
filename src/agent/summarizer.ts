/**
 * The default compaction summarizer: one non-streamed request to the compaction model. Each entry is clipped
 * so a single huge message cannot make the summary request itself overflow.
 */
import type { Summarizer } from './compaction.js';
import type { ProviderClient } from './provider.js';

/** Longest part of one entry shown to the summarizer (characters). */
const ENTRY_CHARS = 4_000;

const INSTRUCTIONS = `You compact a chat conversation so it fits the model's context window.
Write a concise summary of the conversation below that keeps: facts about the participants, names, decisions,
commitments, open questions and what the user wants next. Fold the earlier summary in, if there is one.
Do not invent anything. Answer with the summary only.`;

/** Builds the transcript the summarizer reads. Internal, exported for tests. */
export function transcript(input: Parameters<Summarizer>[0]): string {
  const lines: string[] = [];
  if (input.previousSummary) lines.push(`Earlier summary:\n${input.previousSummary}\n`);
  for (const e of input.entries) {
    const who = e.role === 'assistant' ? 'Assistant' : e.name ? `User (${e.name})` : 'User';
    const text = e.content.length > ENTRY_CHARS ? `${e.content.slice(0, ENTRY_CHARS)}…` : e.content;
    lines.push(`${who}: ${text}`);
  }
  return lines.join('\n');
}

/** A summarizer backed by the provider. */
export function defaultSummarizer(provider: ProviderClient, model: string, maxTokens = 1024): Summarizer {
  return async (input, signal) => {
    const res = await provider.chat(
      [
        { role: 'system', content: INSTRUCTIONS },
        { role: 'user', content: transcript(input) },
      ],
      { model, maxTokens, temperature: 0, signal },
    );
    return res.text;
  };
}
