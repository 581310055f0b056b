/**
 * Token counting without network: js-tiktoken with the bundled `cl100k_base` ranks (a fair estimate for
 * most open models too; `ContextMeter` calibrates it against the provider's reported `prompt_tokens`).
 * The ranks take ~0.3 s to load, so the encoder is built once per process, on first use or by `warmTokenizer`.
 *
 * BPE merging in js-tiktoken is quadratic in the length of one pre-tokenizer piece, and cl100k's pieces
 * (a run of letters, of punctuation, of whitespace) are unbounded: one 15k-letter "word" froze the event loop
 * for ~16 s. Runs longer than {@link MAX_PIECE_CHARS} are therefore counted in slices of that size; BPE merges
 * rarely span 64 characters, so the estimate stays within about 1 % of the exact count (measured on random letters).
 */
import { createRequire } from 'node:module';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';

/**
 * The ranks are a 1 MB module: required (synchronously, the counter's API is sync) on first use only, so a
 * gateway nobody has talked to yet never holds them. Plain data, so the CommonJS copy is as good as the ESM one.
 */
const requireRanks = createRequire(import.meta.url);

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
  encoder ??= new Tiktoken(requireRanks('js-tiktoken/ranks/cl100k_base') as TiktokenBPE);
}

/** Longest run counted in one BPE call (see the module comment). */
export const MAX_PIECE_CHARS = 64;

/** Runs the cl100k pre-tokenizer would keep whole however long they are: letters, punctuation, whitespace. */
const LONG_RUN = new RegExp(
  `\\p{L}{${MAX_PIECE_CHARS + 1},}|[^\\s\\p{L}\\p{N}]{${MAX_PIECE_CHARS + 1},}|\\s{${MAX_PIECE_CHARS + 1},}`,
  'gu',
);

function encodeLength(text: string): number {
  return text.length === 0 ? 0 : encoder!.encode(text).length;
}

/** Counts one long run in slices of MAX_PIECE_CHARS code units, never cutting a surrogate pair. */
function countLongRun(run: string): number {
  let total = 0;
  for (let start = 0; start < run.length; ) {
    let end = Math.min(run.length, start + MAX_PIECE_CHARS);
    const code = run.charCodeAt(end - 1);
    if (end < run.length && code >= 0xd800 && code <= 0xdbff) end -= 1; // keep the pair together
    total += encodeLength(run.slice(start, end));
    start = end;
  }
  return total;
}

/** The process-wide tiktoken counter (cl100k_base), linear in the text's length. */
export const tiktokenCounter: TokenCounter = {
  count(text: string): number {
    if (text.length === 0) return 0;
    warmTokenizer();
    let total = 0;
    let last = 0;
    for (const match of text.matchAll(LONG_RUN)) {
      total += encodeLength(text.slice(last, match.index)) + countLongRun(match[0]);
      last = match.index + match[0].length;
    }
    return total + encodeLength(text.slice(last));
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
