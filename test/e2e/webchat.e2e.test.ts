/**
 * Headless Chromium against a real gateway stack on loopback: chat in the webchat page, watch the reply stream,
 * press Stop mid-stream, and see the dashboard (a second tab, live over SSE) show both outcomes.
 *
 * The stack is the real one minus the model: MemoryStore, Scheduler, Ingress, WebchatChannel, the HTTP server
 * with metrics and the dashboard feed; the model is a scripted runner that streams words on a timer and honours
 * the run's abort signal, as the agent runtime does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { InboundMessage } from '../../src/channels/index.js';
import { createHttpServer, SchedulerAdminBackend, type HttpServer } from '../../src/http/index.js';
import { Ingress, replyTargetOf } from '../../src/ingress/index.js';
import { Metrics, bindScheduler } from '../../src/metrics/index.js';
import { Scheduler } from '../../src/scheduler/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { SchedulerDashboardFeed, WebchatChannel } from '../../src/webchat/index.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, loadBrowserKit } from './harness.js';

const kit = await loadBrowserKit();
if (kit.skip !== undefined) console.warn(kit.skip);

/** The scripted model: the reply to "long ..." takes ~10 s (so Stop lands mid-stream); anything else ~0.3 s. */
function scriptFor(text: string): string[] {
  const n = text.startsWith('long') ? 200 : 6;
  return Array.from({ length: n }, (_, i) => `word${i + 1} `);
}

describe.skipIf(kit.skip !== undefined)('webchat in headless Chromium', () => {
  let browser: Browser;
  let server: HttpServer;
  let scheduler: Scheduler<InboundMessage>;
  let channel: WebchatChannel;
  let feed: SchedulerDashboardFeed<InboundMessage>;
  let base: string;

  beforeAll(async () => {
    const store = new MemoryStore();
    // eslint-disable-next-line prefer-const -- assigned after the scheduler, which the runner closes over
    let webchat: WebchatChannel;
    scheduler = new Scheduler<InboundMessage>({
      lanes: { main: 2, subagent: 1, background: 1 },
      settings: () => ({ mode: 'followup', maxConcurrent: 1 }),
      cutoffs: store.cutoffs,
      run: async (turn, ctx) => {
        const owner = turn.messages[0]!;
        const reply = webchat.openReply(replyTargetOf(owner), { runId: turn.id, signal: ctx.signal });
        let text = '';
        try {
          for (const word of scriptFor(owner.text)) {
            await new Promise<void>((resolve, reject) => {
              const timer = setTimeout(resolve, 50);
              ctx.signal.addEventListener('abort', () => {
                clearTimeout(timer);
                reject(ctx.signal.reason);
              }, { once: true });
            });
            text += word;
            reply.delta(word);
          }
          await reply.complete(text.trim());
        } catch (err) {
          await reply.cancel('stopped');
          throw err;
        }
      },
    });
    const ingress = new Ingress({ store, scheduler, channel: (id) => (id === 'local' ? webchat : undefined) });
    webchat = new WebchatChannel({ id: 'local', ingress, deliveryLog: store });
    channel = webchat;
    await webchat.start();
    const metrics = new Metrics({ processMetrics: false });
    bindScheduler(metrics, scheduler);
    feed = new SchedulerDashboardFeed(scheduler, { snapshotIntervalMs: 250 });
    server = createHttpServer({
      port: 0,
      metrics,
      webchat,
      dashboard: feed,
      admin: new SchedulerAdminBackend({ scheduler, store, channelIds: ['local'] }),
    });
    const { port } = await server.listen();
    server.setReadiness('ready');
    base = `http://127.0.0.1:${port}`;
    browser = await kit.playwright!.chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  });

  afterAll(async () => {
    await browser?.close();
    await channel?.stop();
    feed?.close();
    await server?.close();
    await scheduler?.drain({ deadlineMs: 0 });
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
    // Nothing more arrived after the stop (checked after the dashboard steps, which take real time).
    expect(await second.locator('.body').textContent()).toBe(partial);
    expect(pageErrors).toEqual([]);
    await context.close();
  });
});
