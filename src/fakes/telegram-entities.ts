/**
 * How the fake Bot API parses `parse_mode` text: close enough to Telegram to reject what Telegram rejects
 * (unknown or unbalanced HTML tags, unclosed legacy Markdown entities, unescaped MarkdownV2 reserved
 * characters) and to measure a message's length *after* entity parsing, which is what the 4096 limit counts.
 * Internal to the fake.
 */

/** The result of parsing: the visible text, or Telegram's error description. */
export type EntityParse = { ok: true; visible: string } | { ok: false; description: string };

const HTML_TAGS = new Set([
  'b',
  'strong',
  'i',
  'em',
  'u',
  'ins',
  's',
  'strike',
  'del',
  'span',
  'tg-spoiler',
  'a',
  'code',
  'pre',
  'blockquote',
  'tg-emoji',
]);

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

/** Parses Telegram HTML. */
export function parseHtml(text: string): EntityParse {
  const stack: string[] = [];
  let visible = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '<') {
      const end = text.indexOf('>', i);
      if (end === -1) return fail(`Unclosed start tag at byte offset ${i}`);
      const raw = text.slice(i + 1, end);
      const closing = raw.startsWith('/');
      const name = (closing ? raw.slice(1) : raw).trim().split(/\s+/)[0]!.toLowerCase();
      if (!HTML_TAGS.has(name)) return fail(`Unsupported start tag "${name}" at byte offset ${i}`);
      if (closing) {
        if (stack.pop() !== name) return fail(`Unmatched end tag at byte offset ${i}, expected "</${stack.at(-1) ?? ''}>", found "</${name}>"`);
      } else {
        stack.push(name);
      }
      i = end + 1;
      continue;
    }
    if (ch === '&') {
      const m = /^&(#\d+|#x[0-9a-fA-F]+|[a-z]+);/.exec(text.slice(i, i + 12));
      if (m) {
        const ent = m[1]!;
        if (ent.startsWith('#')) {
          visible += String.fromCodePoint(ent[1] === 'x' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10));
        } else if (NAMED_ENTITIES[ent] !== undefined) {
          visible += NAMED_ENTITIES[ent];
        } else {
          return fail(`Unsupported HTML entity "&${ent};" at byte offset ${i}`);
        }
        i += m[0].length;
        continue;
      }
    }
    visible += ch;
    i++;
  }
  if (stack.length > 0) return fail(`Can't find end tag corresponding to start tag "${stack.at(-1)!}"`);
  return { ok: true, visible };
}

/** Parses legacy `Markdown`: `*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ````, `[text](url)`. */
export function parseMarkdownLegacy(text: string): EntityParse {
  let visible = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (text.startsWith('```', i)) {
      const end = text.indexOf('```', i + 3);
      if (end === -1) return fail(`Can't find end of the entity starting at byte offset ${i}`);
      visible += text.slice(i + 3, end);
      i = end + 3;
    } else if (ch === '*' || ch === '_' || ch === '`') {
      const end = text.indexOf(ch, i + 1);
      if (end === -1) return fail(`Can't find end of the entity starting at byte offset ${i}`);
      visible += text.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '[') {
      const m = /^\[([^\]]*)\]\(([^)]*)\)/.exec(text.slice(i));
      if (!m) return fail(`Can't find end of the entity starting at byte offset ${i}`);
      visible += m[1];
      i += m[0].length;
    } else {
      visible += ch;
      i++;
    }
  }
  return { ok: true, visible };
}

const V2_RESERVED = '_*[]()~`>#+-=|{}.!';

/** Parses `MarkdownV2` as far as the fake needs: every reserved character must be escaped or be markup. */
export function parseMarkdownV2(text: string): EntityParse {
  let visible = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') {
      visible += text[i + 1] ?? '';
      i++;
      continue;
    }
    if ('.!-=+#{}|>'.includes(ch) && V2_RESERVED.includes(ch)) {
      return fail(`Character '${ch}' is reserved and must be escaped with the preceding '\\'`);
    }
    if (!'_*~`[]()'.includes(ch)) visible += ch;
  }
  return { ok: true, visible };
}

/** Parses text under a `parse_mode` (none: the text as is). */
export function parseEntities(text: string, parseMode: unknown): EntityParse {
  if (parseMode === undefined || parseMode === null || parseMode === '') return { ok: true, visible: text };
  if (parseMode === 'HTML') return parseHtml(text);
  if (parseMode === 'Markdown') return parseMarkdownLegacy(text);
  if (parseMode === 'MarkdownV2') return parseMarkdownV2(text);
  return { ok: false, description: `Bad Request: unsupported parse_mode` };
}

function fail(detail: string): EntityParse {
  return { ok: false, description: `Bad Request: can't parse entities: ${detail}` };
}
