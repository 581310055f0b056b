/**
 * Crash suite: the whole gateway, as its own process (`switchyard start`), answering a Discord guild (the fake
 * Discord on loopback) through the fake model, is SIGKILLed at random moments under load, 20 times, and
 * restarted. Users keep posting, also while it is down (the catch-up path). At the end every message has
 * exactly one reply (none lost, none twice) and, per channel, replies come in the order of the messages.
 *
 * Deterministic in what it checks; the kill moments come from a seeded generator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeDiscord, type FakeUser } from '../../src/fakes/discord.js';
import { FakeOpenAIServer, type FakeChatRequest } from '../../src/fakes/openai-server.js';
import { seededRandom } from '../support/rng.js';

const TRIALS = Number(process.env['CRASH_TRIALS'] ?? 20);
const GUILD = '100000000000000001';
const CHANNELS = ['200000000000000001', '200000000000000002', '200000000000000003'];
const alice: FakeUser = { id: '500000000000000001', username: 'alice' };
const repo = join(import.meta.dirname, '..', '..');


/** The marker of the newest user message in the prompt (`m17`), which the fake model acknowledges. */
function lastMarker(request: FakeChatRequest): string {
  const users = request.messages.filter((m) => m.role === 'user');
  const text = users.at(-1)?.content ?? '';
  const all = text.match(/m\d+/g);
  return all?.at(-1) ?? 'none';
}

let dir: string;
let fake: FakeDiscord;
let model: FakeOpenAIServer;
let configFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-crash-'));
  fake = await FakeDiscord.start();
  fake.addGuild(
    { id: GUILD, name: 'Guild', roles: [], botRoles: [] },
    CHANNELS.map((id, i) => ({ id, type: 0, name: `c${i}` })),
  );
  model = new FakeOpenAIServer({ tokenDelayMs: 1, responder: (req) => ({ kind: 'reply', text: `ack ${lastMarker(req)}` }) });
  const { url } = await model.start();
  configFile = join(dir, 'switchyard.yaml');
  writeFileSync(
    configFile,
    // maxRunAttempts above the number of kills: a run cut by three kills in a row would otherwise be given up
    // (a visible outcome, tested in test/store and test/ingress), while this suite proves none is lost or doubled.
    `store: { path: ${JSON.stringify(join(dir, 'data', 'switchyard.db'))}, maxRunAttempts: 100 }
http: { host: 127.0.0.1, port: 0 }
log: { level: \${CRASH_LOG_LEVEL:-warn} }
lanes: { main: 4 }
agents:
  default:
    provider: { baseUrl: ${JSON.stringify(url)}, model: fake, maxAttempts: 3, timeoutMs: 10000 }
    contextWindow: 32768
    systemPrompt: Acknowledge.
channels:
  - id: dc
    type: discord
    token: ${fake.token}
    restApi: ${JSON.stringify(fake.restApi)}
    agent: default
    catchUp: { maxMessages: 100, maxAgeMs: 3600000, policy: answer }
    queue: { mode: queue, cap: 1000, drop: new, debounceMs: 0, maxConcurrent: { dm: 1, group: 1 } }
    access: { dm: open, groups: open, requireMention: false }
`,
  );
});

afterAll(async () => {
  await fake?.close();
  await model?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `switchyard start` and resolves once it says it is ready. */
function startGateway(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--config', configFile], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'test' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (out.includes('Switchyard is running') || out.includes('"switchyard ready"')) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    if (process.env['CRASH_LOG']) {
      child.stdout?.on('data', (c: Buffer) => writeFileSync(process.env['CRASH_LOG']!, c, { flag: 'a' }));
      child.stderr?.on('data', (c: Buffer) => writeFileSync(process.env['CRASH_LOG']!, c, { flag: 'a' }));
    }
    child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before ready:\n${out.slice(-2000)}`)));
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('gateway crash suite', () => {
  it(`SIGKILLed ${TRIALS} times under load: no message lost, none answered twice, order kept per channel`, async () => {
    const random = seededRandom(20261122);
    const posted: Array<{ channel: string; marker: string }> = [];
    let n = 0;
    const post = (): void => {
      const channel = CHANNELS[Math.floor(random() * CHANNELS.length)]!;
      const marker = `m${++n}`;
      fake.postMessage({ channelId: channel, author: alice, content: `hello ${marker}` });
      posted.push({ channel, marker });
    };

    // Warm-up: one answered message per channel, so every channel has a session for catch-up to find. (A
    // channel the gateway has never stored a message of is unknown to it: nothing to catch up there.)
    {
      const warm = await startGateway();
      for (let i = 0; i < CHANNELS.length; i++) {
        const marker = `m${++n}`;
        fake.postMessage({ channelId: CHANNELS[i]!, author: alice, content: `hello ${marker}` });
        posted.push({ channel: CHANNELS[i]!, marker });
      }
      await vi.waitFor(() => {
        if (CHANNELS.flatMap((c) => fake.botMessages(c)).length < CHANNELS.length) throw new Error('warm-up not answered yet');
      }, { timeout: 20_000, interval: 50 });
      await kill(warm);
    }

    for (let trial = 0; trial < TRIALS; trial++) {
      const child = await startGateway();
      // Load: a message every few ms, for a random 30-400 ms, then kill -9 mid-flight.
      const until = Date.now() + 30 + random() * 370;
      while (Date.now() < until) {
        post();
        await new Promise((r) => setTimeout(r, 2 + random() * 8));
      }
      await kill(child);
      // Users keep talking while the gateway is down: only catch-up can find these.
      const whileDown = Math.floor(random() * 4);
      for (let i = 0; i < whileDown; i++) post();
    }

    const final = await startGateway();
    try {
      await vi.waitFor(
        () => {
          const replies = CHANNELS.flatMap((c) => fake.botMessages(c)).length;
          if (replies < posted.length) {
            const got = new Set(CHANNELS.flatMap((c) => fake.botMessages(c)).map((m) => /ack (m\d+)/.exec(String(m.content))?.[1]));
            const missing = posted.filter((p) => !got.has(p.marker)).map((p) => `${p.marker}@${p.channel.slice(-1)}`);
            throw new Error(`${replies}/${posted.length} replies so far; missing ${missing.slice(0, 30).join(' ')}`);
          }
        },
        { timeout: Number(process.env['CRASH_WAIT_MS'] ?? 60_000), interval: 100 },
      );
    } finally {
      final.kill('SIGTERM');
      await new Promise((r) => final.once('exit', r));
    }

    for (const channel of CHANNELS) {
      const replies = fake.botMessages(channel).map((m) => String(m.content));
      const markers = replies.map((r) => /ack (m\d+)/.exec(r)?.[1] ?? `?${r}`);
      const expected = posted.filter((p) => p.channel === channel).map((p) => p.marker);
      // None lost, none twice:
      expect([...markers].sort()).toEqual([...expected].sort());
      // Order per channel (one session per channel, queue mode): replies in message order.
      expect(markers).toEqual(expected);
    }
    expect(posted.length).toBeGreaterThan(TRIALS * 3);
  }, 300_000);
});
