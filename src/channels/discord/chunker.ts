/**
 * The chunker the adapter uses. PROVISIONAL: the shared `chunkMarkdown(text, limit)` lives in `src/outbound`
 * (branch `telegram`); until it lands this file holds a small fence-safe splitter with the same signature, and
 * becomes `export { chunkMarkdown } from '../../outbound/index.js'` once merged. Internal.
 */

/**
 * Splits `text` into chunks of at most `limit` characters, preferring paragraph, line, sentence and word
 * boundaries; a code fence open at a split is closed at the end of the chunk and reopened (same info string)
 * at the start of the next, so every chunk renders on its own.
 */
export function chunkMarkdown(text: string, limit: number): string[] {
  const out: string[] = [];
  let rest = text;
  let reopen = '';
  while (rest.length > 0) {
    const room = limit - reopen.length - 4; // keep room for "\n```" when the chunk must close a fence
    if (reopen.length + rest.length <= limit) {
      out.push(reopen + rest);
      break;
    }
    const window = rest.slice(0, room);
    let cut = -1;
    for (const re of [/\n\n(?![\s\S]*\n\n)/, /\n(?![\s\S]*\n)/, /[.!?]\s(?![\s\S]*[.!?]\s)/, /\s(?![\s\S]*\s)/]) {
      const m = re.exec(window);
      if (m && m.index > room / 2) {
        cut = m.index + m[0].length;
        break;
      }
    }
    if (cut <= 0) cut = room;
    let piece = reopen + rest.slice(0, cut);
    rest = rest.slice(cut);
    const fence = openFence(piece);
    if (fence !== undefined) {
      piece = piece.replace(/\n?$/, '\n```');
      reopen = `${fence}\n`;
    } else {
      reopen = '';
    }
    if (piece.trim() !== '') out.push(piece.trimEnd());
  }
  return out;
}

/** The opening fence line (e.g. "```ts") if `text` ends inside a code block. */
function openFence(text: string): string | undefined {
  let open: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^\s*(```+|~~~+)(.*)$/.exec(line);
    if (!m) continue;
    open = open === undefined ? `${m[1]}${m[2]!.trim()}` : undefined;
  }
  return open;
}
