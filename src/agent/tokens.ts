/**
 * Token counting without network: js-tiktoken with the bundled `cl100k_base` ranks (a fair estimate for
 * most open models too; `ContextMeter` calibrates it against the provider's reported `prompt_tokens`).
 * The ranks take ~0.3 s to load, so the encoder is built once per process, on first use or by `warmTokenizer`.
 */
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';

/** Counts tokens of a text. An interface so tests and exotic models can plug in their own. */
export interface TokenCounter {
  count(text: string): number;
}

/** Chat Completions framing per message (role, separators), as OpenAI documents for cl100k models. */
export const MESSAGE_OVERHEAD_TOKENS = 4;
/** Framing per request (the assistant priming). */
export const REQUEST_OVERHEAD_TOKENS = 3;

let encoder: Tiktoken | undefined;

/** Loads the encoder now (call at startup so the first turn does not pay ~0.3 s). */
export function warmTokenizer(): void {
  encoder ??= new Tiktoken(cl100k);
}

/** The process-wide tiktoken counter (cl100k_base). */
export const tiktokenCounter: TokenCounter = {
  count(text: string): number {
    if (text.length === 0) return 0;
    warmTokenizer();
    return encoder!.encode(text).length;
  },
};

/** A counter of characters / 4: no load time; for tests and benchmarks that must not measure the tokenizer. */
export const charCounter: TokenCounter = {
  count: (text) => Math.ceil(text.length / 4),
};

/** Tokens one prompt message costs: its content plus the framing. */
export function messageTokens(counter: TokenCounter, content: string): number {
  return counter.count(content) + MESSAGE_OVERHEAD_TOKENS;
}
