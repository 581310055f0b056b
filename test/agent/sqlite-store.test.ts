/**
 * The agent on the real embedded store (SqliteStore, in memory): the same history, summary and pin semantics
 * the runner relies on, exercised end to end against the fake model server.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { charCounter, createAgent, type Agent } from '../../src/agent/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';
import { Lane } from '../../src/scheduler/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { ctxOf, message, RecordingReply, turnOf } from './helpers.js';

let server: FakeOpenAIServer | undefined;
let store: SqliteStore | undefined;
afterEach(async () => {
  await server?.close();
  await store?.close();
  server = undefined;
  store = undefined;
});

async function setup(config: Partial<Parameters<typeof createAgent>[0]['config']> = {}): Promise<{ s: FakeOpenAIServer; db: SqliteStore; agent: Agent; replies: RecordingReply[] }> {
  server = new FakeOpenAIServer();
  const { url } = await server.start();
  store = new SqliteStore({ path: ':memory:', exclusive: false });
  const lane = new Lane('background', { concurrency: 1 }, { now: Date.now, onWaitWarning: () => undefined });
  const replies: RecordingReply[] = [];
  const agent = createAgent({
    config: { provider: { baseUrl: url, model: 'chat', maxAttempts: 1 }, classifier: { enabled: false }, ...config },
    memory: store,
    counter: charCounter,
    lane: () => lane,
    openReply: (_t, signal) => {
      const r = new RecordingReply(signal);
      replies.push(r);
      return r;
    },
  });
  return { s: server, db: store, agent, replies };
}

describe('agent on SqliteStore', () => {
  it('records turns, keeps an aborted turn consistent and dedupes its re-run', async () => {
    const { s, db, agent } = await setup();
    const m1 = message({ text: 'one' });
    s.script({ kind: 'reply', text: 'first answer' });
    await agent.run(turnOf([m1]), ctxOf());
    const m2 = message({ text: 'two' });
    const c = ctxOf();
    s.script({ kind: 'stall' });
    s.observe({ onRequest: () => setTimeout(() => c.controller.abort(new Error('stop')), 5) });
    await expect(agent.run(turnOf([m2]), c)).rejects.toThrow('stop');
    s.observe({});
    s.script({ kind: 'reply', text: 'second answer' });
    await agent.run(turnOf([m2], { attempt: 2 }), ctxOf());
    expect((await db.history(m1.sessionKey)).map((e) => [e.role, e.content])).toEqual([
      ['user', 'one'],
      ['assistant', 'first answer'],
      ['user', 'two'],
      ['assistant', 'second answer'],
    ]);
  });

  it('overflow recovery applies the summary through the store compare-and-set', async () => {
    const { s, db, agent, replies } = await setup({ contextWindow: 2048, keepRecentTokens: 100, compaction: { enabled: false } });
    const m = message({ text: 'q' });
    await db.appendHistory(Array.from({ length: 12 }, (_, i) => ({ sessionKey: m.sessionKey, role: i % 2 === 0 ? ('user' as const) : ('assistant' as const), content: 'y'.repeat(150), at: i })));
    s.script({ kind: 'overflow' }, { kind: 'reply', text: 'SUM' }, { kind: 'reply', text: 'answered' });
    await agent.run(turnOf([m]), ctxOf());
    expect(replies[0]!.completed).toBe('answered');
    const h = await db.history(m.sessionKey);
    expect(h[0]).toMatchObject({ role: 'summary', content: 'SUM' });
    expect(h[h.length - 1]).toMatchObject({ role: 'assistant', content: 'answered' });
  });

  it('auto pins are capped by the store; manual pins stay', async () => {
    const { s, db, agent } = await setup({ classifier: { enabled: true, model: 'clf', autoCap: 2 } });
    s.respondWith((req) => (req.model === 'clf' ? { kind: 'reply', text: `3 fact ${(req.messages[1]?.content ?? "").length}` } : { kind: 'reply', text: 'ok' }));
    const key = message().sessionKey;
    await agent.pinCommands.handle(message({ text: '/pin keep me', command: { name: 'pin', args: 'keep me' } }));
    for (const t of ['a', 'bb', 'ccc']) await agent.run(turnOf([message({ text: t })]), ctxOf());
    await vi.waitFor(async () => expect((await db.listPins(key)).filter((p) => p.source === 'auto')).toHaveLength(2), { timeout: 2000, interval: 5 });
    await vi.waitFor(() => expect(s.chatRequests.filter((r) => r.body?.model === 'clf')).toHaveLength(3), { timeout: 2000, interval: 5 });
    await vi.waitFor(async () => {
      const pins = await db.listPins(key);
      expect(pins.map((p) => p.source).sort()).toEqual(['auto', 'auto', 'manual']);
      expect(pins.find((p) => p.source === 'manual')?.text).toBe('keep me');
    }, { timeout: 2000, interval: 5 });
  });
});
