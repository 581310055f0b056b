/**
 * The Discord adapter through the real discord.js client against the loopback fake (so the figures include
 * discord.js parsing, caching and our normalization, plus loopback WebSocket/HTTP, but no internet):
 *
 * - `inbound`: MESSAGE_CREATE dispatches across 50 channels → `ingress.receive` (a counting port):
 *   throughput and dispatch-to-ingress latency percentiles.
 * - `catch-up`: a restart finds N messages in history: time until all are handed on (paging by 100).
 * - `outbound`: 5,000-character replies (3 chunks each) delivered and recorded, one after another.
 */
import type { DeliveryRecord, InboundMessage, IngressPort, IngressResult } from '../src/channels/index.js';
import { DiscordChannel } from '../src/channels/discord/index.js';
import { FakeDiscord } from '../src/fakes/discord.js';
import { emit, percentile, round, rssMB, yieldLoop } from './_util.js';

const GUILD = '100000000000000001';
const author = { id: '500000000000000001', username: 'alice' };
const fastIdentify = { ws: { buildIdentifyThrottler: () => Promise.resolve({ waitForIdentify: () => Promise.resolve() }) } };

class CountingIngress implements IngressPort {
  count = 0;
  readonly latencies: number[] = [];
  private target = Infinity;
  private done: (() => void) | undefined;
  async receive(message: InboundMessage): Promise<IngressResult> {
    this.count++;
    this.latencies.push(message.receivedAt - message.sentAt);
    if (this.count >= this.target) this.done?.();
    return { status: 'accepted' };
  }
  until(n: number): Promise<void> {
    this.target = n;
    return this.count >= n ? Promise.resolve() : new Promise((r) => (this.done = r));
  }
}

const deliveries = () => {
  const records: DeliveryRecord[] = [];
  return { records, delivered: async (runId: string) => records.filter((r) => r.runId === runId), record: async (r: DeliveryRecord) => void records.push(r) };
};

async function setup(channels: number): Promise<{ fake: FakeDiscord; ids: string[] }> {
  const fake = await FakeDiscord.start();
  const ids = Array.from({ length: channels }, (_, i) => (200000000000000000n + BigInt(i)).toString());
  fake.addGuild({ id: GUILD, name: 'bench', roles: [], botRoles: [] }, ids.map((id) => ({ id, type: 0 as const, name: `c${id}` })));
  return { fake, ids };
}

async function inbound(total: number): Promise<void> {
  const { fake, ids } = await setup(50);
  const ingress = new CountingIngress();
  const channel = new DiscordChannel({ id: 'dc', token: fake.token, restApi: fake.restApi, ingress, deliveries: deliveries(), clientOptions: fastIdentify });
  await channel.start();
  const t0 = performance.now();
  const all = ingress.until(total);
  for (let i = 0; i < total; i++) {
    fake.postMessage({ channelId: ids[i % ids.length]!, author, content: `message ${i} with a few words in it` });
    if (i % 200 === 199) await yieldLoop(); // arrive in bursts, as from a socket
  }
  await all;
  const ms = performance.now() - t0;
  emit({ bench: 'discord', workload: 'inbound', messages: total, channels: ids.length, ms: round(ms), perSec: round((total / ms) * 1000), p50Ms: percentile(ingress.latencies, 50), p99Ms: percentile(ingress.latencies, 99), rssMB: rssMB() });
  await channel.stop();
  await fake.close();
}

async function catchUp(total: number): Promise<void> {
  const { fake, ids } = await setup(1);
  for (let i = 0; i < total; i++) fake.postMessage({ channelId: ids[0]!, author, content: `missed ${i}`, dispatch: false });
  const ingress = new CountingIngress();
  const channel = new DiscordChannel({
    id: 'dc',
    token: fake.token,
    restApi: fake.restApi,
    ingress,
    deliveries: deliveries(),
    clientOptions: fastIdentify,
    catchUp: { maxMessages: total, channels: async () => [{ channelId: ids[0]! }] },
  });
  const t0 = performance.now();
  await channel.start(); // resolves after the start catch-up has handed everything on
  const ms = performance.now() - t0;
  if (ingress.count !== total) throw new Error(`catch-up handed on ${ingress.count}/${total}`);
  const pages = fake.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/messages')).length;
  emit({ bench: 'discord', workload: 'catch-up', messages: total, pages, msIncludingConnect: round(ms), perSec: round((total / ms) * 1000) });
  await channel.stop();
  await fake.close();
}

async function outbound(replies: number): Promise<void> {
  const { fake, ids } = await setup(1);
  const log = deliveries();
  const channel = new DiscordChannel({ id: 'dc', token: fake.token, restApi: fake.restApi, ingress: new CountingIngress(), deliveries: log, clientOptions: fastIdentify });
  await channel.start();
  const text = `${'A sentence of the answer that goes on for a while. '.repeat(40)}\n\n\`\`\`ts\n${'const x = 1; // code\n'.repeat(80)}\`\`\`\n\n${'More words to close it off. '.repeat(40)}`;
  const perReply: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < replies; i++) {
    const s = performance.now();
    await channel.openReply({ channelId: 'dc', sessionKey: 's', chatId: ids[0]!, peer: 'group' }, { runId: `r${i}`, signal: new AbortController().signal }).complete(text);
    perReply.push(performance.now() - s);
  }
  const ms = performance.now() - t0;
  emit({ bench: 'discord', workload: 'outbound', replies, chars: text.length, chunks: log.records.length / replies, ms: round(ms), p50MsPerReply: round(percentile(perReply, 50), 1), p99MsPerReply: round(percentile(perReply, 99), 1) });
  await channel.stop();
  await fake.close();
}

/** Runs the Discord workloads. */
export async function run(): Promise<void> {
  await inbound(5_000);
  await catchUp(1_000);
  await outbound(100);
}
