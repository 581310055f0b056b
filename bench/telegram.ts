/**
 * Telegram adapter benchmark: the outbound helpers' CPU cost, and the adapter's real-HTTP throughput and
 * latency against the fake Bot API on loopback (grammY + node-fetch + node:http on one machine, so the
 * figures are an upper bound for the adapter, not for Telegram).
 *
 * Workloads: chunk (chunkMarkdown on a 10 k reply and on 1 MB), format (Markdown → HTML), ingest-polling
 * (burst throughput and trickle latency through getUpdates into a no-op ingress), ingest-webhook (sequential and
 * concurrent deliveries), reply (a 10 k reply delivered in 3 chunks; 100 replies in 100 chats), stream (edit
 * calls made for a fast 2 s token stream).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DeliveryRecord, InboundMessage, IngressPort, IngressResult } from '../src/channels/index.js';
import { TelegramChannel, markdownToTelegramHtml, type TelegramChannelOptions } from '../src/channels/telegram/index.js';
import { FakeTelegramApi } from '../src/fakes/telegram-api.js';
import { chunkMarkdown } from '../src/outbound/index.js';
import { emit, percentile, round } from './_util.js';

const BENCH = 'telegram';

function reply10k(): string {
  const prose = 'The gateway keeps one queue per session and answers in order. '.repeat(50);
  const code = Array.from({ length: 160 }, (_, i) => `    total += step_${i}(x)  # accumulate`).join('\n');
  return `${prose}\n\n\`\`\`python\ndef run(x):\n${code}\n\`\`\`\n\n**Done**: ${prose}`.slice(0, 10_000);
}

function timeLoop(fn: () => void, minMs = 400): { iterations: number; ms: number } {
  let iterations = 0;
  const t0 = performance.now();
  let ms = 0;
  while (ms < minMs) {
    for (let i = 0; i < 10; i++) fn();
    iterations += 10;
    ms = performance.now() - t0;
  }
  return { iterations, ms };
}

class CountingIngress implements IngressPort {
  count = 0;
  readonly at = new Map<string, number>();
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  async receive(message: InboundMessage): Promise<IngressResult> {
    this.count++;
    this.at.set(message.text, performance.now());
    this.waiters = this.waiters.filter((w) => (this.count >= w.n ? (w.resolve(), false) : true));
    return { status: 'accepted' };
  }
  waitFor(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

const noDeliveries = { delivered: async (): Promise<DeliveryRecord[]> => [], record: async (): Promise<void> => undefined };

async function channelOn(fake: FakeTelegramApi, ingress: IngressPort, extra: Partial<TelegramChannelOptions> = {}): Promise<TelegramChannel> {
  const channel = new TelegramChannel({
    id: 'bench',
    token: fake.token,
    apiRoot: fake.apiRoot,
    ingress,
    deliveries: noDeliveries,
    mode: 'polling',
    polling: { timeoutSeconds: 1 },
    pacing: { chatIntervalMs: 0 },
    ...extra,
  });
  await channel.start();
  return channel;
}

function userMessage(fake: FakeTelegramApi, i: number, text: string): void {
  const id = 10_000 + (i % 200);
  fake.pushMessage({ chat: { id, type: 'private', first_name: 'U' }, from: { id, is_bot: false, first_name: 'U' }, text });
}

async function benchChunk(): Promise<void> {
  const text = reply10k();
  const r = timeLoop(() => chunkMarkdown(text, 4096));
  emit({ bench: BENCH, workload: 'chunk-10k', chunks: chunkMarkdown(text, 4096).length, usPerCall: round((r.ms * 1000) / r.iterations, 1) });
  const big = reply10k().repeat(100);
  const t0 = performance.now();
  const n = chunkMarkdown(big, 4096).length;
  const ms = performance.now() - t0;
  emit({ bench: BENCH, workload: 'chunk-1mb', chars: big.length, chunks: n, ms: round(ms, 1), mbPerSec: round(big.length / 1e6 / (ms / 1000), 1) });
  const chunk = chunkMarkdown(text, 4096)[1]!;
  const f = timeLoop(() => markdownToTelegramHtml(chunk));
  emit({ bench: BENCH, workload: 'format-html-4k', usPerCall: round((f.ms * 1000) / f.iterations, 1) });
}

async function benchPolling(): Promise<void> {
  const fake = await FakeTelegramApi.start({ maxPollMs: 1000 });
  const ingress = new CountingIngress();
  const channel = await channelOn(fake, ingress);
  try {
    // Burst: 5000 updates queued at once; Telegram hands out 100 per getUpdates.
    const N = 5000;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) userMessage(fake, i, `burst ${i}`);
    await ingress.waitFor(N);
    const ms = performance.now() - t0;
    emit({ bench: BENCH, workload: 'ingest-polling-burst', updates: N, ms: round(ms), updatesPerSec: round(N / (ms / 1000)), polls: fake.callsOf('getUpdates').length });
    // Trickle: one message at a time, latency from push to ingress.
    const lat: number[] = [];
    for (let i = 0; i < 300; i++) {
      const text = `trickle ${i}`;
      const start = performance.now();
      userMessage(fake, i, text);
      await ingress.waitFor(N + i + 1);
      lat.push(ingress.at.get(text)! - start);
    }
    emit({ bench: BENCH, workload: 'ingest-polling-latency', messages: lat.length, p50ms: round(percentile(lat, 50), 2), p99ms: round(percentile(lat, 99), 2) });
  } finally {
    await channel.stop();
    await fake.close();
  }
}

async function benchWebhook(): Promise<void> {
  const fake = await FakeTelegramApi.start();
  const ingress = new CountingIngress();
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const channel = await channelOn(fake, ingress, { mode: 'webhook', webhook: { secretToken: 'bench', path: '/hook', url } });
  server.on('request', (req, res) => void channel.webhookHandler(req, res));
  const update = (i: number) => ({
    message: { message_id: i + 1, date: 1, chat: { id: 5, type: 'private', first_name: 'U' }, from: { id: 5, is_bot: false, first_name: 'U' }, text: `w${i}` },
  });
  try {
    const lat: number[] = [];
    const N = 1000;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const s = performance.now();
      await fake.deliverWebhook(update(i));
      lat.push(performance.now() - s);
    }
    const ms = performance.now() - t0;
    emit({ bench: BENCH, workload: 'ingest-webhook-seq', updates: N, perSec: round(N / (ms / 1000)), p50ms: round(percentile(lat, 50), 2), p99ms: round(percentile(lat, 99), 2) });
    const C = 16;
    const t1 = performance.now();
    let next = N;
    await Promise.all(
      Array.from({ length: C }, async () => {
        while (next < 2 * N) await fake.deliverWebhook(update(next++));
      }),
    );
    const ms2 = performance.now() - t1;
    emit({ bench: BENCH, workload: 'ingest-webhook-concurrent', concurrency: C, updates: N, perSec: round(N / (ms2 / 1000)) });
  } finally {
    await channel.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await fake.close();
  }
}

async function benchReply(): Promise<void> {
  const fake = await FakeTelegramApi.start();
  // Raw adapter cost: pacing off. The paced run below shows the bot-wide 30/s limit holding.
  const channel = await channelOn(fake, new CountingIngress(), {
    streaming: { enabled: false },
    typingIntervalMs: 60_000,
    pacing: { chatIntervalMs: 0, globalPerSecond: 1_000_000 },
  });
  const paced = await channelOn(fake, new CountingIngress(), {
    streaming: { enabled: false },
    typingIntervalMs: 60_000,
    pacing: { chatIntervalMs: 1000, globalPerSecond: 30 },
  });
  // Client-side send times (when grammY issues the request), to tell pacing from server arrival jitter.
  const issued: Array<{ chat: number; at: number }> = [];
  paced.bot.api.config.use(async (prev, method, payload, signal) => {
    if (method === 'sendMessage') issued.push({ chat: Number((payload as { chat_id: number }).chat_id), at: performance.now() });
    return prev(method, payload, signal);
  });
  const text = reply10k();
  const target = (chat: number) => ({ channelId: 'bench', sessionKey: `bench:dm:${chat}`, chatId: String(chat), peer: 'dm' as const });
  try {
    const lat: number[] = [];
    for (let i = 0; i < 30; i++) {
      const s = performance.now();
      await channel.openReply(target(1), { runId: `r${i}`, signal: new AbortController().signal }).complete(text);
      lat.push(performance.now() - s);
    }
    emit({ bench: BENCH, workload: 'reply-10k-3-chunks', replies: lat.length, p50ms: round(percentile(lat, 50), 1), p99ms: round(percentile(lat, 99), 1) });
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => channel.openReply(target(1000 + i), { runId: `p${i}`, signal: new AbortController().signal }).complete(text)),
    );
    const ms = performance.now() - t0;
    emit({ bench: BENCH, workload: 'reply-10k-100-chats', messages: 300, ms: round(ms), messagesPerSec: round(300 / (ms / 1000)) });
    const t1 = performance.now();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => paced.openReply(target(2000 + i), { runId: `q${i}`, signal: new AbortController().signal }).complete(text)),
    );
    const ms1 = performance.now() - t1;
    // Measured where grammY issues each request: the most sends in any 1 s window, the smallest gap in a chat.
    const times = issued.map((c) => c.at).sort((a, b) => a - b);
    let maxInSecond = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1000) j++;
      maxInSecond = Math.max(maxInSecond, i - j + 1);
    }
    let minChatGap = Infinity;
    for (let chat = 2000; chat < 2020; chat++) {
      const at = issued.filter((c) => c.chat === chat).map((c) => c.at);
      for (let i = 1; i < at.length; i++) minChatGap = Math.min(minChatGap, at[i]! - at[i - 1]!);
    }
    emit({ bench: BENCH, workload: 'reply-paced-20-chats', messages: issued.length, ms: round(ms1), maxSendsIn1s: maxInSecond, minGapInChatMs: round(minChatGap), limits: '30/s bot-wide, 1000 ms per chat' });
  } finally {
    await paced.stop();
    await channel.stop();
    await fake.close();
  }
}

async function benchStream(): Promise<void> {
  const fake = await FakeTelegramApi.start();
  const channel = await channelOn(fake, new CountingIngress(), { streaming: { editIntervalMs: 250, minInitialChars: 10 }, typingIntervalMs: 60_000 });
  try {
    const reply = channel.openReply({ channelId: 'bench', sessionKey: 'bench:dm:9', chatId: '9', peer: 'dm' }, { runId: 's', signal: new AbortController().signal });
    let full = '';
    const t0 = performance.now();
    let tokens = 0;
    // ~500 tokens/s for 2 s.
    while (performance.now() - t0 < 2000) {
      for (let i = 0; i < 5; i++) {
        const d = `tok${tokens++} `;
        full += d;
        reply.delta(d);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await reply.complete(full);
    const calls = fake.calls.filter((c) => c.method === 'sendMessage' || c.method === 'editMessageText');
    emit({
      bench: BENCH,
      workload: 'stream-2s',
      tokens,
      platformCalls: calls.length,
      callsPerSec: round(calls.length / 2, 1),
      bound: '1 per 250 ms + final',
    });
  } finally {
    await channel.stop();
    await fake.close();
  }
}

/** Runs every workload (about 10 s). */
export async function run(): Promise<void> {
  await benchChunk();
  await benchPolling();
  await benchWebhook();
  await benchReply();
  await benchStream();
}
