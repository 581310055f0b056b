/**
 * Renders the Markdown a model writes (CommonMark-ish: fences, `inline code`, **bold**, *italic*, ~~strike~~,
 * [links](url), # headings, > quotes) as Telegram HTML. HTML is the safest parse mode for model output:
 * MarkdownV2 demands escaping of `.`, `-`, `!` and a dozen other characters that models write everywhere,
 * and legacy Markdown breaks on every `snake_case`. Everything that is not recognized markup is escaped, so
 * the only way Telegram rejects the result is misnested emphasis (`**a *b** c*`); the sender then falls back
 * to plain text.
 *
 * The visible text after Telegram parses the HTML is never longer than the Markdown source (markup is removed,
 * `&lt;` counts as one character), so a chunk that fits as Markdown fits as HTML.
 */
import { scanFences } from '../../outbound/index.js';

/** Escapes text for Telegram HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Characters the renderer reacts to: markup (fences, code, emphasis, links, headings, quotes), what HTML needs
 * escaped, and NUL (its placeholder). Text with none of them renders as itself.
 */
const SPECIAL = /[`*_~[#>&<]/;

/** Renders Markdown as Telegram HTML (`parse_mode: 'HTML'`). */
export function markdownToTelegramHtml(markdown: string): string {
  // Most short replies are plain prose: one scan instead of splitting and a dozen regex passes per line.
  if (!SPECIAL.test(markdown) && !markdown.includes('\u0000')) return markdown;
  let out = '';
  let pos = 0;
  for (const f of scanFences(markdown)) {
    out += renderBlocks(markdown.slice(pos, f.openStart));
    const body = markdown.slice(f.bodyStart, f.closeLineStart).replace(/\n$/, '');
    const lang = f.info.split(/\s+/)[0] ?? '';
    out += lang !== '' ? `<pre><code class="language-${escapeAttr(lang)}">${escapeHtml(body)}</code></pre>` : `<pre>${escapeHtml(body)}</pre>`;
    // Keep the newline that followed the closing fence, so the next paragraph starts on its own line.
    if (f.closed && markdown[f.closeEnd - 1] === '\n') out += '\n';
    pos = f.closeEnd;
  }
  out += renderBlocks(markdown.slice(pos));
  return out;
}

function escapeAttr(s: string): string {
  return escapeHtml(s).replace(/"/g, '&quot;');
}

/** Renders text outside code fences, line by line for headings and quotes. */
function renderBlocks(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let quote: string[] = [];
  const flushQuote = (): void => {
    if (quote.length > 0) out.push(`<blockquote>${quote.join('\n')}</blockquote>`);
    quote = [];
  };
  for (const line of lines) {
    const q = /^ {0,3}> ?(.*)$/.exec(line);
    if (q) {
      quote.push(renderInline(q[1]!));
      continue;
    }
    flushQuote();
    const h = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    out.push(h ? `<b>${renderInline(h[1]!)}</b>` : renderInline(line));
  }
  flushQuote();
  return out.join('\n');
}

const PLACEHOLDER = '\u0000';

/** Renders inline markup of one line. */
function renderInline(line: string): string {
  const codes: string[] = [];
  // Inline code first: nothing inside it is markup.
  let s = line.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (_m, _ticks: string, code: string) => {
    codes.push(`<code>${escapeHtml(code.trim() === '' ? code : code.replace(/^ (.*) $/, '$1'))}</code>`);
    return `${PLACEHOLDER}${codes.length - 1}${PLACEHOLDER}`;
  });
  const links: string[] = [];
  s = s.replace(/\[([^\]\n]+)\]\(([^)\s]+)\)/g, (_m, label: string, url: string) => {
    if (!/^(https?:\/\/|tg:\/\/|mailto:)/i.test(url)) return _m;
    links.push(`<a href="${escapeAttr(url)}">${renderEmphasis(escapeHtml(label))}</a>`);
    return `${PLACEHOLDER}L${links.length - 1}${PLACEHOLDER}`;
  });
  s = renderEmphasis(escapeHtml(s));
  return s.replace(new RegExp(`${PLACEHOLDER}(L?)(\\d+)${PLACEHOLDER}`, 'g'), (_m, isLink: string, i: string) =>
    isLink === 'L' ? links[Number(i)]! : codes[Number(i)]!,
  );
}

/** Bold, italic and strikethrough on already-escaped text. Markers must hug the text (`**x**`, not `** x **`). */
function renderEmphasis(s: string): string {
  return s
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<b>$1</b>')
    .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, '$1<b>$2</b>')
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, '<s>$1</s>')
    .replace(/(^|[^\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])/g, '$1<i>$2</i>')
    .replace(/(^|[^\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?!\w)/g, '$1<i>$2</i>');
}
