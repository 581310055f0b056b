/**
 * Token counting without network: js-tiktoken with the bundled `cl100k_base` ranks (a fair estimate for
 * most open models too; `ContextMeter` calibrates it against the provider's reported `prompt_tokens`).
 * The ranks take ~0.3 s to load, so the encoder is built once per process, on first use or by `warmTokenizer`.
 *
 * BPE merging in js-tiktoken is quadratic in the length of one pre-tokenizer piece, and cl100k's pieces
 * (a run of letters, of punctuation, of whitespace) are unbounded: one 15k-letter "word" froze the event loop
 * for ~16 s. Runs longer than {@link MAX_PIECE_CHARS} are therefore counted in slices of that size; BPE merges
 * rarely span 64 characters, so the estimate stays within about 1 % of the exact count (measured on random letters).
 *
 * Only the count is needed, so the counter does not call `encode` per text: that call compiles three regular
 * expressions, builds two Sets and a token array (~50 µs and ~1 KB for a short chat message). It splits the text
 * with cl100k's own pre-tokenizer pattern and counts each piece by the same byte-pair merge `encode` runs, over
 * the encoder's rank table; a piece's count is remembered (pieces are words, numbers, punctuation: they repeat),
 * so a typical message costs a few map lookups. The count equals `encode(text, [], []).length` (tested): text that
 * looks like a special token (`<|endoftext|>`) is counted as ordinary text, where `encode(text)` threw.
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

/** The loaded encoder and what counting needs of it. */
interface Loaded {
  encoder: Tiktoken;
  /** cl100k's pre-tokenizer (the ranks' `pat_str`); sticky-free, reset before each use (counting is synchronous). */
  pieces: RegExp;
  /** The encoder's rank table, keyed by the comma-joined bytes of a token; undefined if a js-tiktoken version hides it. */
  ranks: Map<string, number> | undefined;
}

let loaded: Loaded | undefined;

/** Loads the encoder now (call at startup so the first turn does not pay ~0.3 s). */
export function warmTokenizer(): void {
  if (loaded !== undefined) return;
  const bpe = requireRanks('js-tiktoken/ranks/cl100k_base') as TiktokenBPE;
  const encoder = new Tiktoken(bpe);
  // `rankMap` is js-tiktoken's internal table (1.0.x); without it each new piece is counted by `encode`.
  const ranks = (encoder as unknown as { rankMap?: unknown }).rankMap;
  // The decode table (rank -> bytes) is 100k Uint8Arrays, each with its own ArrayBuffer, that every major GC
  // marks and sweeps; counting never decodes, so it is dropped (js-tiktoken 1.0.x `textMap`; `decode` would
  // then return nothing, and nothing here calls it).
  const decodeTable = (encoder as unknown as { textMap?: unknown }).textMap;
  if (decodeTable instanceof Map) decodeTable.clear();
  loaded = { encoder, pieces: new RegExp(bpe.pat_str, 'gu'), ranks: ranks instanceof Map ? (ranks as Map<string, number>) : undefined };
}

/** Pieces whose counts are remembered, at most; the memo starts over when full. */
const MEMO_PIECES = 16_384;
/** Longer pieces are counted every time (rare, and not worth the memory). */
const MEMO_PIECE_CHARS = 32;
/** Token count of a pre-tokenizer piece. A pure function of the piece (the ranks never change): never stale. */
const pieceMemo = new Map<string, number>();
const utf8 = new TextEncoder();

/** Tokens of one piece: the byte-pair merge of js-tiktoken's `bytePairMerge`, counting parts instead of listing them. */
function mergeCount(bytes: Uint8Array, ranks: Map<string, number>): number {
  if (bytes.length <= 1 || ranks.has(bytes.join(','))) return Math.min(1, bytes.length);
  // Part boundaries; merging two neighbours removes the boundary between them (lowest rank first, leftmost on ties).
  const bounds: number[] = [];
  for (let i = 0; i <= bytes.length; i++) bounds.push(i);
  while (bounds.length > 2) {
    let best = Number.POSITIVE_INFINITY;
    let at = -1;
    for (let i = 0; i + 2 < bounds.length; i++) {
      const rank = ranks.get(bytes.subarray(bounds[i]!, bounds[i + 2]!).join(','));
      if (rank !== undefined && rank < best) {
        best = rank;
        at = i;
      }
    }
    if (at < 0) break;
    bounds.splice(at + 1, 1);
  }
  return bounds.length - 1;
}

function pieceCount(piece: string, l: Loaded): number {
  const memo = piece.length <= MEMO_PIECE_CHARS;
  let n = memo ? pieceMemo.get(piece) : undefined;
  if (n !== undefined) return n;
  n = l.ranks === undefined ? l.encoder.encode(piece, [], []).length : mergeCount(utf8.encode(piece), l.ranks);
  if (memo) {
    if (pieceMemo.size >= MEMO_PIECES) pieceMemo.clear();
    pieceMemo.set(piece, n);
  }
  return n;
}

/** Longest run counted in one BPE call (see the module comment). */
export const MAX_PIECE_CHARS = 64;

/** Runs the cl100k pre-tokenizer would keep whole however long they are: letters, punctuation, whitespace. */
const LONG_RUN = new RegExp(
  `\\p{L}{${MAX_PIECE_CHARS + 1},}|[^\\s\\p{L}\\p{N}]{${MAX_PIECE_CHARS + 1},}|\\s{${MAX_PIECE_CHARS + 1},}`,
  'gu',
);

/** `encode(text, [], []).length`, without the token array (see the module comment). */
function encodeLength(text: string): number {
  if (text.length === 0) return 0;
  const l = loaded!;
  const re = l.pieces;
  re.lastIndex = 0;
  let total = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[0].length === 0) re.lastIndex += 1; // cl100k's pattern never matches empty; never spin if one did
    else total += pieceCount(m[0], l);
  }
  return total;
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
