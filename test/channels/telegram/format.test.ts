import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { markdownToTelegramHtml } from '../../../src/channels/telegram/index.js';
import { parseHtml } from '../../../src/fakes/telegram-entities.js';

describe('markdownToTelegramHtml', () => {
  it('renders fences with their language, inline code, emphasis, links, headings and quotes', () => {
    expect(markdownToTelegramHtml('```ts\nconst a = 1 < 2;\n```\nafter')).toBe(
      '<pre><code class="language-ts">const a = 1 &lt; 2;</code></pre>\nafter',
    );
    expect(markdownToTelegramHtml('> quoted *text*\n> more')).toBe('<blockquote>quoted <i>text</i>\nmore</blockquote>');
    expect(markdownToTelegramHtml('~~gone~~ and __strong__ and snake_case_name')).toBe('<s>gone</s> and <b>strong</b> and snake_case_name');
    expect(markdownToTelegramHtml('[x](javascript:alert(1))')).toBe('[x](javascript:alert(1))');
    expect(markdownToTelegramHtml('`**not bold**`')).toBe('<code>**not bold**</code>');
  });

  it('property: output Telegram accepts is never longer (visible) than the Markdown source', () => {
    const piece = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom('**b**', '*i*', '_i_', '`c<d`', '[l](https://x.y)', '\n# H\n', '\n> q\n', '\n```js\nx<y&z\n```\n', '<b>', '&amp;', 'a_b_c'),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }).map((p) => p.join('')), (md) => {
        const parsed = parseHtml(markdownToTelegramHtml(md));
        if (parsed.ok) expect(parsed.visible.length).toBeLessThanOrEqual(md.length);
      }),
      { numRuns: 300 },
    );
  });

  it('property: text without emphasis markers always renders to valid HTML', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }).map((s) => s.replace(/[*_~]/g, '')), (md) => {
        expect(parseHtml(markdownToTelegramHtml(md)).ok).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('property: text with no markup or HTML-special character renders unchanged (the plain-reply fast path)', () => {
    // Every character except the ones the renderer reacts to: ` * _ ~ [ # > & < and NUL.
    const plain = fc.string({ maxLength: 400, unit: fc.oneof(fc.constantFrom('\n', ' ', '.', '!', '-', '(', ')', ']', '"', '\r'), fc.string({ minLength: 1, maxLength: 1 }), fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' })) })
      .map((s) => s.replace(/[`*_~[#>&<]/g, '').replaceAll('\u0000', ''));
    fc.assert(
      fc.property(plain, (md) => {
        expect(markdownToTelegramHtml(md)).toBe(md);
      }),
      { numRuns: 500 },
    );
    expect(markdownToTelegramHtml('re m42')).toBe('re m42');
    expect(markdownToTelegramHtml('a & b')).toBe('a &amp; b'); // one special character: the full renderer
  });
});
