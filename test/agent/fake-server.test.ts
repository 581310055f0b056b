import OpenAI from 'openai';
import type { APIError } from 'openai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeOpenAIServer } from '../../src/fakes/index.js';

let server: FakeOpenAIServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: ConstructorParameters<typeof FakeOpenAIServer>[0] = {}): Promise<{ s: FakeOpenAIServer; client: OpenAI }> {
  server = new FakeOpenAIServer(options);
  const { url } = await server.start();
  return { s: server, client: new OpenAI({ baseURL: url, apiKey: 'k', maxRetries: 0 }) };
}

describe('FakeOpenAIServer', () => {
  it('streams a scripted reply as SSE with usage, through the real openai client', async () => {
    const { s, client } = await start();
    s.script({ kind: 'reply', text: 'one two three', usage: { prompt_tokens: 42 } });
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const parts: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta.content;
      if (d) parts.push(d);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(parts).toEqual(['one ', 'two ', 'three']);
    expect(usage).toMatchObject({ prompt_tokens: 42, completion_tokens: 3, total_tokens: 45 });
    expect(s.chatRequests[0]?.body?.messages).toEqual([{ role: 'user', content: 'hi' }]);
    expect(s.chatRequests[0]?.finished).toBe(true);
  });

  it('answers non-streaming requests with a whole completion and echoes by default', async () => {
    const { client } = await start();
    const res = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'ping' }] });
    expect(res.choices[0]?.message.content).toBe('echo: ping');
    expect(res.usage?.prompt_tokens).toBeGreaterThan(0);
  });

  it('lists models', async () => {
    const { client } = await start({ models: ['a', 'b'] });
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual(['a', 'b']);
  });

  it('answers scripted errors with their status, Retry-After and overflow code', async () => {
    const { s, client } = await start();
    s.script({ kind: 'error', status: 503 }, { kind: 'rate-limit', retryAfterSec: 7 }, { kind: 'overflow' }, { kind: 'error', status: 401 });
    const req = () => client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    await expect(req()).rejects.toMatchObject({ status: 503 });
    const rl = await req().catch((e: APIError) => e);
    expect(rl).toMatchObject({ status: 429 });
    expect((rl as APIError).headers?.get('retry-after')).toBe('7');
    await expect(req()).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
    await expect(req()).rejects.toMatchObject({ status: 401 });
  });

  it('reports a context overflow when the prompt exceeds contextLimit', async () => {
    const { client } = await start({ contextLimit: 10 });
    await expect(
      client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(100) }] }),
    ).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
  });

  it('resets connections before and during a stream', async () => {
    const { s, client } = await start();
    s.script({ kind: 'reset' }, { kind: 'reset-mid-stream', text: 'a b c d', afterTokens: 2 });
    await expect(client.chat.completions.create({ model: 'm', messages: [] })).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    const stream = await client.chat.completions.create({ model: 'm', messages: [], stream: true });
    const parts: string[] = [];
    await expect(
      (async () => {
        for await (const c of stream) if (c.choices[0]?.delta.content) parts.push(c.choices[0].delta.content);
      })(),
    ).rejects.toThrow();
    expect(parts).toEqual(['a ', 'b ']);
  });

  it('records that the client closed a stalled stream', async () => {
    const { s, client } = await start();
    s.script({ kind: 'stall', text: 'x y', afterTokens: 1 });
    const ac = new AbortController();
    const stream = await client.chat.completions.create({ model: 'm', messages: [], stream: true }, { signal: ac.signal });
    const it = stream[Symbol.asyncIterator]();
    await it.next(); // role chunk
    await it.next(); // 'x '
    const pending = it.next();
    ac.abort();
    // The openai SDK ends the iteration quietly on abort (done: true) rather than throwing.
    await expect(pending.catch(() => ({ done: true }))).resolves.toMatchObject({ done: true });
    await vi.waitFor(() => expect(s.chatRequests[0]?.closedByClient).toBe(true), { timeout: 2000, interval: 5 });
    expect(s.chatRequests[0]?.tokensSent).toBe(1);
  });

  it('rejects a wrong API key with 401 when one is configured', async () => {
    const { client } = await start({ apiKey: 'right' });
    await expect(client.chat.completions.create({ model: 'm', messages: [] })).rejects.toMatchObject({ status: 401 });
  });
});
