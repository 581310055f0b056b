import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkMarkdown, splitMarkdown } from '../../src/outbound/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';

/**
 * An independent fence checker (deliberately simpler than the chunker's scanner): walks lines and toggles on
 * fence lines of the same character with at least the opening length. Returns true when no fence is left open.
 */
function fencesBalanced(chunk: string): boolean {
  let open: string | undefined;
  for (const line of chunk.split('\n')) {
    const m = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    if (!m) continue;
    if (open === undefined) {
      if (!(m[1]!.startsWith('`') && m[2]!.includes('`'))) open = m[1]!;
    } else if (m[1]![0] === open[0] && m[1]!.length >= open.length && m[2]!.trim() === '') {
      open = undefined;
    }
  }
  return open === undefined;
}

// Markdown-ish text: words, sentences, paragraphs, lines, fenced blocks with info strings, long words, emoji.
const word = fc.oneof(
  fc.constantFrom('a', 'the', 'gateway', 'queue', 'x', 'Telegram', 'naïve', '😀', 'snake_case', '**bold**'),
  fc.string({ minLength: 1, maxLength: 12 }).map((s) => s.replace(/[\s`~]/g, 'w') || 'w'),
  fc.integer({ min: 30, max: 90 }).map((n) => 'L'.repeat(n)),
);
const sentence = fc.array(word, { minLength: 1, maxLength: 14 }).chain((ws) =>
  fc.constantFrom('.', '!', '?', '', ',').map((p) => ws.join(' ') + p),
);
const paragraph = fc.array(sentence, { minLength: 1, maxLength: 6 }).chain((ss) => fc.constantFrom(' ', '\n').map((j) => ss.join(j)));
const codeBlock = fc
  .record({
    marker: fc.constantFrom('```', '````', '~~~'),
    info: fc.constantFrom('', 'ts', 'python', 'c++'),
    lines: fc.array(fc.oneof(sentence, fc.constant(''), fc.constant('  indented();')), { minLength: 0, maxLength: 20 }),
    closed: fc.boolean(),
  })
  .map(({ marker, info, lines, closed }) => `${marker}${info}\n${lines.map((l) => `${l}\n`).join('')}${closed ? marker : ''}`);
const doc = fc.array(fc.oneof({ weight: 3, arbitrary: paragraph }, { weight: 1, arbitrary: codeBlock }), { minLength: 1, maxLength: 12 }).map(
  (blocks) => {
    // An unclosed fence swallows the rest of the text, so only the last block may be unclosed.
    return blocks.map((b, i) => (i < blocks.length - 1 && /^(```|````|~~~)/.test(b) && !/\n(```|````|~~~)$/.test(b) ? `${b}${b.slice(0, 3) === '~~~' ? '~~~' : b.startsWith('````') ? '````' : '```'}` : b)).join('\n\n');
  },
);

describe('chunkMarkdown', () => {
  it('keeps short text whole', () => {
    expect(chunkMarkdown('hello world', 4096)).toEqual(['hello world']);
    expect(chunkMarkdown('', 4096)).toEqual([]);
  });

  it('rejects a limit too small to hold a reopened fence', () => {
    let caught: unknown;
    try {
      chunkMarkdown('x', 4);
    } catch (err) {
      caught = err;
    }
    expect(isSwitchyardError(caught, 'E_INVALID_OPTION')).toBe(true);
    expect(String((caught as Error).message)).toContain('limit');
  });

  it('prefers a paragraph boundary over a line or sentence boundary', () => {
    const a = 'First sentence here. Second one.\nA line.';
    const b = 'Next paragraph text.';
    const chunks = chunkMarkdown(`${a}\n\n${b}`, a.length + 6);
    expect(chunks).toEqual([`${a}\n\n`, b]);
  });

  it('falls back to sentence then word boundaries, and hard-splits a single over-long word', () => {
    const text = 'One two three. Four five six seven eight nine ten eleven.';
    const chunks = chunkMarkdown(text, 30);
    expect(chunks[0]).toBe('One two three. ');
    expect(chunks.join('')).toBe(text);
    const long = 'x'.repeat(50);
    const hard = chunkMarkdown(long, 20);
    expect(hard).toEqual(['x'.repeat(20), 'x'.repeat(20), 'x'.repeat(10)]);
  });

  it('never splits a surrogate pair', () => {
    const text = '😀'.repeat(30); // 60 UTF-16 code units
    for (const c of chunkMarkdown(text, 17)) {
      expect(c.length).toBeLessThanOrEqual(17);
      expect(c).toMatch(/^(😀)+$/u);
    }
  });

  it('closes a split code fence and reopens it with the same info string', () => {
    const code = Array.from({ length: 40 }, (_, i) => `const v${i} = ${i};`).join('\n');
    const text = `Intro.\n\n\`\`\`ts\n${code}\n\`\`\`\n\nOutro.`;
    const pieces = splitMarkdown(text, 200);
    expect(pieces.length).toBeGreaterThan(2);
    const inner = pieces.filter((p) => p.reopen !== '');
    expect(inner.length).toBeGreaterThan(0);
    for (const p of inner) expect(p.reopen).toBe('```ts\n');
    for (const p of pieces) {
      expect(p.text.length).toBeLessThanOrEqual(200);
      expect(fencesBalanced(p.text)).toBe(true);
    }
    // Code lines are never cut in the middle: each piece inside the block ends at a line end.
    for (const p of pieces.filter((x) => x.close !== '')) expect(p.body.endsWith('\n')).toBe(true);
    expect(pieces.map((p) => p.body).join('')).toBe(text);
  });

  it('moves a code block that fits to its own chunk rather than cutting it', () => {
    const para = 'Some words here. '.repeat(5).trim();
    const block = '```py\nprint(1)\nprint(2)\n```';
    const chunks = chunkMarkdown(`${para}\n\n${block}`, block.length + 10);
    expect(chunks.at(-1)).toBe(block);
  });

  it('closes an unclosed fence at the end of the last chunk', () => {
    const text = `\`\`\`js\n${'let a = 1;\n'.repeat(20)}`;
    const pieces = splitMarkdown(text, 64);
    for (const p of pieces) expect(fencesBalanced(p.text)).toBe(true);
    expect(pieces.at(-1)!.close).not.toBe('');
  });

  it('property: every chunk fits, bodies rebuild the input, fences balanced per chunk', () => {
    fc.assert(
      fc.property(doc, fc.integer({ min: 40, max: 400 }), (text, limit) => {
        const pieces = splitMarkdown(text, limit);
        expect(pieces.map((p) => p.body).join('')).toBe(text);
        for (const p of pieces) {
          expect(p.text).toBe(p.reopen + p.body + p.close);
          expect(p.text.length).toBeLessThanOrEqual(limit);
          expect(p.body.length).toBeGreaterThan(0);
          expect(fencesBalanced(p.text)).toBe(true);
          // Never split a surrogate pair.
          expect(/[\uD800-\uDBFF]$/.test(p.body)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: chunkMarkdown gives the texts of splitMarkdown (its short-text shortcut included)', () => {
    fc.assert(
      fc.property(fc.oneof(doc, fc.string({ maxLength: 500, unit: 'grapheme' })), fc.integer({ min: 16, max: 600 }), (text, limit) => {
        expect(chunkMarkdown(text, limit)).toEqual(splitMarkdown(text, limit).map((p) => p.text));
      }),
      { numRuns: 400 },
    );
    expect(chunkMarkdown('re m1', 4096)).toEqual(['re m1']);
    expect(chunkMarkdown('```js\nx', 4096)).toEqual(['```js\nx\n```']); // an unclosed fence still gets closed
    expect(() => chunkMarkdown('short', 8)).toThrow(/limit/);
  });

  it('property: arbitrary strings (no structure) still fit and rebuild', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000, unit: 'grapheme' }), fc.integer({ min: 16, max: 300 }), (text, limit) => {
        const pieces = splitMarkdown(text, limit);
        expect(pieces.map((p) => p.body).join('')).toBe(text);
        for (const p of pieces) expect(p.text.length).toBeLessThanOrEqual(limit);
      }),
      { numRuns: 200 },
    );
  });

  it('chunks a 10,000-character reply with a code block at 4096', () => {
    const prose = 'The gateway queues messages per session and answers them in order. '.repeat(60);
    const code = Array.from({ length: 150 }, (_, i) => `  step_${i}(); // keep going`).join('\n');
    const text = `${prose}\n\n\`\`\`python\n${code}\n\`\`\`\n\n${prose}`.slice(0, 10_000);
    expect(text.length).toBe(10_000);
    const pieces = splitMarkdown(text, 4096);
    expect(pieces.length).toBe(3);
    for (const p of pieces) {
      expect(p.text.length).toBeLessThanOrEqual(4096);
      expect(fencesBalanced(p.text)).toBe(true);
    }
    expect(pieces.map((p) => p.body).join('')).toBe(text);
  });
});
