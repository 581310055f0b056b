/**
 * Property: whatever mix of answered, failed, aborted-mid-stream, aborted-before-start and re-run turns a
 * session sees, its history records every user message exactly once, an answer only for turns whose reply
 * was delivered, and each answer after the user message it answers.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { charCounter, createAgent } from '../../src/agent/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';
import { Lane } from '../../src/scheduler/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { ctxOf, message, RecordingReply, turnOf } from './helpers.js';

const KINDS = ['answer', 'fail', 'abort-mid', 'abort-before'] as const;
type Kind = (typeof KINDS)[number];

let server: FakeOpenAIServer;
let url: string;
/** How the fake answers the next request (turns run one after another). */
let next: Kind = 'answer';
beforeAll(async () => {
  server = new FakeOpenAIServer();
  ({ url } = await server.start());
  server.respondWith(() => {
    if (next === 'fail') return { kind: 'error', status: 500 };
    if (next === 'abort-mid') return { kind: 'reply', text: 'p q r s t u v w', tokenDelayMs: 2 };
    return { kind: 'reply', text: 'an answer' };
  });
});
afterAll(async () => {
  await server.close();
});

describe('history consistency (property)', () => {
  it('holds for random sequences of turn endings and re-runs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...KINDS), fc.boolean()), { minLength: 1, maxLength: 6 }), async (plan) => {
        const store = new MemoryStore();
        const lane = new Lane('background', { concurrency: 1 }, { now: Date.now, onWaitWarning: () => undefined });
        let abortAfter: { n: number; controller: AbortController } | undefined;
        const agent = createAgent({
          config: { provider: { baseUrl: url, model: 'm', maxAttempts: 1 }, classifier: { enabled: false }, compaction: { enabled: false } },
          memory: store,
          counter: charCounter,
          lane: () => lane,
          openReply: (_t, signal) =>
            new RecordingReply(signal, {
              onDelta: (r) => {
                if (abortAfter && r.deltas.length === abortAfter.n) abortAfter.controller.abort(new Error('stop'));
              },
            }),
        });
        const key = message().sessionKey;
        const answered = new Set<string>();
        const said: string[] = [];
        for (const [i, [kind, rerun]] of plan.entries()) {
          const m = message({ text: `msg ${i} [${kind}]`, senderId: 'u1' });
          said.push(m.text);
          const attempts: Kind[] = rerun ? [kind, 'answer'] : [kind];
          for (const [a, k] of attempts.entries()) {
            const c = ctxOf();
            if (k === 'abort-before') c.controller.abort(new Error('early'));
            abortAfter = k === 'abort-mid' ? { n: 2, controller: c.controller } : undefined;
            next = k;
            const turn = turnOf([m], { attempt: a + 1 });
            const ok = await agent.run(turn, c).then(
              () => true,
              () => false,
            );
            if (ok) answered.add(turn.id);
            expect(ok).toBe(k === 'answer');
          }
        }
        const h = await store.history(key);
        const users = h.filter((e) => e.role === 'user');
        // every message once, in order (a re-run reuses the first attempt's entry)
        expect(users.map((e) => e.content)).toEqual(said);
        const assistants = h.filter((e) => e.role === 'assistant');
        expect(new Set(assistants.map((e) => e.runId))).toEqual(answered);
        for (const a of assistants) {
          const owner = a.runId!.split('#')[0]!;
          const userIdx = h.findIndex((e) => e.role === 'user' && e.runId?.startsWith(`${owner}#`));
          expect(userIdx).toBeGreaterThanOrEqual(0);
          expect(userIdx).toBeLessThan(h.indexOf(a));
        }
      }),
      { numRuns: 25 },
    );
  });
});
