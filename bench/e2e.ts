/**
 * End-to-end benchmark: the whole gateway as its own process (`switchyard start`, SQLite, scheduler, agent,
 * the Telegram adapter polling the fake Bot API) answering through the fake model at a fixed latency. The
 * fakes run in this process, the gateway in a child, so the gateway's CPU and memory are its own.
 *
 * Workloads:
 * - `steady`: 10,000 sessions (Telegram chats), one message each, offered open-loop at 1,000 messages/s.
 *   Gateway overhead = (time the reply reached the Bot API) − (time the update was offered) − model latency.
 * - `burst`: 5,000 messages at once over 1,000 sessions (followup mode collects what arrives during a run):
 *   messages/s until every session has its answers.
 * Figures: messages/s, overhead p50/p99 (ms), gateway RSS (MB) and CPU (% of one core).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeOpenAIServer } from '../src/fakes/index.js';
import { FakeTelegramApi } from '../src/fakes/telegram-api.js';
import { emit, percentile, round } from './_util.js';

const MODEL_MS = 20;
const repo = join(import.meta.dirname, '..');

function procStats(pid: number): { cpuTicks: number; rssMB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const cpuTicks = Number(stat[11]) + Number(stat[12]); // utime + stime (fields 14, 15)
  const rssKB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuTicks, rssMB: round(rssKB / 1024, 1) };
}

function startGateway(configFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--config', configFile], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer): void => {
      out += c.toString();
      if (out.includes('Switchyard is running')) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before ready`)));
  });
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs both workloads and prints one JSON line each. */
export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
  const tg = await FakeTelegramApi.start({ maxPollMs: 1000 });
  const model = new FakeOpenAIServer({ tokenDelayMs: MODEL_MS });
  // One chunk after MODEL_MS: the model's latency is fixed and known.
  model.respondWith((req) => {
    const last = [...req.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    return { kind: 'reply', text: `re ${/m\d+/.exec(last)?.[0] ?? '?'}`, chunks: [`re ${/m\d+/.exec(last)?.[0] ?? '?'}`] };
  });
  await model.start();
  const configFile = join(dir, 'switchyard.yaml');
  writeFileSync(
    configFile,
    `store: { path: ${JSON.stringify(join(dir, 'db.sqlite'))} }
http: { host: 127.0.0.1, port: 0 }
log: { level: warn }
lanes: { main: 256 }
agents:
  default:
    provider: { baseUrl: "${model.url}", model: fake, timeoutMs: 30000, maxAttempts: 1 }
    contextWindow: 32768
channels:
  - id: tg
    type: telegram
    token: "${tg.token}"
    apiRoot: "${tg.apiRoot}"
    streaming: { enabled: false }
    # The fake Bot API has no rate limits: pacing at Telegram's (30 msgs/s across the bot) would measure the
    # pacer, not the gateway.
    pacing: { chatIntervalMs: 0, globalPerSecond: 1000000 }
    queue: { mode: followup, debounceMs: 0, cap: 100 }
    access: { dm: open }
`,
  );
  const gateway = await startGateway(configFile);
  const pid = gateway.pid!;
  try {
    // Warm-up (JIT, tokenizer, SQLite pages).
    for (let i = 0; i < 200; i++) tg.pushMessage({ chat: { id: 1_000_000 + i, type: 'private', first_name: 'w' }, from: { id: 1_000_000 + i, is_bot: false, first_name: 'w' }, text: `warm m${i}` });
    await waitUntil(() => tg.callsOf('sendMessage').length >= 200, 300_000);

    // steady: 10,000 sessions, 1 message each, 1,000 msgs/s open loop; and 4,000 at 200 msgs/s, below saturation.
    for (const [N, rate, base] of [
      [10_000, 1_000, 2_000_000],
      [4_000, 200, 4_000_000],
    ] as const) {
      const offered = new Map<string, number>();
      const before = procStats(pid);
      const t0 = Date.now();
      const callsBefore = tg.callsOf('sendMessage').length;
      for (let i = 0; i < N; i++) {
        const due = t0 + (i * 1000) / rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const id = base + i;
        offered.set(`m${base + i}`, Date.now());
        tg.pushMessage({ chat: { id, type: 'private', first_name: 'u' }, from: { id, is_bot: false, first_name: 'u' }, text: `hello m${base + i}` });
      }
      await waitUntil(() => tg.callsOf('sendMessage').length >= callsBefore + N, 600_000);
      const elapsed = (Date.now() - t0) / 1000;
      const after = procStats(pid);
      const overhead: number[] = [];
      for (const call of tg.callsOf('sendMessage').slice(callsBefore)) {
        const marker = /re (m\d+)/.exec(String(call.params['text']))?.[1];
        const at = marker === undefined ? undefined : offered.get(marker);
        if (at !== undefined) overhead.push(call.at - at - MODEL_MS);
      }
      emit({
        bench: 'e2e',
        workload: `steady ${N / 1000}k sessions @${rate}/s`,
        offeredPerSec: rate,
        messages: N,
        msgsPerSec: Math.round(N / elapsed),
        modelMs: MODEL_MS,
        overheadP50Ms: percentile([...overhead], 50),
        overheadP99Ms: percentile([...overhead], 99),
        rssMB: after.rssMB,
        cpuPct: round(((after.cpuTicks - before.cpuTicks) / 100 / elapsed) * 100, 1),
      });
    }

    // burst: 5,000 messages at once over 1,000 sessions.
    {
      const N = 5_000;
      const S = 1_000;
      const before = procStats(pid);
      const repliesBefore = new Map<number, number>();
      const t0 = Date.now();
      for (let i = 0; i < N; i++) {
        const id = 3_000_000 + (i % S);
        tg.pushMessage({ chat: { id, type: 'private', first_name: 'b' }, from: { id, is_bot: false, first_name: 'b' }, text: `burst m${i}` });
      }
      // Done when every message was answered or merged into an answered follow-up: the last message of each
      // session is covered by that session's last reply.
      const lastOf = new Map<number, number>();
      for (let i = 0; i < N; i++) lastOf.set(3_000_000 + (i % S), i);
      await waitUntil(() => {
        for (const [chat, i] of lastOf) {
          const texts = tg.messagesIn(chat).map((m) => m.text);
          if (!texts.some((t) => t === `re m${i}`)) return false;
        }
        return true;
      }, 600_000);
      const elapsed = (Date.now() - t0) / 1000;
      const after = procStats(pid);
      let replies = 0;
      for (const chat of lastOf.keys()) replies += tg.messagesIn(chat).length - (repliesBefore.get(chat) ?? 0);
      emit({
        bench: 'e2e',
        workload: 'burst 5k msgs / 1k sessions',
        messages: N,
        msgsPerSec: Math.round(N / elapsed),
        replies,
        elapsedMs: Math.round(elapsed * 1000),
        rssMB: after.rssMB,
        cpuPct: round(((after.cpuTicks - before.cpuTicks) / 100 / elapsed) * 100, 1),
      });
    }
  } finally {
    gateway.kill('SIGTERM');
    await new Promise((r) => gateway.once('exit', r));
    await tg.close();
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
