import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/index.js';
import { SchedulerDashboardFeed, loadWebAssets, type DashboardEvent } from '../../src/webchat/index.js';
import { flush, gatedScheduler, msg } from '../http/helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('SchedulerDashboardFeed', () => {
  it('snapshots lanes, busy sessions with state and depth, recent outcomes and per-second throughput', async () => {
    let clock = 10_000_500;
    const { scheduler, gates } = gatedScheduler({ main: 1, subagent: 1, background: 1 }, () => clock);
    const feed = new SchedulerDashboardFeed(scheduler, { now: () => clock, throughputSeconds: 5 });
    scheduler.submit(msg('a'));
    scheduler.submit(msg('a'));
    scheduler.submit(msg('b'));
    await flush();
    let snap = feed.snapshot();
    expect(snap.lanes.find((l) => l.name === 'main')).toMatchObject({ active: 1, pending: 1, concurrency: 1 });
    expect(snap.sessions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'a', state: 'running', depth: 1, mode: 'followup' }),
        expect.objectContaining({ key: 'b', state: 'waiting', depth: 0 }),
      ]),
    );
    gates[0]!.resolve();
    await flush();
    clock += 2_000;
    scheduler.stop('b');
    await flush();
    snap = feed.snapshot();
    expect(snap.recent.map((o) => `${o.sessionKey}:${o.outcome}`)).toEqual(['b:cancelled', 'a:answered']);
    expect(snap.recent[0]!.reason).toBe('stop');
    expect(snap.throughput).toHaveLength(5);
    expect(snap.throughput.map((b) => [b.answered, b.failed, b.other])).toEqual([
      [0, 0, 0],
      [0, 0, 0],
      [1, 0, 0],
      [0, 0, 0],
      [0, 0, 1],
    ]);
    expect(snap.throughput[4]!.t).toBe(10_002_000);
    // Buckets older than the window are reused, not double counted.
    clock += 10_000;
    expect(feed.snapshot().throughput.every((b) => b.answered + b.failed + b.other === 0)).toBe(true);
    feed.close();
    await scheduler.drain({ deadlineMs: 0 });
  });

  it('pushes outcome events and periodic snapshots only while subscribed', async () => {
    vi.useFakeTimers();
    const { scheduler, gates } = gatedScheduler();
    const feed = new SchedulerDashboardFeed(scheduler, { snapshotIntervalMs: 1000 });
    const events: DashboardEvent[] = [];
    const unsubscribe = feed.subscribe((e) => events.push(e));
    scheduler.submit(msg('a'));
    await vi.advanceTimersByTimeAsync(0);
    gates[0]!.resolve();
    await vi.advanceTimersByTimeAsync(1000);
    expect(events.map((e) => e.type)).toEqual(['run:start', 'outcome', 'run:end', 'snapshot']);
    unsubscribe();
    await vi.advanceTimersByTimeAsync(5000);
    expect(events).toHaveLength(4);
    expect(vi.getTimerCount()).toBe(1); // only the scheduler's own lane monitor
    feed.close();
    await scheduler.drain({ deadlineMs: 0 });
  });
});

describe('dashboard over HTTP', () => {
  let server: HttpServer | undefined;
  afterEach(async () => server?.close());

  it('streams the feed as Server-Sent Events behind the admin token', async () => {
    const token = 'dash-token-91b2';
    const { scheduler, gates } = gatedScheduler();
    const feed = new SchedulerDashboardFeed(scheduler, { snapshotIntervalMs: 60_000 });
    server = createHttpServer({ port: 0, adminToken: token, dashboard: feed, pages: false });
    const { port } = await server.listen();
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/admin/feed`)).status).toBe(401);
    const snap = await fetch(`${base}/admin/dashboard`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await snap.json()) as { lanes: unknown[] }).lanes).toHaveLength(3);

    const res = await fetch(`${base}/admin/feed`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (needle: string): Promise<void> => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await until('event: snapshot\n');
    scheduler.submit(msg('s9', 'hello'));
    await flush();
    gates[0]!.resolve();
    await until('event: outcome\n');
    const line = text.split('\n').find((l) => l.startsWith('data: {"type":"outcome"'))!;
    expect(JSON.parse(line.slice(6))).toMatchObject({ type: 'outcome', outcome: { sessionKey: 's9', outcome: 'answered' } });
    await reader.cancel();
    await server.close(); // ends open streams; must not hang
    server = undefined;
    feed.close();
    await scheduler.drain({ deadlineMs: 0 });
  });
});

describe('pages', () => {
  let server: HttpServer | undefined;
  afterEach(async () => server?.close());

  it('serves the chat page, the dashboard and their assets with a strict CSP, and nothing else from disk', async () => {
    server = createHttpServer({ port: 0 });
    const chat = await server.app.inject('/');
    expect(chat.statusCode).toBe(200);
    expect(chat.headers['content-type']).toContain('text/html');
    expect(chat.headers['content-security-policy']).toContain("default-src 'self'");
    expect(chat.body).toContain('/assets/chat.js');
    const dash = await server.app.inject('/dashboard');
    expect(dash.body).toContain('<canvas id="throughput"');
    for (const asset of ['chat.js', 'dashboard.js', 'style.css']) {
      const r = await server.app.inject(`/assets/${asset}`);
      expect(r.statusCode).toBe(200);
    }
    expect((await server.app.inject('/assets/..%2Fchannel.ts')).statusCode).toBe(404);
    expect((await server.app.inject('/assets/index.html')).statusCode).toBe(404);
    expect((await server.app.inject('/assets/nope.js')).statusCode).toBe(404);
  });

  it('still serves probes when the pages are missing, and says so for the pages', async () => {
    server = createHttpServer({ port: 0, assets: new Map() });
    expect((await server.app.inject('/healthz')).statusCode).toBe(200);
    const r = await server.app.inject('/');
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ code: 'E_NOT_FOUND', message: 'Page index.html was not found' });
  });

  it('ships pages that load no third-party code', () => {
    for (const [name, asset] of loadWebAssets()) {
      const text = asset.body.toString('utf8');
      expect(text, name).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)[a-z0-9.-]+\.[a-z]{2,}\//i);
      expect(text, name).not.toContain('innerHTML');
    }
  });
});
