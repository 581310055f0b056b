/**
 * The Telegram transport layers under grammY's real `Api` against the fake Bot API (real HTTP on loopback): the
 * direct JSON path (same results and error types as grammY's own request code), auto-retry's fast path (429s
 * still waited out, other errors not retried), and `leanFetch`'s bound on a request that never ends.
 */
import { Api, GrammyError, HttpError } from 'grammy';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { leanFetch } from '../../../src/channels/telegram/index.js';
import { isUnsentError, telegramRetryTransformers } from '../../../src/channels/telegram/transport.js';
import { FakeTelegramApi } from '../../../src/fakes/telegram-api.js';

/** An `Api` wired as the channel wires it: leanFetch, the direct path and the retry layers. */
function channelApi(fake: FakeTelegramApi, apiRoot = fake.apiRoot, f = leanFetch()): Api {
  const api = new Api(fake.token, { apiRoot, fetch: f as unknown as typeof fetch });
  api.config.use(...telegramRetryTransformers({ maxRetryAfterSeconds: 5, maxRetries: 3, direct: { apiRoot, token: fake.token, fetch: f } }));
  return api;
}

describe('Telegram transport', () => {
  let fake: FakeTelegramApi | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await fake?.close();
    fake = undefined;
  });

  it('direct path: same results, Bot API errors and payloads as grammY (nulls left out)', async () => {
    fake = await FakeTelegramApi.start();
    const api = channelApi(fake);
    const signal = new AbortController().signal as never;
    const sent = await api.sendMessage(42, 'hello <b>world</b>', { parse_mode: 'HTML', link_preview_options: null as never }, signal);
    expect(sent.message_id).toBeGreaterThan(0);
    const params = fake.callsOf('sendMessage')[0]!.params;
    expect(params).toMatchObject({ chat_id: 42, text: 'hello <b>world</b>', parse_mode: 'HTML' });
    expect('link_preview_options' in params).toBe(false);
    const err = await api.editMessageText(42, 999, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GrammyError);
    expect((err as GrammyError).method).toBe('editMessageText');
    expect((await api.getUpdates({ offset: 0, timeout: 0 }, signal)).length).toBe(0);
    // Methods outside the direct set still go through grammY's own request code.
    expect((await api.getMe()).username).toBe(fake.bot.username);
  });

  it('direct path: an aborted or refused request is an HttpError with its cause', async () => {
    fake = await FakeTelegramApi.start();
    const api = channelApi(fake);
    fake.failNext('sendMessage', { kind: 'delay', ms: 5000 });
    const ac = new AbortController();
    const pending = api.sendMessage(42, 'slow', undefined, ac.signal as never).catch((e: unknown) => e);
    while (fake.callsOf('sendMessage').length === 0) await new Promise((r) => setImmediate(r));
    ac.abort();
    const aborted = await pending;
    expect(aborted).toBeInstanceOf(HttpError);
    expect((aborted as HttpError).message).toBe("Network request for 'sendMessage' failed!");
    expect(((aborted as HttpError).error as Error).name).toBe('AbortError');

    const closed = fake.apiRoot;
    await fake.close();
    fake = undefined;
    const dead = await FakeTelegramApi.start();
    try {
      // Without the unsent-retry layer (it would wait for the server to come back): the refusal itself.
      const api2 = new Api(dead.token, { apiRoot: closed, fetch: leanFetch() as unknown as typeof fetch });
      api2.config.use(...telegramRetryTransformers({ maxRetryAfterSeconds: 5, maxRetries: 3, direct: { apiRoot: closed, token: dead.token, fetch: leanFetch() } }).slice(0, 2));
      const refused = await api2.sendChatAction(1, 'typing').catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(HttpError);
      expect(isUnsentError(refused)).toBe(true);
    } finally {
      await dead.close();
    }
  });

  it('auto-retry fast path: a 429 is still waited out and retried; a 400 is not retried', async () => {
    fake = await FakeTelegramApi.start();
    const api = channelApi(fake);
    fake.failNext('sendMessage', { kind: 'error', status: 429, retryAfter: 0 });
    const sent = await api.sendMessage(42, 'after flood');
    expect(sent.text).toBe('after flood');
    expect(fake.callsOf('sendMessage')).toHaveLength(2);
    fake.failNext('sendMessage', { kind: 'error', status: 400, description: 'Bad Request: chat not found' });
    const err = await api.sendMessage(42, 'nope').catch((e: unknown) => e);
    expect((err as GrammyError).error_code).toBe(400);
    expect(fake.callsOf('sendMessage')).toHaveLength(3);
  });

  it('leanFetch destroys a request still open after timeoutMs', async () => {
    fake = await FakeTelegramApi.start();
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const f = leanFetch({ timeoutMs: 1000 });
    const api = channelApi(fake, fake.apiRoot, f);
    fake.failNext('sendMessage', { kind: 'delay', ms: 60_000 });
    const pending = api.sendMessage(42, 'stuck', undefined, new AbortController().signal as never).catch((e: unknown) => e);
    while (fake.callsOf('sendMessage').length === 0) await new Promise((r) => setImmediate(r));
    vi.advanceTimersByTime(2000);
    const err = await pending;
    expect(err).toBeInstanceOf(HttpError);
    expect(((err as HttpError).error as Error & { code?: string }).code).toBe('ETIMEDOUT');
  });
});
