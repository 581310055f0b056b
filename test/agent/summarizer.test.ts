import { afterEach, describe, expect, it } from 'vitest';
import { charCounter, defaultSummarizer, ProviderClient, scoringPrompt } from '../../src/agent/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';
import type { HistoryEntry } from '../../src/store/index.js';

let server: FakeOpenAIServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const entry = (id: number, content: string, role: HistoryEntry['role'] = id % 2 ? 'user' : 'assistant', name?: string): HistoryEntry => ({
  id,
  sessionKey: 'k',
  role,
  content,
  name,
  at: id,
});

describe('defaultSummarizer', () => {
  it('folds entries in chunks that fit the budget, each chunk with the summary so far', async () => {
    server = new FakeOpenAIServer();
    const { url } = await server.start();
    let n = 0;
    server.respondWith(() => ({ kind: 'reply', text: `S${++n}` }));
    const provider = new ProviderClient({ baseUrl: url, model: 'chat' });
    const summarize = defaultSummarizer(provider, { model: 'summarizer', counter: charCounter, budgetTokens: 200, maxTokens: 64 });
    const entries = Array.from({ length: 9 }, (_, i) => entry(i + 1, `${i + 1} ${'w'.repeat(150)}`, i % 2 ? 'assistant' : 'user', i % 2 ? undefined : 'Bob'));
    const out = await summarize({ sessionKey: 'k', previousSummary: 'S0', entries }, new AbortController().signal);
    const reqs = server.chatRequests.map((r) => r.body!);
    expect(reqs.length).toBeGreaterThan(1);
    expect(out).toBe(`S${reqs.length}`);
    expect(reqs.every((b) => b.model === 'summarizer' && b.max_tokens === 64 && b.stream === false)).toBe(true);
    // The system prompt the demo's fake keys on (src/fakes/openai-server-main.ts).
    expect(reqs[0]!.messages[0]!.content!.startsWith('You compact a chat conversation')).toBe(true);
    // Chunk k carries the summary of chunks < k; every entry appears exactly once across the chunks.
    expect(reqs[0]!.messages[1]!.content).toContain('Earlier summary:\nS0');
    expect(reqs[1]!.messages[1]!.content).toContain('Earlier summary:\nS1');
    const all = reqs.map((b) => b.messages[1]!.content!).join('\n');
    for (let i = 1; i <= 9; i++) expect(all.split(`: ${i} w`).length - 1).toBe(1);
    expect(all).toContain('User (Bob): 1 w');
    expect(all).toContain('Assistant: 2 w');
  });

  it('clips a huge entry so one message cannot overflow the summary request', async () => {
    server = new FakeOpenAIServer();
    const { url } = await server.start();
    const provider = new ProviderClient({ baseUrl: url, model: 'chat' });
    const summarize = defaultSummarizer(provider, { model: 's', counter: charCounter, budgetTokens: 100_000 });
    server.script({ kind: 'reply', text: 'short' });
    await summarize({ sessionKey: 'k', previousSummary: undefined, entries: [entry(1, 'x'.repeat(50_000))] }, new AbortController().signal);
    const content = server.chatRequests[0]!.body!.messages[1]!.content!;
    expect(content.length).toBeLessThan(4_100);
    expect(content.endsWith('…')).toBe(true);
  });

  it('the scoring prompt starts the way the demo fake expects', () => {
    expect(scoringPrompt('u', 'a')[0]!.content.startsWith('You rate how significant')).toBe(true);
  });
});
