/**
 * Fault suite: the whole gateway (built-in Telegram factory, SQLite, scheduler, agent) against a model server
 * that fails 30 % of calls (500, 503, connection reset, a stream that stalls, 429) and a Bot API that answers
 * 429 and 502 now and then. Every message must end in an outcome the user sees (a reply, or a notice saying it
 * failed), no session may stay stuck, and once the faults stop everything is answered again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { FakeOpenAIServer, type FakeStep } from '../../src/fakes/index.js';
import { FakeTelegramApi, type FakeChat, type FakeUser } from '../../src/fakes/telegram-api.js';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { seededRandom } from '../support/rng.js';
import { telegramGatewayYaml } from './telegram-gateway.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve(cleanups.pop()!()).catch(() => undefined);
});


const USERS = 12;
const PER_USER = 3;

describe('gateway under faults', () => {
  it('model 30 % faulty, Telegram 429/502: every message gets a visible outcome, nothing stays stuck, and it recovers', async () => {
    const random = seededRandom(30);
    let faulty = true;
    const faults: FakeStep[] = [
      { kind: 'error', status: 500 },
      { kind: 'error', status: 503 },
      { kind: 'reset' },
      { kind: 'stall', text: 'partial answer that never ends', afterTokens: 2 },
      { kind: 'rate-limit', retryAfterSec: 0 },
    ];
    const model = new FakeOpenAIServer({ tokenDelayMs: 0 });
    model.respondWith((req) => {
      if (faulty && random() < 0.3) return faults[Math.floor(random() * faults.length)]!;
      const last = [...req.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
      return { kind: 'reply', text: `answer to ${/q\d+/.exec(last)?.[0] ?? 'something'}` };
    });
    await model.start();
    const tg = await FakeTelegramApi.start({ maxPollMs: 200 });
    cleanups.push(() => model.close(), () => tg.close());
    const dir = mkdtempSync(join(tmpdir(), 'sy-fault-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const yaml = telegramGatewayYaml({ dir, modelUrl: model.url, tg, logLevel: 'silent', provider: { timeoutMs: 1000, maxAttempts: 3 } });
    const gateway: Gateway = await createGateway(parseConfig(yaml, 'fault.yaml', {}));
    cleanups.push(() => gateway.stop({ deadlineMs: 0 }));
    await gateway.start();

    const users: Array<{ user: FakeUser; chat: FakeChat }> = Array.from({ length: USERS }, (_, i) => ({
      user: { id: 5000 + i, is_bot: false, first_name: `U${i}` },
      chat: { id: 5000 + i, type: 'private', first_name: `U${i}` },
    }));
    // Telegram trouble on the way out, too.
    tg.failNext('sendMessage', { kind: 'error', status: 429, retryAfter: 1, description: 'Too Many Requests: retry after 1' }, 3);
    tg.failNext('sendMessage', { kind: 'error', status: 502, description: 'Bad Gateway' }, 2);

    const ids: Array<{ id: string; chat: number }> = [];
    let q = 0;
    for (let round = 0; round < PER_USER; round++) {
      for (const { user, chat } of users) {
        const { message } = tg.pushMessage({ chat, from: user, text: `question q${++q}` });
        ids.push({ id: `tg:${chat.id}:${message.message_id}`, chat: chat.id });
      }
    }

    // Every message ends in a recorded outcome, and every user saw one message per question (answer or notice).
    await vi.waitFor(
      async () => {
        const outcomes = await Promise.all(ids.map(async ({ id }) => (await gateway.store.getMessage(id))?.outcome?.outcome));
        const missing = outcomes.filter((o) => o === undefined).length;
        if (missing > 0) throw new Error(`${missing} messages without an outcome`);
      },
      { timeout: 60_000, interval: 100 },
    );
    await vi.waitFor(
      () => {
        for (const { chat } of users) expect(tg.messagesIn(chat.id).length).toBe(PER_USER);
      },
      { timeout: 30_000, interval: 100 },
    );
    const outcomes = await Promise.all(ids.map(async ({ id }) => (await gateway.store.getMessage(id))!.outcome!.outcome));
    expect(outcomes.every((o) => o === 'answered' || o === 'failed')).toBe(true);
    const failedCount = outcomes.filter((o) => o === 'failed').length;
    const visible = users.flatMap(({ chat }) => tg.messagesIn(chat.id).map((m) => m.text));
    expect(visible.filter((t) => t.startsWith('Sorry')).length).toBe(failedCount);
    expect(model.chatRequests.length).toBeGreaterThan(ids.length); // retries happened
    // Nothing stuck: no session holds work, no lane is busy.
    await vi.waitFor(() => expect(gateway.scheduler.sessionCount).toBe(0), { timeout: 10_000 });

    // Faults stop: the queue drains and everyone is answered.
    faulty = false;
    const after: number[] = [];
    for (const { user, chat } of users) {
      tg.pushMessage({ chat, from: user, text: `question q${++q}` });
      after.push(chat.id);
    }
    await vi.waitFor(
      () => {
        for (const chat of after) expect(tg.messagesIn(chat).at(-1)?.text).toMatch(/^answer to q\d+/);
      },
      { timeout: 30_000, interval: 100 },
    );
  }, 120_000);
});
