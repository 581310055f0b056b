/**
 * Headless Chromium against the whole gateway on loopback: `createGateway` from the shipped config shape
 * (SQLite store in a temp dir, the webchat channel, one agent) talking to the bundled fake OpenAI-compatible
 * server. Chat in the webchat page, watch the reply stream, press Stop mid-stream, and see the dashboard (a
 * second tab, live over SSE) show the running session and then both outcomes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { parseConfig } from '../../src/config/index.js';
import { FakeOpenAIServer, type FakeChatRequest, type FakeStep } from '../../src/fakes/index.js';
import { CHANNEL_FACTORIES, createGateway, type Gateway } from '../../src/gateway/index.js';
import { WebchatChannel } from '../../src/webchat/index.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, loadBrowserKit } from './harness.js';

const kit = await loadBrowserKit();
if (kit.skip !== undefined) console.warn(kit.skip);

/** The fake model: "long story please" gets 200 words at 50 ms each (~10 s, so Stop lands mid-stream). */
function respond(request: FakeChatRequest): FakeStep {
  const lastUser = [...request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const n = lastUser.includes('long story please') ? 200 : 6;
  const text = Array.from({ length: n }, (_, i) => `word${i + 1}`).join(' ');
  return { kind: 'reply', text, tokenDelayMs: n === 200 ? 50 : 20 };
}

/** The shipped config's shape: SQLite in `dir`, loopback HTTP on a free port, the webchat channel, one agent. */
function configYaml(dir: string, modelUrl: string, extra: { adminToken?: string; maxAttempts?: number } = {}): string {
  return [
    `store: { path: ${JSON.stringify(join(dir, 'switchyard.db'))}, backup: { dir: ${JSON.stringify(join(dir, 'backups'))} } }`,
    `http: { host: 127.0.0.1, port: 0${extra.adminToken ? `, adminToken: ${extra.adminToken}` : ''} }`,
    'lanes: { main: 2, subagent: 1, background: 1 }',
    'agents:',
    '  default:',
    `    provider: { baseUrl: ${JSON.stringify(modelUrl)}, model: fake-model, maxAttempts: ${extra.maxAttempts ?? 3} }`,
    '    contextWindow: 32768',
    '    systemPrompt: You are a test.',
    'channels:',
    '  - { id: local, type: webchat, agent: default, lane: main }',
  ].join('\n');
}

describe.skipIf(kit.skip !== undefined)('webchat in headless Chromium against the gateway', () => {
  let browser: Browser;
  let model: FakeOpenAIServer;
  let gateway: Gateway;
  let dir: string;
  let base: string;

  beforeAll(async () => {
    model = new FakeOpenAIServer({ responder: respond });
    const { url: modelUrl } = await model.start();
    dir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
    // The shipped webchat factory, plus the stored history so a reload shows the conversation.
    gateway = await createGateway(parseConfig(configYaml(dir, modelUrl), 'e2e.yaml', {}), {
      channelFactories: {
        ...CHANNEL_FACTORIES,
        webchat: (config, deps) =>
          new WebchatChannel({ id: config.id, ingress: deps.ingress, deliveryLog: deps.deliveries, logger: deps.logger, history: (key) => gateway.store.history(key) }),
      },
    });
    const { url } = await gateway.start();
    base = url;
    browser = await kit.playwright!.chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.stop({ deadlineMs: 0 });
    await model?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('streams a reply, stops another mid-stream, and the dashboard shows both', async () => {
    const context = await browser.newContext();
    const dashboard: Page = await context.newPage();
    await dashboard.goto(`${base}/dashboard`);
    await dashboard.waitForSelector('#status[data-state="online"]', { timeout: 10_000 });
    await dashboard.waitForSelector('#lanes tr[data-lane="main"]');

    const chat: Page = await context.newPage();
    const pageErrors: string[] = [];
    chat.on('pageerror', (e) => pageErrors.push(e.message));
    dashboard.on('pageerror', (e) => pageErrors.push(e.message));
    await chat.goto(base);
    await chat.waitForSelector('#status[data-state="online"]', { timeout: 10_000 });

    // 1. A short reply streams in and completes.
    await chat.fill('#input', 'hello there');
    await chat.press('#input', 'Enter');
    await chat.waitForSelector('.msg.user >> text=hello there');
    const first = chat.locator('.msg.assistant').nth(0);
    await first.locator('.body', { hasText: 'word1' }).waitFor({ timeout: 10_000 });
    await chat.waitForSelector('.msg.assistant[data-state="done"]', { timeout: 10_000 });
    expect(await first.locator('.body').textContent()).toBe('word1 word2 word3 word4 word5 word6');

    // 2. A long reply: seen streaming, then stopped with the Stop button before it is done.
    await chat.fill('#input', 'long story please');
    await chat.press('#input', 'Enter');
    const second = chat.locator('.msg.assistant').nth(1);
    await second.locator('.body', { hasText: 'word3 ' }).waitFor({ timeout: 10_000 });
    expect(await second.getAttribute('class')).toContain('streaming');
    expect(await chat.isEnabled('#stop')).toBe(true);
    // Meanwhile the dashboard shows the session running and its lane slot taken.
    const sessionKey = await chat.getAttribute('body', 'data-session');
    expect(sessionKey).toMatch(/^local:dm:/);
    await dashboard.waitForSelector(`#sessions tr[data-session="${sessionKey}"][data-state="running"]`, { timeout: 10_000 });
    await dashboard.locator('#lanes tr[data-lane="main"] .active', { hasText: /^1 \/ 2$/ }).waitFor({ timeout: 10_000 });
    await chat.click('#stop');
    await chat.waitForSelector('.msg.assistant[data-state="stopped"]', { timeout: 10_000 });
    const partial = (await second.locator('.body').textContent()) ?? '';
    expect(partial).toMatch(/^word1 word2 word3 /);
    expect(partial).not.toContain('word200');
    await chat.waitForSelector('.msg.notice', { timeout: 5_000 }); // /stop answers with what it stopped

    // 3. The dashboard, live over SSE, shows the answered and the stopped message.
    await dashboard.waitForSelector('#outcomes li[data-outcome="cancelled"][data-reason="stop"]', { timeout: 10_000 });
    await dashboard.waitForSelector('#outcomes li[data-outcome="answered"]');
    await dashboard.waitForSelector('#throughput[data-total="2"]', { timeout: 10_000 }); // the chart counted both
    // Lanes and sessions come with the periodic snapshot: the lane is free again and no session holds work.
    await dashboard.locator('#lanes tr[data-lane="main"] .active', { hasText: /^0 \/ 2$/ }).waitFor({ timeout: 10_000 });
    await dashboard.locator('#sessions td.empty').waitFor({ timeout: 10_000 });
    expect(await dashboard.locator('#sessions tr[data-session]').count()).toBe(0);
    // The abort tore the model's HTTP stream down, and nothing more arrived in the chat after the stop.
    const longRequest = model.chatRequests.find((r) => JSON.stringify(r.body?.messages).includes('long story please'));
    expect(longRequest?.closedByClient).toBe(true);
    expect(longRequest!.tokensSent).toBeLessThan(200);
    expect(await second.locator('.body').textContent()).toBe(partial);
    expect(pageErrors).toEqual([]);

    // 4. A reload shows the conversation from the store, and the chat goes on in the same session.
    await chat.reload();
    await chat.waitForSelector('#status[data-state="online"]', { timeout: 10_000 });
    await chat.waitForSelector('.msg.user[data-history] >> text=hello there', { timeout: 10_000 });
    await chat.waitForSelector('.msg.assistant[data-history] >> text=word1 word2 word3 word4 word5 word6');
    expect(await chat.getAttribute('body', 'data-session')).toBe(sessionKey);
    expect(pageErrors).toEqual([]);
    await context.close();
  });
});

describe.skipIf(kit.skip !== undefined)('gateway without a model, with an admin token', () => {
  let browser: Browser;
  let gateway: Gateway;
  let dir: string;
  let base: string;
  const token = 'e2e-admin-token-7d1f0c';

  beforeAll(async () => {
    // A model URL nothing listens on: the address of a fake that was started and closed again.
    const gone = new FakeOpenAIServer();
    const { url: deadUrl } = await gone.start();
    await gone.close();
    dir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
    gateway = await createGateway(parseConfig(configYaml(dir, deadUrl, { adminToken: token, maxAttempts: 1 }), 'e2e.yaml', {}));
    base = (await gateway.start()).url;
    browser = await kit.playwright!.chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  });

  afterAll(async () => {
    await browser?.close();
    await gateway?.stop({ deadlineMs: 0 });
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('the chat says what to configure, and the dashboard asks for the token before showing the failure', async () => {
    const context = await browser.newContext();
    const chat = await context.newPage();
    await chat.goto(base);
    await chat.waitForSelector('#status[data-state="online"]', { timeout: 10_000 });
    await chat.fill('#input', 'anyone there?');
    await chat.press('#input', 'Enter');
    const notice = chat.locator('.msg.notice', { hasText: 'OPENAI_BASE_URL' });
    await notice.waitFor({ timeout: 15_000 });
    expect(await notice.textContent()).toContain('cannot be reached');

    const dashboard = await context.newPage();
    await dashboard.goto(`${base}/dashboard`);
    await dashboard.waitForSelector('#auth:not([hidden])', { timeout: 10_000 });
    expect(await dashboard.locator('#outcomes li').count()).toBe(0);
    await dashboard.fill('#token', 'wrong-token');
    await dashboard.click('#auth button[type="submit"]');
    await dashboard.waitForSelector('#auth:not([hidden])', { timeout: 10_000 }); // asked again
    await dashboard.fill('#token', token);
    await dashboard.click('#auth button[type="submit"]');
    await dashboard.waitForSelector('#status[data-state="online"]', { timeout: 10_000 });
    await dashboard.waitForSelector('#outcomes li[data-outcome="failed"]', { timeout: 10_000 });
    await context.close();
  });
});
