import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { FakeOpenAIServer } from '../../src/fakes/index.js';
import { createGateway, createGatewayLogger, type Gateway } from '../../src/gateway/index.js';
import { ChatClient, LogSink, testYaml } from './helpers.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function fakeModel(options: ConstructorParameters<typeof FakeOpenAIServer>[0] = {}) {
  const server = new FakeOpenAIServer(options);
  await server.start();
  cleanups.push(() => server.close());
  return server;
}

async function gatewayFor(yaml: string, sink = new LogSink()): Promise<{ gateway: Gateway; url: string; sink: LogSink }> {
  const config = parseConfig(yaml, 'test.yaml', {});
  const secrets = new Set<string>();
  const logger = createGatewayLogger({ level: 'debug', secrets, destination: sink });
  const gateway = await createGateway(config, { logger, secrets, configFile: 'test.yaml' });
  cleanups.push(() => gateway.stop({ deadlineMs: 0 }));
  const { url } = await gateway.start();
  return { gateway, url, sink };
}

async function chat(url: string, clientId: string): Promise<ChatClient> {
  const c = await ChatClient.open(url, clientId);
  cleanups.push(() => c.close());
  return c;
}

describe('createGateway: the whole path over real sockets', () => {
  it('answers a webchat message with a streamed reply from the model, and reports health, readiness and metrics', async () => {
    const model = await fakeModel();
    model.respondWith(() => ({ kind: 'reply', text: 'Hello there, traveller of the web.' }));
    const { url, gateway } = await gatewayFor(testYaml({ baseUrl: model.url }));

    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    const c = await chat(url, 'browser-aaaa1');
    c.say('hi');
    const done = await c.next('reply:done');
    expect(done.text).toBe('Hello there, traveller of the web.');
    expect(c.frames.filter((f) => f.type === 'reply:delta').length).toBeGreaterThan(1);
    expect(model.chatRequests.at(-1)!.body!.messages.at(-1)).toMatchObject({ role: 'user', content: expect.stringContaining('hi') });

    await vi.waitFor(async () => {
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/switchyard_messages_total\{outcome="answered"[^}]*\} 1/);
    });
    const history = await gateway.store.history('local:dm:browser-aaaa1');
    expect(history.map((h) => h.role)).toEqual(['user', 'assistant']);
    // A reloaded page (same client id) is shown the stored conversation.
    const again = await chat(url, 'browser-aaaa1');
    const shown = await again.next('history');
    expect(JSON.stringify(shown)).toContain('Hello there, traveller of the web.');
  });

  it('with no model server, still runs and tells the chat what to configure', async () => {
    const closed = await fakeModel();
    const baseUrl = closed.url;
    await closed.close();
    const { url, sink } = await gatewayFor(testYaml({ baseUrl }));
    const c = await chat(url, 'browser-bbbb2');
    c.say('anyone there?');
    const notice = await c.next('notice', (f) => /cannot be reached/.test(f.text));
    expect(notice.text).toContain(baseUrl);
    expect(notice.text).toContain('OPENAI_BASE_URL');
    expect(notice.text).toContain('npm run demo');
    expect(notice.text).toContain('agents.default.provider in test.yaml');
    await vi.waitFor(() => expect(sink.text).toMatch(/cannot be reached/)); // the start-up probe says it too
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('pairing end to end: a stranger gets a code, the admin API approves it, then the stranger is answered', async () => {
    const model = await fakeModel();
    const { url } = await gatewayFor(testYaml({ baseUrl: model.url, access: '{ dm: pairing }' }));
    const stranger = await chat(url, 'browser-cccc3');
    stranger.say('let me in');
    const notice = await stranger.next('notice', (f) => /pairing code/.test(f.text));
    const code = /([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(notice.text)![1]!;
    expect(model.chatRequests).toHaveLength(0);

    const listed = (await (await fetch(`${url}/admin/pairing?channel=local`)).json()) as { requests: Array<{ code: string }> };
    expect(listed.requests.map((r) => r.code)).toEqual([code]);
    // Typed by a human: lower case, a space instead of the dash.
    const res = await fetch(`${url}/admin/pairing/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'local', code: code.toLowerCase().replace('-', ' ') }),
    });
    expect(res.status).toBe(200);
    stranger.say('now?');
    expect((await stranger.next('reply:done')).text).toBe('echo: now?');
  });

  it('SIGTERM-style stop lets an active run finish within the deadline, and refuses readiness while draining', async () => {
    const model = await fakeModel({ tokenDelayMs: 20 });
    model.respondWith(() => ({ kind: 'reply', text: 'one two three four five six seven eight' }));
    const { url, gateway } = await gatewayFor(testYaml({ baseUrl: model.url }));
    const c = await chat(url, 'browser-dddd4');
    c.say('long one');
    await c.next('reply:delta');
    const stopping = gateway.stop({ deadlineMs: 5000 });
    const result = await stopping;
    expect(result).toMatchObject({ unfinished: [], aborted: [] });
    expect(c.frames.find((f) => f.type === 'reply:done')).toMatchObject({ text: 'one two three four five six seven eight' });
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('recovery: a run cut by a shutdown at its deadline is answered after the next start, once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-gw-'));
    const storePath = join(dir, 'switchyard.db');
    const model = await fakeModel();
    model.script({ kind: 'stall', text: 'never finished', afterTokens: 1 });
    const first = await gatewayFor(testYaml({ baseUrl: model.url, storePath }));
    const c1 = await chat(first.url, 'browser-eeee5');
    c1.say('survive a restart');
    await c1.next('reply:start');
    const drained = await first.gateway.stop({ deadlineMs: 50 });
    expect(drained!.aborted).toHaveLength(1);
    await c1.close();

    model.respondWith(() => ({ kind: 'reply', text: 'answered after restart' }));
    const second = await gatewayFor(testYaml({ baseUrl: model.url, storePath }));
    const c2 = await chat(second.url, 'browser-eeee5');
    expect((await c2.next('reply:done')).text).toBe('answered after restart');
    const history = await second.gateway.store.history('local:dm:browser-eeee5');
    expect(history.filter((h) => h.role === 'user')).toHaveLength(1);
    expect(history.filter((h) => h.role === 'assistant').map((h) => h.content)).toEqual(['answered after restart']);
  });

  it('never writes a configured secret to the log, even at debug level', async () => {
    const model = await fakeModel({ apiKey: 'sk-test-secret-4567' });
    const { url, sink, gateway } = await gatewayFor(testYaml({ baseUrl: model.url, adminToken: 'admin-secret-token-1234', apiKey: 'sk-test-secret-4567' }));
    const c = await chat(url, 'browser-ffff6');
    c.say('hello');
    await c.next('reply:done');
    await fetch(`${url}/admin/sessions`, { headers: { authorization: 'Bearer admin-secret-token-1234' } });
    await fetch(`${url}/admin/sessions?token=admin-secret-token-1234`, { headers: { authorization: 'Bearer wrong' } });
    // A component that logs a secret by accident (in a message or an odd field) is scrubbed too.
    gateway.logger.warn({ url: 'http://x/?k=sk-test-secret-4567', detail: { t: 'admin-secret-token-1234' } }, 'oops admin-secret-token-1234');
    expect(sink.text).toContain('oops [redacted]');
    expect(sink.lines.length).toBeGreaterThan(5);
    expect(sink.text).not.toContain('admin-secret-token-1234');
    expect(sink.text).not.toContain('sk-test-secret-4567');
  });

  it('reload resizes lanes and applies new access rules; store and http changes wait for a restart', async () => {
    const model = await fakeModel();
    const yaml = testYaml({ baseUrl: model.url });
    const { gateway } = await gatewayFor(yaml);
    const next = parseConfig(
      yaml.replace('lanes: { main: 2 }', 'lanes: { main: 5 }').replace('port: 0', 'port: 1').replace('type: webchat', 'type: webchat\n    access: { dm: allowlist }'),
      'test.yaml',
      {},
    );
    const result = await gateway.reload(next);
    expect(result.applied).toEqual(expect.arrayContaining(['lanes.main', 'channels.local', 'access']));
    expect(result.needsRestart).toEqual(['http']);
    expect(gateway.scheduler.lane('main').stats().concurrency).toBe(5);
    expect(gateway.access('local')!.policy.dm).toBe('allowlist');
    expect(gateway.config.http.port).toBe(0);
  });
});

describe('createGateway: agent metrics and operator stops', () => {
  it('a turn shows its tokens on /metrics with the model label', async () => {
    const model = await fakeModel();
    model.respondWith(() => ({ kind: 'reply', text: 'counted', usage: { prompt_tokens: 42, completion_tokens: 5 } }));
    const { url } = await gatewayFor(testYaml({ baseUrl: model.url }));
    const c = await chat(url, 'browser-metr1');
    c.say('how many tokens?');
    expect((await c.next('reply:done')).text).toBe('counted');
    // The provider call reports usage before the reply is delivered: no wait needed.
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('switchyard_tokens_total{model="fake-model",kind="prompt"} 42');
    expect(metrics).toContain('switchyard_tokens_total{model="fake-model",kind="completion"} 5');
    expect(metrics).toContain('switchyard_compactions_total{result="applied"} 0');
  });

  it('an operator stop through the admin API tells the chat once, through the notice path', async () => {
    const model = await fakeModel();
    model.respondWith(() => ({ kind: 'stall', text: 'thinking about it', afterTokens: 1 }));
    const { url } = await gatewayFor(testYaml({ baseUrl: model.url }));
    const c = await chat(url, 'browser-stop1');
    c.say('a long question');
    await c.next('reply:delta');
    const key = encodeURIComponent('local:dm:browser-stop1');
    const res = await fetch(`${url}/admin/sessions/${key}/stop`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { stopped?: { runId: string } }).stopped?.runId).toBeDefined();
    const notice = await c.next('notice', (f) => /operator/.test(f.text));
    expect(notice.text).toBe('An operator stopped the reply in progress.');
    await c.next('reply:cancel');
    expect(c.frames.filter((f) => f.type === 'notice')).toHaveLength(1);
  });

  it('an operator stopall tells the chat what was stopped and that older messages are ignored', async () => {
    const model = await fakeModel();
    model.respondWith(() => ({ kind: 'stall', text: 'thinking about it', afterTokens: 1 }));
    const { url } = await gatewayFor(testYaml({ baseUrl: model.url }));
    const c = await chat(url, 'browser-stop2');
    c.say('another long question');
    await c.next('reply:delta');
    const res = await fetch(`${url}/admin/sessions/${encodeURIComponent('local:dm:browser-stop2')}/stopall`, { method: 'POST' });
    expect(res.status).toBe(200);
    const notice = await c.next('notice', (f) => /operator/.test(f.text));
    expect(notice.text).toBe('An operator stopped 1 reply in this chat. Messages sent before now will be ignored.');
  });
});
