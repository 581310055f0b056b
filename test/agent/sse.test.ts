/**
 * `SseParser` on a recorded Chat Completions stream (with the quirks servers send: comments, CRLF and CR line
 * ends, multi-line data, multibyte UTF-8, an `event: error`, `id` / `retry` fields), fed whole, split at every
 * byte, and one byte at a time: the events must be the same every way. Chunks are lent as the HTTP client lends
 * them (views into one reused buffer).
 */
import { describe, expect, it } from 'vitest';
import { SseParser } from '../../src/agent/sse.js';

type Ev = [data: string, event: string | undefined];

/**
 * Feeds `chunks` the way the HTTP client lends them: each one a view into one reused read buffer, overwritten
 * after the push, so a parser that kept a view of an incomplete line instead of a copy would read garbage.
 */
function parse(chunks: Buffer[]): Ev[] {
  const out: Ev[] = [];
  const p = new SseParser((data, event) => out.push([data, event]));
  const lent = Buffer.alloc(Math.max(1, ...chunks.map((c) => c.length)));
  for (const c of chunks) {
    c.copy(lent);
    p.push(lent.subarray(0, c.length));
    lent.fill(0xff);
  }
  return out;
}

const chunk = (content: string): string =>
  JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: null }] });

// A stream as servers write it: LF, CRLF and CR line ends, comments, several fields, split-worthy UTF-8.
const RECORDED = Buffer.from(
  [
    ': keep-alive ping\n',
    `data: ${chunk('Grüße ')}\n\n`,
    'id: 7\r\nretry: 1000\r\n',
    `data: ${chunk('日本語 ')}\r\n\r\n`,
    `data:${chunk('🙂 é')}\r\r`,
    'data: first line\ndata: second line\n:comment between\ndata:\n\n',
    'event: error\ndata: {"error":{"message":"overloaded","code":"server_error"}}\n\n',
    'event: ping\n\n',
    'data\n\n',
    'data: [DONE]\n\n',
  ].join(''),
  'utf8',
);

const EXPECTED: Ev[] = [
  [chunk('Grüße '), undefined],
  [chunk('日本語 '), undefined],
  [chunk('🙂 é'), undefined],
  ['first line\nsecond line\n', undefined],
  ['{"error":{"message":"overloaded","code":"server_error"}}', 'error'],
  ['', undefined],
  ['[DONE]', undefined],
];

describe('SseParser', () => {
  it('parses a recorded stream fed whole', () => {
    expect(parse([RECORDED])).toEqual(EXPECTED);
  });

  it('gives the same events for a split at every byte (line ends, CRLF halves and UTF-8 sequences cut)', () => {
    for (let i = 1; i < RECORDED.length; i += 1) {
      expect(parse([RECORDED.subarray(0, i), RECORDED.subarray(i)]), `split at ${i}`).toEqual(EXPECTED);
    }
  });

  it('gives the same events fed one byte at a time, and for every pair of split points in the multibyte part', () => {
    const bytes: Buffer[] = [];
    for (let i = 0; i < RECORDED.length; i += 1) bytes.push(RECORDED.subarray(i, i + 1));
    expect(parse(bytes)).toEqual(EXPECTED);
    const from = RECORDED.indexOf('日本語');
    for (let i = from; i < from + 12; i += 1) {
      for (let j = i + 1; j < from + 13; j += 1) {
        expect(parse([RECORDED.subarray(0, i), RECORDED.subarray(i, j), RECORDED.subarray(j)])).toEqual(EXPECTED);
      }
    }
  });

  it('keeps one of two leading spaces, ignores other fields and drops an event the stream never terminated', () => {
    expect(parse([Buffer.from('data:  two\nid: 1\nfoo: bar\n\ndata: unterminated\n')])).toEqual([[' two', undefined]]);
  });

  it('dispatches an `event: error` without data', () => {
    expect(parse([Buffer.from('event: error\n\n')])).toEqual([['', 'error']]);
  });

  it('stops at once when told to inside a listener, even mid-chunk', () => {
    const seen: string[] = [];
    const p = new SseParser((data) => {
      seen.push(data);
      p.stop();
    });
    p.push(Buffer.from('data: a\n\ndata: b\n\n'));
    p.push(Buffer.from('data: c\n\n'));
    expect(seen).toEqual(['a']);
  });
});
