/**
 * Code-fence scanning for Markdown text (CommonMark fenced code blocks: ``` or ~~~, three or more, up to three
 * spaces of indentation). Internal to `src/outbound`: the chunker needs to know, for every offset, whether it
 * lies inside a fenced block, so that it never cuts one without closing and reopening it.
 */

/** One fenced code block, by character offsets into the source text. */
export interface FenceSpan {
  /** Offset of the first character of the opening fence line. */
  readonly openStart: number;
  /** Offset just after the opening line's newline: the first character of the body. */
  readonly bodyStart: number;
  /**
   * Offset of the first character of the closing fence line; `text.length` when the fence is never closed
   * (a truncated model answer).
   */
  readonly closeLineStart: number;
  /** Offset just after the closing line's newline (or its last character at end of text). */
  readonly closeEnd: number;
  /** The fence characters as written (` ``` `, `~~~~`). */
  readonly marker: string;
  /** The info string (language), trimmed; `''` when none. */
  readonly info: string;
  /** Whether the source closes the fence. */
  readonly closed: boolean;
}

const OPEN_RE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const CLOSE_RE = /^ {0,3}(`{3,}|~{3,})[ \t]*$/;

/** Finds every fenced code block of `text`, in order. Unclosed fences run to the end of the text. */
export function scanFences(text: string): FenceSpan[] {
  const spans: FenceSpan[] = [];
  let open: { openStart: number; bodyStart: number; marker: string; info: string } | undefined;
  let lineStart = 0;
  while (lineStart <= text.length) {
    const nl = text.indexOf('\n', lineStart);
    const lineEnd = nl === -1 ? text.length : nl;
    const next = nl === -1 ? text.length : nl + 1;
    const line = text.slice(lineStart, lineEnd).replace(/\r$/, '');
    if (open === undefined) {
      const m = OPEN_RE.exec(line);
      // A backtick fence's info string may not contain backticks (CommonMark), or it is inline code.
      if (m && !(m[1]!.startsWith('`') && m[2]!.includes('`'))) {
        open = { openStart: lineStart, bodyStart: next, marker: m[1]!, info: m[2]!.trim() };
      }
    } else {
      const m = CLOSE_RE.exec(line);
      if (m && m[1]![0] === open.marker[0] && m[1]!.length >= open.marker.length) {
        spans.push({ ...open, closeLineStart: lineStart, closeEnd: next, closed: true });
        open = undefined;
      }
    }
    if (nl === -1) break;
    lineStart = next;
  }
  if (open !== undefined) {
    spans.push({ ...open, closeLineStart: text.length, closeEnd: text.length, closed: false });
  }
  return spans;
}
