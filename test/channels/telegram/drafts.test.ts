import { afterEach, describe, expect, it } from 'vitest';
import { dmAlice, group, harness, targetOf, type Harness } from './helpers.js';

async function stream(h: Harness, target: ReturnType<typeof targetOf>, runId: string, words = 120): Promise<string> {
  const reply = h.channel.openReply(target, { runId, signal: new AbortController().signal });
  let full = '';
  for (let i = 0; i < words; i++) {
    const d = `w${i} `;
    full += d;
    reply.delta(d);
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 30));
  }
  await reply.complete(full);
  return full.trimEnd();
}

describe('TelegramChannel draft streaming (sendMessageDraft in private chats)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('streams a DM reply as a draft, then sends the final message; no preview message to edit or delete', async () => {
    h = await harness({ streaming: { drafts: true, editIntervalMs: 60, minInitialChars: 5 } });
    await h.channel.start();
    const full = await stream(h, targetOf(dmAlice), 'r-draft');
    const draft = h.fake.drafts.get(dmAlice.id);
    expect(draft?.updates).toBeGreaterThanOrEqual(2);
    expect(h.fake.callsOf('editMessageText')).toHaveLength(0);
    expect(h.fake.callsOf('deleteMessage')).toHaveLength(0);
    expect(h.fake.messagesIn(dmAlice.id).map((m) => m.text)).toEqual([full]);
    // Every draft update of one reply uses the same draft id (the client animates the changes).
    const ids = new Set(h.fake.callsOf('sendMessageDraft').map((c) => c.params.draft_id));
    expect(ids.size).toBe(1);
  });

  it('uses an edited preview in groups (drafts are private-chat only)', async () => {
    h = await harness({ streaming: { drafts: true, editIntervalMs: 60, groupEditIntervalMs: 60, minInitialChars: 5 } });
    await h.channel.start();
    await stream(h, targetOf(group), 'r-group');
    expect(h.fake.callsOf('sendMessageDraft')).toHaveLength(0);
    expect(h.fake.callsOf('editMessageText').length).toBeGreaterThanOrEqual(1);
    expect(h.fake.messagesIn(group.id)).toHaveLength(1);
  });

  it('falls back to preview edits when the server lacks sendMessageDraft, and stops trying', async () => {
    h = await harness({ streaming: { drafts: true, editIntervalMs: 60, minInitialChars: 5 } });
    await h.channel.start();
    h.fake.failNext('sendMessageDraft', { kind: 'error', status: 404, description: 'Not Found: method not found' });
    const first = await stream(h, targetOf(dmAlice), 'r-1');
    expect(h.fake.callsOf('sendMessageDraft')).toHaveLength(1);
    expect(h.fake.messagesIn(dmAlice.id).map((m) => m.text)).toEqual([first]);
    await stream(h, targetOf(dmAlice), 'r-2', 60);
    expect(h.fake.callsOf('sendMessageDraft')).toHaveLength(1); // not retried for later replies
    expect(h.fake.messagesIn(dmAlice.id)).toHaveLength(2);
  });
});
