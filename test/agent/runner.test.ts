import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OutcomeRecord } from '../../src/scheduler/index.js';
import { isSwitchyardError } from '../../src/errors/index.js';
import { ctxOf, message, turnOf } from './helpers.js';
import { closeRigs, lastBody, rig } from './rig.js';
import { SqliteStore } from '../../src/store/index.js';

afterEach(closeRigs);

describe('turn runner: answering', () => {
  it('streams the reply, completes it and records the user and assistant turns', async () => {
    const { s, store, agent, replies } = await rig();
    s.script({ kind: 'reply', text: 'Hi there Ada', usage: { prompt_tokens: 20, completion_tokens: 3 } });
    const m = message({ text: 'hello bot' });
    await agent.run(turnOf([m]), ctxOf());
    expect(replies[0]!.deltas.join('')).toBe('Hi there Ada');
    expect(replies[0]!.completed).toBe('Hi there Ada');
    expect(lastBody(s).messages).toEqual([
      { role: 'system', content: 'SYS' },
      { role: 'user', content: 'hello bot' },
    ]);
    const h = await store.history(m.sessionKey);
    expect(h.map((e) => [e.role, e.content, e.runId])).toEqual([
      ['user', 'hello bot', `${m.id}#1`],
      ['assistant', 'Hi there Ada', `${m.id}#1`],
    ]);
    expect(h[1]!.tokens).toBe(3 + 4);
  });

  it('answers through the real Scheduler: outcome answered', async () => {
    const { s, scheduler, replies } = await rig();
    s.script({ kind: 'reply', text: 'ok' });
    const outcome: OutcomeRecord = await scheduler.submitAndWait(message());
    expect(outcome.outcome).toBe('answered');
    expect(replies[0]!.completed).toBe('ok');
  });

  it('builds the prompt from pins, summary, history, group senders, follow-ups, drop notices, quotes and attachments', async () => {
    const { s, store, agent } = await rig();
    const g = message({ peer: 'group', chatId: 'g1', senderName: 'Bob', text: 'first' });
    const key = g.sessionKey;
    const [a] = await store.appendHistory([
      { sessionKey: key, role: 'user', content: 'old question', name: 'Bob', at: 1 },
      { sessionKey: key, role: 'assistant', content: 'old answer', at: 2 },
      { sessionKey: key, role: 'user', content: 'recent', name: 'Cy', at: 3 },
      { sessionKey: key, role: 'assistant', content: 'recent answer', at: 4 },
    ]);
    expect(await store.applySummary(key, { content: 'They talked about tea.', throughId: a!.id + 1, expectedLastId: a!.id + 3 })).toBe(true);
    await store.addPin({ sessionKey: key, text: 'Bob is vegetarian', source: 'manual', createdAt: 1 });
    const m2 = message({
      peer: 'group',
      chatId: 'g1',
      senderName: 'Cy',
      senderId: 'u2',
      text: 'look',
      replyTo: { platformMessageId: '1', text: 'the quoted one' },
      attachments: [{ kind: 'photo', id: 'p1', mime: 'image/jpeg', size: 20480, caption: 'a cat' }],
    });
    s.script({ kind: 'reply', text: 'done' });
    await agent.run(turnOf([g, m2], { kind: 'followup', droppedSummaries: ['Dan: spam'] }), ctxOf());
    const msgs = lastBody(s).messages;
    expect(msgs[0]).toEqual({
      role: 'system',
      content: 'SYS\n\nPinned memories (always true for this conversation):\n- Bob is vegetarian\n\nSummary of the earlier conversation:\nThey talked about tea.',
    });
    expect(msgs[1]).toEqual({ role: 'user', content: 'Cy: recent' });
    expect(msgs[2]).toEqual({ role: 'assistant', content: 'recent answer' });
    expect(msgs[3]!.role).toBe('user');
    expect(msgs[3]!.content).toBe(
      '[Note: 1 earlier message(s) were dropped because the queue was full:\n- Dan: spam]\n\nBob: first\n\nCy: (replying to: "the quoted one")\nlook\n[photo, image/jpeg, 20 KB: a cat]',
    );
    expect(msgs).toHaveLength(4);
    const h = await store.history(key);
    expect(h.slice(-3).map((e) => [e.role, e.name ?? null])).toEqual([
      ['user', 'Bob'],
      ['user', 'Cy'],
      ['assistant', null],
    ]);
  });
});

describe('turn runner: abort and failure', () => {
  it('an abort mid-stream sends nothing after it, cancels the reply, closes the socket and keeps history consistent', async () => {
    const { s, store, agent, replies } = await rig({}, {}, {
      onDelta: (r) => {
        if (r.deltas.length === 3) ctx.controller.abort(new Error('user /stop'));
      },
    });
    const ctx = ctxOf();
    s.script({ kind: 'reply', text: 'a b c d e f g h i j', tokenDelayMs: 3 });
    const m = message({ text: 'tell me' });
    await expect(agent.run(turnOf([m]), ctx)).rejects.toThrow('user /stop');
    const r = replies[0]!;
    expect(r.deltas).toHaveLength(3);
    expect(r.afterAbort).toBe(0);
    expect(r.completed).toBeUndefined();
    expect(r.cancelled).toBe('aborted');
    await vi.waitFor(() => expect(s.chatRequests[0]!.closedByClient).toBe(true), { timeout: 2000, interval: 2 });
    const h = await store.history(m.sessionKey);
    expect(h.map((e) => e.role)).toEqual(['user']); // the user said it; no partial answer is kept
    expect(agent.stats().turns).toEqual({ answered: 0, failed: 0, aborted: 1 });
  });

  it('a turn stopped before it reached the model records the user turn and opens no reply', async () => {
    const { s, store, agent, replies } = await rig();
    const c = ctxOf();
    c.controller.abort(new Error('stopped early'));
    const m = message({ text: 'hi?' });
    await expect(agent.run(turnOf([m]), c)).rejects.toThrow('stopped early');
    expect(replies).toHaveLength(0);
    expect(s.chatRequests).toHaveLength(0);
    expect((await store.history(m.sessionKey)).map((e) => e.content)).toEqual(['hi?']);
  });

  it('a re-run of an aborted turn (attempt 2) does not duplicate its user entries', async () => {
    const { s, store, agent } = await rig();
    const m = message({ text: 'again?' });
    const c1 = ctxOf();
    s.script({ kind: 'stall' });
    s.observe({ onRequest: () => setTimeout(() => c1.controller.abort(new Error('drain')), 5) });
    await expect(agent.run(turnOf([m]), c1)).rejects.toThrow('drain');
    s.observe({});
    s.script({ kind: 'reply', text: 'yes' });
    await agent.run(turnOf([m], { attempt: 2 }), ctxOf());
    const h = await store.history(m.sessionKey);
    expect(h.map((e) => [e.role, e.content])).toEqual([
      ['user', 'again?'],
      ['assistant', 'yes'],
    ]);
    expect(lastBody(s).messages.filter((x) => x.role === 'user')).toHaveLength(1);
  });

  it('a provider error fails the turn with a typed error, cancels the reply and records only the user turn', async () => {
    const { s, store, agent, replies } = await rig();
    s.script({ kind: 'error', status: 401 });
    const m = message();
    const err = await agent.run(turnOf([m]), ctxOf()).catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_PROVIDER_AUTH')).toBe(true);
    expect(replies[0]!.cancelled).toBe('E_PROVIDER_AUTH');
    expect((await store.history(m.sessionKey)).map((e) => e.role)).toEqual(['user']);
  });

  it('a turn whose channel cannot open a reply fails before calling the model and keeps the user turn', async () => {
    const { s, store, agent } = await rig({}, { openReply: () => { throw new Error('no adapter'); } });
    const m = message();
    await expect(agent.run(turnOf([m]), ctxOf())).rejects.toThrow('no adapter');
    expect(s.chatRequests).toHaveLength(0);
    expect((await store.history(m.sessionKey)).map((e) => e.role)).toEqual(['user']);
  });

  it('an empty model answer fails the turn with a clear reason instead of sending an empty message', async () => {
    const { s, store, agent, replies } = await rig();
    s.script({ kind: 'reply', text: '', finishReason: 'length' });
    const m = message();
    const err = await agent.run(turnOf([m]), ctxOf()).catch((e: unknown) => e);
    expect(isSwitchyardError(err, 'E_PROVIDER_BAD_RESPONSE')).toBe(true);
    expect((err as Error).message).toMatch(/empty answer \(finish reason: length\)/);
    expect(replies[0]!.completed).toBeUndefined();
    expect(replies[0]!.cancelled).toBe('E_PROVIDER_BAD_RESPONSE');
    expect((await store.history(m.sessionKey)).map((e) => e.role)).toEqual(['user']);
  });

  it('a delivery failure records no assistant turn', async () => {
    const { s, store, agent } = await rig({}, {}, { failComplete: new Error('telegram down') });
    s.script({ kind: 'reply', text: 'lost' });
    const m = message();
    await expect(agent.run(turnOf([m]), ctxOf())).rejects.toThrow('telegram down');
    expect((await store.history(m.sessionKey)).map((e) => e.role)).toEqual(['user']);
  });

  it('an answer delivered while the store refuses writes is not failed afterwards (no failure notice under it)', async () => {
    const sqlite = new SqliteStore({ path: ':memory:' });
    const { s, replies, scheduler } = await rig({}, { memory: sqlite });
    s.script({ kind: 'reply', text: 'delivered anyway' });
    sqlite.simulateFault('readonly');
    const m = message();
    const outcome: OutcomeRecord = await scheduler.submitAndWait(m);
    expect(outcome.outcome).toBe('answered');
    expect(replies[0]!.completed).toBe('delivered anyway');
    expect(await sqlite.history(m.sessionKey)).toEqual([]); // the exchange is missing from the history (logged)
    await sqlite.close();
  });
});
