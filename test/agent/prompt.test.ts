import { describe, expect, it } from 'vitest';
import { buildPrompt, renderMessageText, renderTurn } from '../../src/agent/index.js';
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
