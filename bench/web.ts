/**
 * The web surface under load, over real loopback sockets:
 * - `webchat-roundtrip`: browsers (ws clients) chat with the real stack (MemoryStore, Scheduler, Ingress,
 *   WebchatChannel, HTTP server); a no-model runner streams 5 deltas and completes. Each client sends its next
 *   message when the previous reply is done. Figures: messages/s, send → `reply:done` latency.
 * - `metrics-scrape`: `/metrics` with 1,000 busy sessions (scrape-time gauges read one scheduler snapshot).
 * - `dashboard-snapshot`: `SchedulerDashboardFeed.snapshot()` with the same 1,000 busy sessions.
 * - `healthz`: probe requests per second with 16 concurrent keep-alive clients.
 */
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import type { InboundMessage } from '../src/channels/index.js';
import { createHttpServer } from '../src/http/index.js';
import { Ingress, replyTargetOf } from '../src/ingress/index.js';
import { Metrics, bindScheduler } from '../src/metrics/index.js';
import { Scheduler } from '../src/scheduler/index.js';
import { MemoryStore } from '../src/store/index.js';
import { SchedulerDashboardFeed, WebchatChannel, type ServerFrame } from '../src/webchat/index.js';
import { emit, fullGc, percentile, round, rssMB } from './_util.js';

async function webchatRoundtrip(clients: number, perClient: number): Promise<void> {
  const store = new MemoryStore();
  // eslint-disable-next-line prefer-const -- the runner closes over it; assigned once below
  let webchat: WebchatChannel;
  const scheduler = new Scheduler<InboundMessage>({
    lanes: { main: 64, subagent: 1, background: 1 },
    settings: () => ({ mode: 'followup', maxConcurrent: 1 }),
    cutoffs: store.cutoffs,
    run: async (turn, ctx) => {
      const reply = webchat.openReply(replyTargetOf(turn.messages[0]!), { runId: turn.id, signal: ctx.signal });
      for (let i = 0; i < 5; i++) reply.delta(`w${i} `);
      await reply.complete('w0 w1 w2 w3 w4');
    },
  });
  const ingress = new Ingress({ store, scheduler, channel: () => webchat });
  webchat = new WebchatChannel({ id: 'local', ingress, deliveryLog: store, maxSockets: clients + 10 });
  await webchat.start();
  const metrics = new Metrics({ processMetrics: false });
  bindScheduler(metrics, scheduler);
  const http = createHttpServer({ port: 0, webchat, metrics, pages: false });
  const { port } = await http.listen();
  const url = `ws://127.0.0.1:${port}/ws/chat`;

  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const ws = new WebSocket(url);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      let waiting: (() => void) | undefined;
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as ServerFrame;
        if (frame.type === 'ready' || frame.type === 'reply:done') waiting?.();
      });
      const next = (): Promise<void> => new Promise((resolve) => (waiting = resolve));
      let ready = next();
      ws.send(JSON.stringify({ type: 'hello', clientId: `benchclient${c}` }));
      await ready;
      for (let i = 0; i < perClient; i++) {
        ready = next();
        const sent = performance.now();
        ws.send(JSON.stringify({ type: 'message', text: `hello ${i}`, clientMessageId: String(i + 1) }));
        await ready;
        latencies.push(performance.now() - sent);
      }
      ws.close();
    }),
  );
  const ms = performance.now() - t0;
  const total = clients * perClient;
  await fullGc();
  emit({
    bench: 'web',
    workload: 'webchat-roundtrip',
    clients,
    messages: total,
    msgsPerSec: Math.round((total / ms) * 1000),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    rssMB: rssMB(),
  });
  await webchat.stop();
  await http.close();
  await scheduler.drain({ deadlineMs: 0 });
}

async function busyGateway(sessions: number) {
  const release: Array<() => void> = [];
  const scheduler = new Scheduler<{ id: string; sessionKey: string; senderId: string }>({
    lanes: { main: 64, subagent: 8, background: 2 },
    settings: () => ({ mode: 'followup', maxConcurrent: 1 }),
    run: () => new Promise<void>((resolve) => release.push(resolve)),
  });
  for (let s = 0; s < sessions; s++) {
    for (let k = 0; k < 3; k++) scheduler.submit({ id: `m${s}-${k}`, sessionKey: `tg:dm:${s}`, senderId: `${s}` });
  }
  await new Promise((r) => setImmediate(r));
  return { scheduler, release };
}

async function metricsScrape(sessions: number, scrapes: number): Promise<void> {
  const { scheduler, release } = await busyGateway(sessions);
  const metrics = new Metrics(); // with process metrics, as shipped
  bindScheduler(metrics, scheduler);
  const http = createHttpServer({ port: 0, metrics, pages: false });
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < scrapes; i++) {
    const t = performance.now();
    const res = await http.app.inject('/metrics');
    times.push(performance.now() - t);
    bytes = res.body.length;
  }
  emit({ bench: 'web', workload: 'metrics-scrape', busySessions: sessions, scrapes, p50Ms: round(percentile(times, 50), 2), p99Ms: round(percentile(times, 99), 2), bodyKB: round(bytes / 1024, 1) });
  const feed = new SchedulerDashboardFeed(scheduler);
  const snaps: number[] = [];
  let size = 0;
  for (let i = 0; i < scrapes; i++) {
    const t = performance.now();
    size = JSON.stringify(feed.snapshot()).length;
    snaps.push(performance.now() - t);
  }
  emit({ bench: 'web', workload: 'dashboard-snapshot', busySessions: sessions, snapshots: scrapes, p50Ms: round(percentile(snaps, 50), 2), p99Ms: round(percentile(snaps, 99), 2), jsonKB: round(size / 1024, 1) });
  feed.close();
  await http.close();
  for (const r of release) r();
  await scheduler.drain({ deadlineMs: 0 });
}

async function healthz(total: number, concurrency: number): Promise<void> {
  const http = createHttpServer({ port: 0, pages: false });
  const { port } = await http.listen();
  const url = `http://127.0.0.1:${port}/healthz`;
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < total) {
        sent += 1;
        const res = await fetch(url);
        await res.arrayBuffer();
      }
    }),
  );
  const ms = performance.now() - t0;
  emit({ bench: 'web', workload: 'healthz', requests: total, concurrency, reqPerSec: Math.round((total / ms) * 1000) });
  await http.close();
}

/** Runs every workload of this benchmark. */
export async function run(): Promise<void> {
  await webchatRoundtrip(50, 100);
  await metricsScrape(1_000, 100);
  await healthz(5_000, 16);
}
