/**
 * Chaos: a flaky model server (500s, resets before and during streams, 429 with Retry-After, stalls, context
 * overflows) behind the real Scheduler. Every message must end in exactly one outcome, nothing may hang, no
 * delta may follow an abort, and every session's history must stay consistent.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { charCounter, createAgent, ProviderClient } from '../../src/agent/index.js';
import type { InboundMessage } from '../../src/channels/index.js';
import { FakeOpenAIServer, type FakeStep } from '../../src/fakes/index.js';
import { Scheduler, type OutcomeRecord } from '../../src/scheduler/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { message, RecordingReply } from './helpers.js';

const STEPS: FakeStep[] = [
  { kind: 'reply', text: 'fine answer', tokenDelayMs: 1 },
  { kind: 'reply', text: 'fine answer' },
  { kind: 'error', status: 500 },
  { kind: 'error', status: 503 },
  { kind: 'reset' },
  { kind: 'reset-mid-stream', text: 'half an answer here', afterTokens: 2 },
  { kind: 'rate-limit', retryAfterSec: 0, retryAfterMs: 3 },
  { kind: 'stall' },
  { kind: 'overflow' },
  { kind: 'error', status: 400 },
];

let server: FakeOpenAIServer;
let url: string;
beforeAll(async () => {
  server = new FakeOpenAIServer();
  ({ url } = await server.start());
});
afterAll(async () => {
  await server.close();
});

describe('chaos: flaky model server behind the Scheduler', () => {
  it('every message gets exactly one outcome and histories stay consistent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: STEPS.length - 1 }), { minLength: 30, maxLength: 30 }), async (picks) => {
        let i = 0;
        // Summary requests (not streamed) always succeed so overflow recovery has a chance.
        server.respondWith((req) => (req.stream ? STEPS[picks[i++ % picks.length]!]! : { kind: 'reply', text: 'summary' }));
        const store = new MemoryStore();
        const replies: RecordingReply[] = [];
        const holder: { s?: Scheduler<InboundMessage> } = {};
        const provider = new ProviderClient({ baseUrl: url, model: 'm', timeoutMs: 40, maxAttempts: 3, retry: { baseDelayMs: 1, maxDelayMs: 4 } });
        const agent = createAgent({
          config: { provider: { baseUrl: url, model: 'm' }, classifier: { enabled: false }, contextWindow: 4096, keepRecentTokens: 50 },
          provider,
          memory: store,
          counter: charCounter,
          lane: (n) => holder.s!.lane(n),
          openReply: (_t, signal) => {
            const r = new RecordingReply(signal);
            replies.push(r);
            return r;
          },
        });
        const scheduler = (holder.s = new Scheduler<InboundMessage>({ lanes: { main: 3, background: 1 }, run: agent.run, contextRatio: agent.contextRatio }));
        const outcomes = new Map<string, OutcomeRecord[]>();
        scheduler.on('outcome', (o) => outcomes.set(o.messageId, [...(outcomes.get(o.messageId) ?? []), o]));
        const msgs = Array.from({ length: 12 }, (_, k) => message({ senderId: `u${k % 3}`, text: `m${k}` }));
        const done = msgs.map((m) => scheduler.submitAndWait(m));
        // Stop one session midway: exercises abort under failures.
        setTimeout(() => scheduler.stop(msgs[1]!.sessionKey), 5);
        await Promise.all(done);
        await scheduler.drain({ deadlineMs: 500 });
        for (const m of msgs) expect(outcomes.get(m.id)).toHaveLength(1);
        expect(replies.reduce((n, r) => n + r.afterAbort, 0)).toBe(0);
        for (const key of new Set(msgs.map((m) => m.sessionKey))) {
          const h = await store.history(key);
          // Messages merged into a follow-up share their turn's run id, so compare texts: none twice, and
          // every message of the session that reached a run is there (cancelled-while-pending ones never ran).
          const users = h.filter((e) => e.role === 'user').map((e) => e.content);
          expect(new Set(users).size).toBe(users.length);
          const ran = msgs.filter((m) => m.sessionKey === key && ['answered', 'failed', 'merged', 'cancelled', 'superseded'].includes(outcomes.get(m.id)![0]!.outcome));
          for (const m of ran.filter((x) => outcomes.get(x.id)![0]!.outcome !== 'cancelled')) expect(users).toContain(m.text);
          for (const a of h.filter((e) => e.role === 'assistant')) {
            const owner = a.runId!.split('#')[0]!;
            expect(outcomes.get(owner)?.[0]?.outcome).toBe('answered');
          }
          const answered = msgs.filter((m) => m.sessionKey === key && outcomes.get(m.id)?.[0]?.outcome === 'answered');
          expect(h.filter((e) => e.role === 'assistant')).toHaveLength(answered.length);
        }
      }),
      { numRuns: 6 },
    );
  }, 30_000);
});
