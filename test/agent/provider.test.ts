import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProviderClient, type ProviderOptions } from '../../src/agent/provider.js';
import { DEFAULT_RETRY_POLICY, retryDelay, retryAfterMs } from '../../src/agent/retry.js';
import { ProviderError } from '../../src/agent/errors.js';
import { isSwitchyardError } from '../../src/errors/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';

let server: FakeOpenAIServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const user = [{ role: 'user' as const, content: 'hello' }];

async function setup(opts: Partial<ProviderOptions> = {}): Promise<{ s: FakeOpenAIServer; client: ProviderClient; sleeps: number[] }> {
  server = new FakeOpenAIServer();
  const { url } = await server.start();
  const sleeps: number[] = [];
  const client = new ProviderClient({
    baseUrl: url,
    model: 'fake-model',
    random: () => 0.5,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...opts,
  });
  return { s: server, client, sleeps };
}

async function providerError(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

describe('ProviderClient: streaming and abort', () => {
  it('streams deltas in order and reports usage and the finish reason', async () => {
    const { s, client } = await setup();
    s.script({ kind: 'reply', text: 'alpha beta gamma', usage: { prompt_tokens: 11, completion_tokens: 3 } });
    const deltas: string[] = [];
    const res = await client.chat(user, { onDelta: (d) => deltas.push(d) });
    expect(deltas).toEqual(['alpha ', 'beta ', 'gamma']);
    expect(res).toEqual({ text: 'alpha beta gamma', usage: { promptTokens: 11, completionTokens: 3 }, finishReason: 'stop', attempts: 1 });
    expect(s.chatRequests[0]?.body?.stream_options).toEqual({ include_usage: true });
    expect(s.chatRequests[0]?.body?.model).toBe('fake-model');
  });

  it('an abort mid-stream delivers no further delta, rejects with the reason and closes the socket', async () => {
    const { s, client } = await setup();
    s.script({ kind: 'reply', text: 'w1 w2 w3 w4 w5 w6 w7 w8', tokenDelayMs: 5 });
    const ac = new AbortController();
    const deltas: string[] = [];
    let afterAbort = 0;
    const reason = new Error('stopped by test');
    const p = client.chat(user, {
      signal: ac.signal,
      onDelta: (d) => {
        if (ac.signal.aborted) afterAbort += 1;
        deltas.push(d);
        if (deltas.length === 2) ac.abort(reason);
      },
    });
    await expect(p).rejects.toBe(reason);
    expect(deltas).toHaveLength(2);
    expect(afterAbort).toBe(0);
    await vi.waitFor(() => expect(s.chatRequests[0]?.closedByClient).toBe(true), { timeout: 2000, interval: 2 });
    expect(s.chatRequests[0]?.tokensSent).toBeLessThan(8);
    expect(s.chatRequests).toHaveLength(1); // an abort is never retried
  });

  it('an already-aborted signal sends nothing', async () => {
    const { s, client } = await setup();
    const ac = new AbortController();
    ac.abort(new Error('early'));
    await expect(client.chat(user, { signal: ac.signal, onDelta: () => undefined })).rejects.toThrow('early');
    expect(s.chatRequests.length).toBeLessThanOrEqual(1);
    expect(s.chatRequests.every((r) => r.tokensSent === 0)).toBe(true);
  });

  it('non-streaming requests return the whole text', async () => {
    const { s, client } = await setup();
    s.script({ kind: 'reply', text: 'whole answer' });
    const res = await client.chat(user, { model: 'classifier', maxTokens: 5 });
    expect(res.text).toBe('whole answer');
    expect(s.chatRequests[0]?.body).toMatchObject({ model: 'classifier', max_tokens: 5, stream: false });
  });
});

describe('ProviderClient: retries', () => {
  it.each([
    ['500', { kind: 'error', status: 500 } as const],
    ['503', { kind: 'error', status: 503 } as const],
    ['408', { kind: 'error', status: 408 } as const],
    ['connection reset', { kind: 'reset' } as const],
  ])('retries %s and then succeeds', async (_name, step) => {
    const { s, client, sleeps } = await setup();
    s.script(step, step, { kind: 'reply', text: 'ok' });
    const deltas: string[] = [];
    const res = await client.chat(user, { onDelta: (d) => deltas.push(d) });
    expect(res.text).toBe('ok');
    expect(res.attempts).toBe(3);
    expect(deltas).toEqual(['ok']);
    expect(s.chatRequests).toHaveLength(3);
    // equal jitter with random 0.5: 500 * (0.5 + 0.25) then 1000 * 0.75
    expect(sleeps).toEqual([375, 750]);
  });

  it('honours Retry-After on 429', async () => {
    const { s, client, sleeps } = await setup({ random: () => 0 });
    s.script({ kind: 'rate-limit', retryAfterSec: 7 }, { kind: 'reply', text: 'ok' });
    await expect(client.chat(user)).resolves.toMatchObject({ text: 'ok', attempts: 2 });
    expect(sleeps).toEqual([7000]);
  });

  it('prefers retry-after-ms and really waits it with the default sleep', async () => {
    server = new FakeOpenAIServer();
    const { url } = await server.start();
    const client = new ProviderClient({ baseUrl: url, model: 'm', random: () => 0 });
    server.script({ kind: 'rate-limit', retryAfterSec: 100, retryAfterMs: 30 }, { kind: 'reply', text: 'ok' });
    await expect(client.chat(user)).resolves.toMatchObject({ attempts: 2 });
    const [a, b] = server.chatRequests;
    expect(b!.receivedAt - a!.receivedAt).toBeGreaterThanOrEqual(25);
  });

  it('gives up after maxAttempts with a typed error carrying the attempts', async () => {
    const { s, client, sleeps } = await setup({ maxAttempts: 2 });
    s.script({ kind: 'error', status: 502 }, { kind: 'error', status: 502 }, { kind: 'reply', text: 'never' });
    const err = await providerError(client.chat(user));
    expect(err.code).toBe('E_PROVIDER_HTTP');
    expect(err.status).toBe(502);
    expect(err.attempts).toBe(2);
    expect(sleeps).toHaveLength(1);
    expect(s.pendingSteps).toBe(1);
  });

  it('a persistent 429 ends as E_PROVIDER_RATE_LIMITED', async () => {
    const { s, client } = await setup({ maxAttempts: 3 });
    s.script({ kind: 'rate-limit', retryAfterSec: 1 }, { kind: 'rate-limit', retryAfterSec: 1 }, { kind: 'rate-limit', retryAfterSec: 2 });
    const err = await providerError(client.chat(user));
    expect(err.code).toBe('E_PROVIDER_RATE_LIMITED');
    expect(err.message).toMatch(/Try again in 2 s/);
    expect(s.chatRequests).toHaveLength(3);
  });

  it('a Retry-After longer than maxRetryAfterMs fails at once', async () => {
    const { s, client, sleeps } = await setup({ retry: { maxRetryAfterMs: 5_000 } });
    s.script({ kind: 'rate-limit', retryAfterSec: 60 }, { kind: 'reply', text: 'ok' });
    const err = await providerError(client.chat(user));
    expect(err.code).toBe('E_PROVIDER_RATE_LIMITED');
    expect(sleeps).toEqual([]);
    expect(s.chatRequests).toHaveLength(1);
  });

  it.each([
    [400, 'E_PROVIDER_HTTP'],
    [404, 'E_PROVIDER_HTTP'],
    [401, 'E_PROVIDER_AUTH'],
    [403, 'E_PROVIDER_AUTH'],
  ] as const)('HTTP %i fails at once as %s', async (status, code) => {
    const { s, client, sleeps } = await setup();
    s.script({ kind: 'error', status }, { kind: 'reply', text: 'never' });
    const err = await providerError(client.chat(user, { onDelta: () => undefined }));
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(s.chatRequests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('a context overflow is E_CONTEXT_OVERFLOW and not retried', async () => {
    const { s, client } = await setup();
    s.script({ kind: 'overflow' }, { kind: 'reply', text: 'never' });
    const err = await providerError(client.chat(user, { onDelta: () => undefined }));
    expect(err.code).toBe('E_CONTEXT_OVERFLOW');
    expect(isSwitchyardError(err, 'E_CONTEXT_OVERFLOW')).toBe(true);
    expect(s.chatRequests).toHaveLength(1);
  });

  it('a connection lost after deltas were delivered is not retried (no duplicated text)', async () => {
    const { s, client } = await setup();
    s.script({ kind: 'reset-mid-stream', text: 'a b c d', afterTokens: 2 }, { kind: 'reply', text: 'never' });
    const deltas: string[] = [];
    const err = await providerError(client.chat(user, { onDelta: (d) => deltas.push(d) }));
    expect(err.code).toBe('E_PROVIDER_CONNECTION');
    expect(deltas).toEqual(['a ', 'b ']);
    expect(s.chatRequests).toHaveLength(1);
  });

  it('a stalled stream times out after timeoutMs of silence, closes the socket and is retried', async () => {
    const { s, client } = await setup({ timeoutMs: 60 });
    s.script({ kind: 'stall' }, { kind: 'reply', text: 'recovered' });
    const res = await client.chat(user, { onDelta: () => undefined });
    expect(res).toMatchObject({ text: 'recovered', attempts: 2 });
    expect(s.chatRequests[0]?.closedByClient).toBe(true);
  });

  it('a server slower than timeoutMs to its first byte is abandoned and retried', async () => {
    const { s, client } = await setup({ timeoutMs: 60 });
    s.script({ kind: 'reply', text: 'too late', firstByteDelayMs: 400 }, { kind: 'reply', text: 'on time', firstByteDelayMs: 10 });
    const deltas: string[] = [];
    const res = await client.chat(user, { onDelta: (d) => deltas.push(d) });
    expect(res).toMatchObject({ text: 'on time', attempts: 2 });
    expect(deltas.join('')).toBe('on time');
    await vi.waitFor(() => expect(s.chatRequests[0]!.closedByClient).toBe(true), { timeout: 2000, interval: 5 });
    expect(s.chatRequests[0]!.tokensSent).toBe(0);
  });

  it('a stall after deltas fails with E_PROVIDER_TIMEOUT', async () => {
    const { s, client } = await setup({ timeoutMs: 60 });
    s.script({ kind: 'stall', text: 'x y z', afterTokens: 1 });
    const err = await providerError(client.chat(user, { onDelta: () => undefined }));
    expect(err.code).toBe('E_PROVIDER_TIMEOUT');
  });

  it('a per-request timeoutMs overrides the client idle timeout', async () => {
    const { s, client } = await setup({ timeoutMs: 60_000, maxAttempts: 1 });
    s.script({ kind: 'stall' });
    const started = performance.now();
    const err = await providerError(client.chat(user, { timeoutMs: 50 }));
    expect(err.code).toBe('E_PROVIDER_TIMEOUT');
    expect(err.context).toMatchObject({ timeoutMs: 50 });
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('an abort during the backoff wait rejects at once', async () => {
    server = new FakeOpenAIServer();
    const { url } = await server.start();
    const client = new ProviderClient({ baseUrl: url, model: 'm' });
    server.script({ kind: 'rate-limit', retryAfterSec: 20 });
    const ac = new AbortController();
    server.observe({ onRequest: () => setTimeout(() => ac.abort(new Error('bye')), 20) });
    const started = performance.now();
    await expect(client.chat(user, { signal: ac.signal })).rejects.toThrow('bye');
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('validates options at construction', () => {
    expect(() => new ProviderClient({ baseUrl: 'localhost:1', model: 'm' })).toThrow(/provider.baseUrl/);
    expect(() => new ProviderClient({ baseUrl: 'http://x/v1', model: 'm', maxAttempts: 0 })).toThrow(/provider.maxAttempts/);
  });
});

describe('retry policy', () => {
  it('backs off exponentially with equal jitter under the ceiling', () => {
    const v = { error: new ProviderError('E_PROVIDER_HTTP', 'x'), retryable: true };
    const policy = { ...DEFAULT_RETRY_POLICY, maxAttempts: 10 };
    expect(retryDelay(v, 1, policy, () => 0)).toBe(250);
    expect(retryDelay(v, 1, policy, () => 1)).toBe(500);
    expect(retryDelay(v, 3, policy, () => 1)).toBe(2000);
    expect(retryDelay(v, 9, policy, () => 1)).toBe(8000);
    expect(retryDelay(v, 10, policy, () => 1)).toBeUndefined();
    expect(retryDelay({ ...v, retryable: false }, 1, policy)).toBeUndefined();
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '3' }))).toBe(3000);
    expect(retryAfterMs(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 4_000)).toBe(6000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(retryAfterMs(new Headers({}))).toBeUndefined();
  });
});

describe('ProviderClient: server quirks', () => {
  it('drops stream_options for good when an older server rejects it', async () => {
    const { s, client } = await setup({ maxAttempts: 1 });
    s.script(
      { kind: 'error', status: 400, body: { error: { message: "Unrecognized request argument supplied: stream_options", type: 'invalid_request_error', code: null } } },
      { kind: 'reply', text: 'fine' },
      { kind: 'reply', text: 'again' },
    );
    await expect(client.chat(user, { onDelta: () => undefined })).resolves.toMatchObject({ text: 'fine', usage: undefined });
    await expect(client.chat(user, { onDelta: () => undefined })).resolves.toMatchObject({ text: 'again' });
    expect(s.chatRequests.map((r) => r.body?.stream_options)).toEqual([{ include_usage: true }, undefined, undefined]);
  });
});
