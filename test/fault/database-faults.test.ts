/**
 * Fault suite, database half: the whole gateway (Telegram channel against the fake Bot API, SQLite, scheduler,
 * agent against the fake model server) while its database refuses writes for a while, as when the disk is full
 * or the file turns read-only, and then accepts them again.
 *
 * What must hold: an update whose accept was refused is not confirmed to Telegram (the offset stays below it),
 * so Telegram resends it and it is accepted once the fault is over; a run that finishes during the fault (its
 * delivery record, history and outcome writes refused) answers once, is not failed afterwards, and its outcome
 * reaches the store when writes work again; every message ends with exactly one bot message in its chat, which
 * replies to it; no session stays stuck; the gateway keeps running, with no unhandled rejection, and says
 * `E_STORE_WRITE` in its log.
 *
 * How the fault is made (see `SqliteStore.simulateFault`): `full` caps the database file at its current page
 * count (`PRAGMA max_page_count`), so a write that needs a new page fails with SQLITE_FULL and SQLite rolls the
 * transaction back, as on a full disk. `readonly` sets `PRAGMA query_only`, so every write fails with
 * SQLITE_READONLY. chmod 0444 on the file (and -wal/-shm) would not be a fault at all: the open connection keeps
 * its read-write handles, and the tests may run as root, whom the mode does not stop. Both pragmas are per
 * connection, which is why the hook belongs to the store and not to a second connection.
 *
 * Deterministic by construction: the two runs caught by the fault are held at the model (`holdUntil`) until the
 * fault is on; messages sent during the fault are long enough (> one 4 KiB page) that their rows need new pages,
 * so `full` refuses them for certain; the test waits on events (log lines, store rows, chat messages), never on
 * time. The short polling backoff keeps each case within a few seconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';
import { FakeTelegramApi, type FakeChat, type FakeUser } from '../../src/fakes/telegram-api.js';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { telegramGatewayYaml } from './telegram-gateway.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve(cleanups.pop()!()).catch(() => undefined);
});

type LogLine = { level: number; msg: string; code?: string; err?: { code?: string; message?: string } };

/** A question long enough that its row cannot fit in the free space of an existing page. */
function longQuestion(q: string, marker = ''): string {
  return `question ${q}${marker} ${'lorem ipsum dolor sit amet '.repeat(200)}`.trim();
}

async function setup() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const model = new FakeOpenAIServer({ tokenDelayMs: 0 });
  model.respondWith((req) => {
    const last = [...req.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const q = /q\d+/.exec(last)?.[0] ?? 'something';
    if (last.includes('[hold]')) {
      // A long answer (one Telegram message still) so its history row needs new pages as well.
      return { kind: 'reply', text: `answer to ${q} ${'and so on '.repeat(300)}`.trim(), holdUntil: released };
    }
    return { kind: 'reply', text: `answer to ${q}` };
  });
  await model.start();
  const tg = await FakeTelegramApi.start({ maxPollMs: 200 });
  cleanups.push(() => model.close(), () => tg.close());
  const dir = mkdtempSync(join(tmpdir(), 'sy-dbfault-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const lines: LogLine[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  // A short polling backoff, so a refused update is retried within milliseconds.
  const yaml = telegramGatewayYaml({
    dir,
    modelUrl: model.url,
    tg,
    logLevel: 'warn',
    provider: { timeoutMs: 5000, maxAttempts: 1 },
    channelExtra: ['polling: { timeoutSeconds: 1, backoffInitialMs: 20, backoffMaxMs: 200 }'],
  });
  const gateway: Gateway = await createGateway(parseConfig(yaml, 'dbfault.yaml', {}), { logger });
  cleanups.push(() => gateway.stop({ deadlineMs: 0 }));
  await gateway.start();
  expect(gateway.store).toBeInstanceOf(SqliteStore);
  return { model, tg, gateway, store: gateway.store as SqliteStore, lines, release };
}

const user = (i: number): { user: FakeUser; chat: FakeChat } => ({
  user: { id: 7000 + i, is_bot: false, first_name: `U${i}` },
  chat: { id: 7000 + i, type: 'private', first_name: `U${i}` },
});

const codeOf = (l: LogLine): string | undefined => l.code ?? l.err?.code;

async function faultCase(fault: 'full' | 'readonly'): Promise<void> {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  cleanups.push(() => void process.off('unhandledRejection', onRejection));
  const { model, tg, gateway, store, lines, release } = await setup();
  const sent: Array<{ id: string; chat: number; messageId: number; q: string }> = [];
  let q = 0;
  const send = (i: number, text: (q: string) => string): number => {
    const { chat, user: from } = user(i);
    const tag = `q${++q}`;
    const { message, updateId } = tg.pushMessage({ chat, from, text: text(tag) });
    const messageId = message.message_id as number;
    sent.push({ id: `tg:${chat.id}:${messageId}`, chat: chat.id, messageId, q: tag });
    return updateId;
  };
  const outcomeOf = async (id: string) => (await store.getMessage(id))?.outcome?.outcome;

  // Before the fault: two ordinary turns, so the file has rows and the tokenizer is loaded.
  send(0, (t) => `question ${t}`);
  send(1, (t) => `question ${t}`);
  await vi.waitFor(async () => expect(await outcomeOf(sent[1]!.id)).toBe('answered'), { timeout: 10_000, interval: 20 });
  await vi.waitFor(async () => expect(await outcomeOf(sent[0]!.id)).toBe('answered'), { timeout: 10_000, interval: 20 });

  // Two runs in flight, held at the model: they will finish while the database refuses writes.
  send(2, (t) => longQuestion(t, ' [hold]'));
  send(3, (t) => longQuestion(t, ' [hold]'));
  const held = sent.slice(2, 4);
  await vi.waitFor(() => expect(model.chatRequests.filter((r) => JSON.stringify(r.body).includes('[hold]')).length).toBe(2), { timeout: 10_000, interval: 20 });
  await vi.waitFor(async () => expect((await Promise.all(held.map((h) => store.getRun(`${h.id}#1`)))).map((r) => r?.state)).toEqual(['running', 'running']), {
    timeout: 5_000,
    interval: 20,
  });

  store.simulateFault(fault);
  const firstFaultUpdate = send(4, (t) => longQuestion(t));
  for (let i = 5; i < 9; i++) send(i, (t) => longQuestion(t));
  const during = sent.slice(4);
  release();

  // The held runs answer once; their completion writes are refused and logged, the runs are not failed.
  await vi.waitFor(
    () => {
      for (const h of held) expect(tg.messagesIn(h.chat).length).toBe(1);
      expect(lines.filter((l) => l.msg === 'answer delivered but not recorded in the history' && codeOf(l) === 'E_STORE_WRITE').length).toBe(2);
    },
    { timeout: 10_000, interval: 20 },
  );
  // Refused accepts are retried and not confirmed: Telegram keeps them.
  await vi.waitFor(
    () => expect(lines.filter((l) => l.msg === 'update not accepted; retrying before confirming it' && codeOf(l) === 'E_STORE_WRITE').length).toBeGreaterThanOrEqual(3),
    { timeout: 10_000, interval: 20 },
  );
  expect(tg.confirmedOffset).toBeLessThanOrEqual(firstFaultUpdate);
  for (const d of during) {
    expect(await store.getMessage(d.id)).toBeUndefined();
    expect(tg.messagesIn(d.chat)).toEqual([]);
  }
  if (fault === 'readonly') {
    // Every write is refused: the held runs' outcomes are waiting in ingress's retry, not lost.
    for (const h of held) expect(await outcomeOf(h.id)).toBeUndefined();
    expect(lines.some((l) => l.msg === 'store write refused; retrying' && codeOf(l) === 'E_STORE_WRITE')).toBe(true);
  }
  // Nothing accepted is waiting: the held runs are over, not stuck on their refused writes.
  await vi.waitFor(() => expect(gateway.scheduler.sessionCount).toBe(0), { timeout: 5_000, interval: 20 });

  // The fault ends: the resent updates are accepted, everything is answered and recorded once.
  store.simulateFault(undefined);
  await vi.waitFor(
    async () => {
      const outcomes = await Promise.all(sent.map((s) => outcomeOf(s.id)));
      expect(outcomes).toEqual(sent.map(() => 'answered'));
    },
    { timeout: 15_000, interval: 50 },
  );
  await vi.waitFor(() => expect(gateway.scheduler.sessionCount).toBe(0), { timeout: 5_000, interval: 20 });
  await vi.waitFor(() => expect(tg.confirmedOffset).toBeGreaterThan(firstFaultUpdate + during.length - 1), { timeout: 5_000, interval: 20 });

  // Exactly one bot message per question, replying to it, and it is the answer (no failure notice anywhere).
  for (const s of sent) {
    const replies = tg.messagesIn(s.chat);
    expect(replies.length).toBe(1);
    expect(replies[0]!.reply_to_message_id).toBe(s.messageId);
    expect(replies[0]!.text).toMatch(new RegExp(`^answer to ${s.q}\\b`));
  }
  // The model was asked once per question: nothing was re-run.
  expect(model.chatRequests.length).toBe(sent.length);
  // Runs end `answered` in the store. A delivery is recorded once, except for the held runs, whose record was
  // written during the fault: refused under `readonly`; under `full` it depends on what shared its commit.
  for (const s of sent) {
    const run = await store.getRun(`${s.id}#1`);
    expect(run?.state).toBe('answered');
    const deliveries = (await store.delivered(`${s.id}#1`)).length;
    if (!held.includes(s)) expect(deliveries).toBe(1);
    else if (fault === 'readonly') expect(deliveries).toBe(0);
    else expect(deliveries).toBeLessThanOrEqual(1);
  }
  // After the fault, the conversation goes on as usual.
  send(4, (t) => `question ${t}`);
  await vi.waitFor(() => expect(tg.messagesIn(sent.at(-1)!.chat).at(-1)?.text).toBe(`answer to ${sent.at(-1)!.q}`), { timeout: 10_000, interval: 20 });

  expect(lines.some((l) => codeOf(l) === 'E_STORE_WRITE')).toBe(true);
  expect(lines.filter((l) => l.level >= 60)).toEqual([]); // nothing fatal
  expect(rejections).toEqual([]);
  await gateway.stop({ deadlineMs: 1_000 });
}

describe('gateway when the database refuses writes', () => {
  it('disk full (SQLITE_FULL): refused updates are redelivered, runs finishing in the fault answer once, all drains after', async () => {
    await faultCase('full');
  }, 30_000);

  it('read-only database (SQLITE_READONLY): same guarantees, outcomes retried until the file is writable again', async () => {
    await faultCase('readonly');
  }, 30_000);
});
