/** The agent's observer (what feeds /metrics): tokens, provider errors per attempt, compaction results. */
import { afterEach, describe, expect, it } from 'vitest';
import { charCounter, createAgent, ProviderClient, type AgentConfig, type AgentObserver } from '../../src/agent/index.js';
import type { InboundMessage } from '../../src/channels/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { ctxOf, message, RecordingReply, turnOf } from './helpers.js';

/** Records every observer call, in order. */
class RecordingObserver implements AgentObserver {
  readonly calls: Array<[string, ...unknown[]]> = [];
  tokens(model: string, usage: { prompt: number; completion: number }): void {
    this.calls.push(['tokens', model, usage]);
  }
  providerError(code: string, model: string, retried: boolean): void {
    this.calls.push(['providerError', code, model, retried]);
  }
  compaction(result: string): void {
    this.calls.push(['compaction', result]);
  }
  of(kind: string): unknown[][] {
    return this.calls.filter((c) => c[0] === kind).map((c) => c.slice(1));
  }
}

/** An observer that throws from every method: it must never break a turn or a job. */
const throwing: AgentObserver = {
  tokens: () => {
    throw new Error('tokens observer broke');
  },
  providerError: () => {
    throw new Error('providerError observer broke');
  },
  compaction: () => {
    throw new Error('compaction observer broke');
  },
};

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** An agent over a fresh fake server whose provider retries without waiting (backoff is not under test). */
async function setup(observer: AgentObserver, over: Partial<AgentConfig> = {}, provider: { maxAttempts?: number; includeUsage?: boolean } = {}) {
  const s = new FakeOpenAIServer();
  const { url } = await s.start();
  const store = new MemoryStore();
  const replies: RecordingReply[] = [];
  const holder: { scheduler?: Scheduler<InboundMessage> } = {};
  const agent = createAgent({
    config: { provider: { baseUrl: url, model: 'chat-model' }, systemPrompt: 'SYS', contextWindow: 4096, classifier: { enabled: false }, ...over },
    provider: new ProviderClient({ baseUrl: url, model: 'chat-model', maxAttempts: provider.maxAttempts ?? 1, includeUsage: provider.includeUsage, sleep: async () => {} }),
    memory: store,
    counter: charCounter,
    openReply: (_turn, signal) => {
      const r = new RecordingReply(signal);
      replies.push(r);
      return r;
    },
    lane: (name) => holder.scheduler!.lane(name),
    observer,
  });
  const scheduler = (holder.scheduler = new Scheduler<InboundMessage>({ lanes: { main: 2, background: 1 }, run: agent.run, contextRatio: agent.contextRatio, cutoffs: store.cutoffs }));
  cleanups.push(() => s.close(), () => scheduler.drain({ deadlineMs: 100 }));
  return { s, store, agent, replies, scheduler };
}

/** Six alternating entries of `chars` characters in `key`'s history (enough to compact with keepRecentTokens 30). */
async function seed(store: MemoryStore, key: string, chars = 80) {
  return store.appendHistory(
    Array.from({ length: 6 }, (_, i) => ({ sessionKey: key, role: i % 2 === 0 ? ('user' as const) : ('assistant' as const), content: `turn ${i} ${'x'.repeat(chars)}`, at: i })),
  );
}

describe('agent observer: tokens', () => {
  it('a turn records the prompt and completion tokens the server reported, by model', async () => {
    const o = new RecordingObserver();
    const { s, agent, replies } = await setup(o);
    s.script({ kind: 'reply', text: 'Hi there Ada', usage: { prompt_tokens: 20, completion_tokens: 3 } });
    await agent.run(turnOf([message({ text: 'hello bot' })]), ctxOf());
    expect(replies[0]!.completed).toBe('Hi there Ada');
    expect(o.calls).toEqual([['tokens', 'chat-model', { prompt: 20, completion: 3 }]]);
  });

  it('a server that reports no usage is counted by the agent estimate', async () => {
    const o = new RecordingObserver();
    const { s, agent } = await setup(o, {}, { includeUsage: false });
    s.script({ kind: 'reply', text: 'four char words' });
    await agent.run(turnOf([message({ text: 'q'.repeat(40) })]), ctxOf());
    // charCounter: 1 token per 4 chars (+4 per message). Prompt: request 3 + system (1 + 4) + user (10 + 4);
    // completion: the answer's 15 chars.
    expect(o.of('tokens')).toEqual([['chat-model', { prompt: 3 + 5 + 14, completion: 4 }]]);
  });
});

describe('agent observer: provider errors', () => {
  it('a 500 then OK records one retried provider error, and the turn is answered', async () => {
    const o = new RecordingObserver();
    const { s, agent, replies } = await setup(o, {}, { maxAttempts: 2 });
    s.script({ kind: 'error', status: 500 }, { kind: 'reply', text: 'ok', usage: { prompt_tokens: 7, completion_tokens: 1 } });
    await agent.run(turnOf([message()]), ctxOf());
    expect(replies[0]!.completed).toBe('ok');
    expect(o.calls).toEqual([
      ['providerError', 'E_PROVIDER_HTTP', 'chat-model', true],
      ['tokens', 'chat-model', { prompt: 7, completion: 1 }],
    ]);
  });

  it('the attempt that fails the request is recorded as final (retried false)', async () => {
    const o = new RecordingObserver();
    const { s, agent } = await setup(o, {}, { maxAttempts: 2 });
    s.script({ kind: 'error', status: 503 }, { kind: 'rate-limit', retryAfterSec: 0 });
    await expect(agent.run(turnOf([message()]), ctxOf())).rejects.toMatchObject({ code: 'E_PROVIDER_RATE_LIMITED' });
    expect(o.of('providerError')).toEqual([
      ['E_PROVIDER_HTTP', 'chat-model', true],
      ['E_PROVIDER_RATE_LIMITED', 'chat-model', false],
    ]);
    expect(o.of('tokens')).toEqual([]);
  });
});

describe('agent observer: compaction', () => {
  it('an applied compaction is reported, with the tokens of the summary request', async () => {
    const o = new RecordingObserver();
    const { s, store, agent } = await setup(o, { keepRecentTokens: 30 });
    const key = message().sessionKey;
    await seed(store, key);
    s.respondWith(() => ({ kind: 'reply', text: 'SUMMARY', usage: { prompt_tokens: 90, completion_tokens: 2 } }));
    await expect(agent.compactor.request(key)).resolves.toMatchObject({ status: 'applied' });
    expect((await store.history(key))[0]).toMatchObject({ role: 'summary', content: 'SUMMARY' });
    expect(o.calls).toEqual([
      ['tokens', 'chat-model', { prompt: 90, completion: 2 }],
      ['compaction', 'applied'],
    ]);
  });

  it('a compaction whose history changed while the model summarized is reported discarded', async () => {
    const o = new RecordingObserver();
    const { s, store, agent } = await setup(o, { keepRecentTokens: 30 });
    const key = message().sessionKey;
    const stored = await seed(store, key);
    s.respondWith(() => {
      // While the summary request is at the server, another summary replaces the prefix it covers
      // (MemoryStore applies synchronously, so this lands before the job reads the answer).
      void store.applySummary(key, { content: 'OTHER', throughId: stored[1]!.id, expectedLastId: stored[5]!.id });
      return { kind: 'reply', text: 'LATE' };
    });
    await expect(agent.compactor.request(key)).resolves.toMatchObject({ status: 'discarded' });
    expect((await store.history(key))[0]!.content).toBe('OTHER');
    expect(o.of('compaction')).toEqual([['discarded']]);
    // Refused by the quota's cooldown right after: reported skipped.
    await expect(agent.compactor.request(key)).resolves.toMatchObject({ status: 'skipped', refusal: 'cooldown' });
    expect(o.of('compaction')).toEqual([['discarded'], ['skipped']]);
  });
});

describe('agent observer: guarded', () => {
  it('an observer that throws never breaks a turn, a retry or a compaction', async () => {
    const { s, store, agent, replies } = await setup(throwing, { keepRecentTokens: 30 }, { maxAttempts: 2 });
    s.script({ kind: 'error', status: 500 }, { kind: 'reply', text: 'still answered' });
    await agent.run(turnOf([message()]), ctxOf());
    expect(replies[0]!.completed).toBe('still answered');
    const key = message({ senderId: 'u-compact' }).sessionKey;
    await seed(store, key);
    s.respondWith(() => ({ kind: 'reply', text: 'S' }));
    await expect(agent.compactor.request(key)).resolves.toMatchObject({ status: 'applied' });
    expect(agent.stats()).toMatchObject({ turns: { answered: 1, failed: 0 }, retries: 1, compactions: { applied: 1 } });
  });
});
