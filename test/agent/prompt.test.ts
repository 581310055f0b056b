import { describe, expect, it } from 'vitest';
import { buildPrompt, renderMessageText, renderTurn } from '../../src/agent/index.js';
import { mergeConsecutive, renderSystem } from '../../src/agent/prompt.js';
import type { ChatMessage } from '../../src/agent/provider.js';
import type { HistoryEntry } from '../../src/store/index.js';
import { seededRandom } from '../support/rng.js';
import { message, turnOf } from './helpers.js';

describe('prompt rendering', () => {
  it('quotes a replied-to message from someone else, not a reply to the bot', () => {
    expect(renderMessageText(message({ text: 'yes', replyTo: { platformMessageId: '1', text: 'shall we?\nreally' } }))).toBe('(replying to: "shall we? really")\nyes');
    expect(renderMessageText(message({ text: 'yes', replyToBot: true, replyTo: { platformMessageId: '1', text: 'bot said' } }))).toBe('yes');
    const long = 'q'.repeat(300);
    expect(renderMessageText(message({ text: 'ok', replyTo: { platformMessageId: '1', text: long } }))).toBe(`(replying to: "${'q'.repeat(200)}…")\nok`);
  });

  it('describes attachments of a message without text', () => {
    expect(renderMessageText(message({ text: '', attachments: [{ kind: 'document', id: 'd', name: 'cv.pdf', size: 100 }, { kind: 'voice', id: 'v' }] }))).toBe(
      '[document, cv.pdf, 1 KB] [voice]',
    );
  });

  it('names senders in groups and follow-ups only', () => {
    expect(renderTurn(turnOf([message({ text: 'a' })]))).toEqual([{ role: 'user', content: 'a' }]);
    expect(renderTurn(turnOf([message({ text: 'a' }), message({ text: 'b' })], { kind: 'followup' }))).toEqual([
      { role: 'user', content: 'Ada: a' },
      { role: 'user', content: 'Ada: b' },
    ]);
    expect(renderTurn(turnOf([message({ peer: 'group', senderName: '', senderId: 'u77', text: 'hey' })]))).toEqual([{ role: 'user', content: 'u77: hey' }]);
  });

  it('merges consecutive same-role messages and keeps a single leading system message', () => {
    const prompt = buildPrompt({
      systemPrompt: 'S',
      pins: [],
      history: [
        { id: 1, sessionKey: 'k', role: 'user', content: 'unanswered', at: 0 },
        { id: 2, sessionKey: 'k', role: 'user', content: 'again', at: 1 },
      ],
      turnMessages: [{ role: 'user', content: 'now' }],
    });
    expect(prompt).toEqual([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'unanswered\n\nagain\n\nnow' },
    ]);
  });
});

describe('buildPrompt', () => {
  it('equals system + history + turn merged by mergeConsecutive, on random contexts', () => {
    const rng = seededRandom(3);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
    for (let i = 0; i < 200; i++) {
      const history: HistoryEntry[] = [];
      if (rng() < 0.3) history.push({ id: 0, sessionKey: 's', role: 'summary', content: `sum ${i}`, at: 0 });
      for (let k = 0, n = Math.floor(rng() * 8); k < n; k++) {
        const role = pick(['user', 'assistant'] as const);
        history.push({ id: k + 1, sessionKey: 's', role, content: `c${k}`, name: role === 'user' && rng() < 0.5 ? `n${k}` : undefined, at: 0 });
      }
      const turnMessages: ChatMessage[] = Array.from({ length: Math.floor(rng() * 3) }, (_, k) => ({ role: 'user', content: `t${k}` }));
      const pins = rng() < 0.5 ? [{ id: 1, sessionKey: 's', text: 'pinned', source: 'manual' as const, createdAt: 0 }] : [];
      const body: ChatMessage[] = history
        .filter((e) => e.role !== 'summary')
        .map((e) => ({ role: e.role === 'user' ? 'user' : 'assistant', content: e.role === 'user' && e.name ? `${e.name}: ${e.content}` : e.content }));
      const summary = history.find((e) => e.role === 'summary')?.content;
      const turnCopy = turnMessages.map((m) => ({ ...m }));
      expect(buildPrompt({ systemPrompt: 'sys', pins, history, turnMessages })).toEqual(
        mergeConsecutive([{ role: 'system', content: renderSystem('sys', pins, summary) }, ...body, ...turnMessages]),
      );
      expect(turnMessages).toEqual(turnCopy); // the caller's turn messages are not merged into
    }
  });
});
