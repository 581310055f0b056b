/**
 * Splits a Markdown reply into platform-sized messages (Telegram 4096, Discord 2000) without breaking what the
 * reader sees: cuts prefer paragraph, then line, then sentence, then word boundaries, and fall back to a hard
 * cut only inside a single over-long word. A cut never leaves a code fence open: when a fenced block must be
 * split, the chunk ends with a closing fence and the next chunk reopens it with the same info string, so both
 * halves render as code with the right highlighting.
 *
 * Invariants (property-tested): every chunk is at most `limit` characters; joining the `body` of the pieces
 * gives back the input exactly; every chunk's fences are balanced.
 */
import { InvalidOptionError } from '../errors/index.js';
import { scanFences, type FenceSpan } from './fences.js';

/** The smallest limit the chunker accepts: room for a reopened fence, some text and a closing fence. */
export const MIN_CHUNK_LIMIT = 16;

/** One chunk with its provenance: `text === reopen + body + close`. */
export interface ChunkPiece {
  /** What to send. */
  readonly text: string;
  /** The slice of the source this chunk carries (the bodies concatenate to the source). */
  readonly body: string;
  /** Fence line prepended because the chunk starts inside a code block (`'```ts\n'`), else `''`. */
  readonly reopen: string;
  /** Fence appended because the chunk ends inside a code block (`'\n```'`), else `''`. */
  readonly close: string;
}

/**
 * Splits Markdown into chunks of at most `limit` characters (UTF-16 code units, as platforms count them).
 * @example chunkMarkdown(reply, 4096).forEach((c) => send(c))
 */
export function chunkMarkdown(text: string, limit: number): string[] {
  // A short text without fence characters is its own single chunk (no fence to close): skip the fence map.
  if (text.length <= limit && text.length > 0 && Number.isInteger(limit) && limit >= MIN_CHUNK_LIMIT && !text.includes('```') && !text.includes('~~~')) {
    return [text];
  }
  return splitMarkdown(text, limit).map((p) => p.text);
}

/** Cut quality, best first. A cut is accepted at the best level that still fills a reasonable share of the chunk. */
const LEVELS = ['paragraph', 'line', 'codeLine', 'sentence', 'word', 'codeWord', 'hard'] as const;
type Level = (typeof LEVELS)[number];

/** A cut shorter than this share of the room is only taken when no better-filled cut exists. */
const MIN_FILL = 0.3;

/** Like `chunkMarkdown`, but returns each chunk with the fence markers it added (for tests and tooling). */
export function splitMarkdown(text: string, limit: number): ChunkPiece[] {
  if (!Number.isInteger(limit) || limit < MIN_CHUNK_LIMIT) {
    throw new InvalidOptionError('limit', `an integer >= ${MIN_CHUNK_LIMIT}`, limit);
  }
  if (text.length === 0) return [];
  const map = new FenceMap(text, limit);
  const pieces: ChunkPiece[] = [];
  let pos = 0;
  while (pos < text.length) {
    const reopen = map.reopenAt(pos);
    const fits = (c: number): boolean => reopen.length + (c - pos) + map.closeAt(c).length <= limit;
    if (fits(text.length)) {
      pieces.push(piece(reopen, text.slice(pos), map.closeAt(text.length)));
      break;
    }
    const cut = chooseCut(text, pos, limit - reopen.length, map, fits);
    pieces.push(piece(reopen, text.slice(pos, cut), map.closeAt(cut)));
    pos = cut;
  }
  return pieces;
}

function piece(reopen: string, body: string, close: string): ChunkPiece {
  return { text: reopen + body + close, body, reopen, close };
}

interface FenceInfo {
  readonly span: FenceSpan;
  /** Line that reopens the fence in the next chunk; `''` when the fence is handled as plain text. */
  readonly reopen: string;
  readonly close: string;
}

/**
 * The markers used to split a fence. A fence whose markers leave no room for content at this limit (absurdly
 * long info string) is reopened without its info string; if even that cannot fit, it is split as plain text.
 */
function fenceMarkers(span: FenceSpan, limit: number): { reopen: string; close: string } {
  const close = span.marker;
  // An opening line that does not fit in half a chunk cannot be kept whole: treat the block as text.
  if (span.bodyStart - span.openStart > limit / 2) return { reopen: '', close: '' };
  const withInfo = `${span.marker}${span.info}\n`;
  if (withInfo.length + close.length + 1 + 8 <= limit) return { reopen: withInfo, close };
  const bare = `${span.marker}\n`;
  if (bare.length + close.length + 1 + 8 <= limit) return { reopen: bare, close };
  return { reopen: '', close: '' };
}

const NONE = -1;

/**
 * Per-offset fence facts, computed once in O(n) so cut selection stays linear. Offsets are cut positions:
 * a cut at `c` ends a chunk before `text[c]` and starts the next one there.
 */
class FenceMap {
  private readonly fences: FenceInfo[];
  /** Fence whose body a chunk ending at `c` is inside: `(bodyStart, closeLineStart)`, or at the end of an unclosed fence. */
  private readonly endIn: Int32Array;
  /** Fence a chunk starting at `c` must reopen: `(bodyStart, closeLineStart)`. */
  private readonly startIn: Int32Array;
  /** 1 where a cut is forbidden: inside a fence line, or just before a closing line (an empty reopened block). */
  private readonly forbidden: Uint8Array;
  /** 1 at the edges of a fenced block: as good as a paragraph break. */
  private readonly edge: Uint8Array;

  constructor(private readonly text: string, limit: number) {
    const n = text.length;
    this.fences = scanFences(text).map((span) => ({ span, ...fenceMarkers(span, limit) }));
    this.endIn = new Int32Array(n + 1).fill(NONE);
    this.startIn = new Int32Array(n + 1).fill(NONE);
    this.forbidden = new Uint8Array(n + 1);
    this.edge = new Uint8Array(n + 1);
    this.fences.forEach((f, i) => {
      const s = f.span;
      this.edge[s.openStart] = 1;
      if (s.closed) this.edge[s.closeEnd] = 1;
      if (f.reopen === '') return; // handled as plain text
      for (let c = s.bodyStart + 1; c < s.closeLineStart; c++) {
        this.endIn[c] = i;
        this.startIn[c] = i;
      }
      if (!s.closed) this.endIn[s.closeLineStart] = i;
      // Opening line (unless the body is empty), and the closing line including its start.
      if (s.bodyStart < s.closeLineStart) for (let c = s.openStart + 1; c <= s.bodyStart; c++) this.forbidden[c] = 1;
      if (s.closed) for (let c = s.closeLineStart; c < s.closeEnd; c++) this.forbidden[c] = 1;
    });
  }

  reopenAt(c: number): string {
    const i = this.startIn[c]!;
    return i === NONE ? '' : this.fences[i]!.reopen;
  }

  closeAt(c: number): string {
    const i = this.endIn[c]!;
    if (i === NONE) return '';
    const close = this.fences[i]!.close;
    return this.text[c - 1] === '\n' || c === 0 ? close : `\n${close}`;
  }

  inFence(c: number): boolean {
    return this.endIn[c]! !== NONE;
  }

  isEdge(c: number): boolean {
    return this.edge[c] === 1;
  }

  allowed(c: number): boolean {
    return this.forbidden[c] === 0;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
}

/** Classifies a candidate cut at `c` (the chunk is `text[pos, c)`), or undefined when it is no boundary. */
function levelOf(text: string, c: number, inFence: boolean, fenceEdge: boolean): Level | undefined {
  const prev = text[c - 1];
  if (fenceEdge) return 'paragraph';
  if (prev === '\n') {
    if (inFence) return 'codeLine';
    return text[c - 2] === '\n' || (text[c - 2] === '\r' && text[c - 3] === '\n') ? 'paragraph' : 'line';
  }
  if ((prev === ' ' || prev === '\t') && !isSpace(text[c])) {
    if (inFence) return 'codeWord';
    // Sentence end: `.`, `!`, `?` (optionally closed by a quote or bracket), then the space.
    let k = c - 2;
    while (k >= 0 && (text[k] === ' ' || text[k] === '\t')) k--;
    while (k >= 0 && /["')\]»”’]/.test(text[k]!)) k--;
    return k >= 0 && /[.!?…]/.test(text[k]!) ? 'sentence' : 'word';
  }
  return undefined;
}

function chooseCut(text: string, pos: number, room: number, map: FenceMap, fits: (c: number) => boolean): number {
  const best = new Map<Level, number>();
  const max = Math.min(text.length, pos + room);
  const minLen = Math.floor(room * MIN_FILL);
  let hard: number | undefined;
  for (let c = max; c > pos; c--) {
    // Below the fill threshold only a fallback is wanted; stop once one exists.
    if (c - pos < minLen && best.size > 0) break;
    const prev = text.charCodeAt(c - 1);
    const boundary = prev === 10 || prev === 32 || prev === 9 || map.isEdge(c);
    if (!boundary && hard !== undefined) continue; // cheap path: most offsets are inside a word
    if (!map.allowed(c) || !fits(c)) continue;
    if (isHighSurrogate(prev)) continue; // never split a surrogate pair
    hard ??= c;
    if (!boundary) continue;
    const level = levelOf(text, c, map.inFence(c), map.isEdge(c));
    if (level !== undefined && !best.has(level)) best.set(level, c);
    // The best level at the largest offset that fills enough: nothing further down can beat it.
    if (level === 'paragraph' && c - pos >= minLen) return c;
  }
  if (hard !== undefined) best.set('hard', hard);
  for (const level of LEVELS) {
    const c = best.get(level);
    if (c !== undefined && c - pos >= minLen) return c;
  }
  for (const level of LEVELS) {
    const c = best.get(level);
    if (c !== undefined) return c;
  }
  // Nothing fits (cannot happen with limit >= MIN_CHUNK_LIMIT): take one code unit so the loop progresses.
  return pos + 1;
}
