/**
 * The crash test: a child process running the real SqliteStore and Scheduler accepts messages and answers
 * them; the parent SIGKILLs it at random (seeded) moments, restarts it (it recovers at start), resends what
 * was never acknowledged (as Telegram redelivers an unconfirmed update), and finally lets one child finish.
 * Then it proves, from the database: no acknowledged message was lost, every message got exactly one reply
 * (no delivery recorded twice, none missing), and replies within each session follow acceptance order.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { InboundMessage } from '../../src/channels/index.js';
import { seededRandom } from '../support/rng.js';

const CHILD = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));
const TRIALS = Number(process.env.CRASH_TRIALS ?? 24);
const SEED = Number(process.env.CRASH_SEED ?? 20250611);
const SESSIONS = 12;

const dir = mkdtempSync(join(tmpdir(), 'swyd-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


function message(n: number): InboundMessage {
  const chat = String(n % SESSIONS);
  return {
    id: `tg:${chat}:${n}`,
    channelId: 'tg',
    platform: 'telegram',
    sessionKey: `tg:dm:${chat}`,
    chatId: chat,
    senderId: chat,
    senderName: 'Crash Tester',
    peer: 'dm',
    text: `message ${n}`,
    mentionsBot: false,
    replyToBot: false,
    attachments: [],
    platformMessageId: String(n),
    sentAt: 1_000 + n,
    receivedAt: 1_000 + n,
  };
}

type ChildEvent =
  | { type: 'ready'; resumed: number; pending: number; answered: number; exhausted: number }
  | { type: 'ack'; id: string; status: 'accepted' | 'duplicate' }
  | { type: 'finished' }
  | { type: 'error'; error: string };

interface Harness {
  child: ChildProcess;
  ready: Promise<Extract<ChildEvent, { type: 'ready' }>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

describe('crash recovery under SIGKILL', () => {
  it(`loses nothing and answers each message exactly once over ${TRIALS} kills`, { timeout: 120_000 }, async () => {
    const db = join(dir, 'crash.db');
    const rand = seededRandom(SEED);
    let nextN = 0;
    /** Sent to a child, not yet acknowledged (in send order): resent to the next child. */
    let unacked: InboundMessage[] = [];
    const acked = new Set<string>();
    const errors: string[] = [];
    const stats = { resumed: 0, pending: 0, alreadyAnswered: 0, duplicates: 0, killedWithUnacked: 0 };

    const start = (generation: number): Harness => {
      const child = fork(CHILD, [db, String(generation), String(Math.floor(rand() * 2 ** 31))], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      let onReady!: (e: Extract<ChildEvent, { type: 'ready' }>) => void;
      const ready = new Promise<Extract<ChildEvent, { type: 'ready' }>>((r) => (onReady = r));
      child.on('message', (e: ChildEvent) => {
        if (e.type === 'ready') onReady(e);
        else if (e.type === 'ack') {
          acked.add(e.id);
          if (e.status === 'duplicate') stats.duplicates++;
          unacked = unacked.filter((m) => m.id !== e.id);
        } else if (e.type === 'error') errors.push(e.error);
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('exit', (code, signal) => resolve({ code, signal })),
      );
      return { child, ready, exited };
    };
    const send = (h: Harness, m: InboundMessage): void => {
      if (!h.child.connected) return;
      if (!unacked.some((u) => u.id === m.id)) unacked.push(m);
      h.child.send({ type: 'msg', message: m });
    };

    for (let generation = 1; generation <= TRIALS; generation++) {
      const h = start(generation);
      const ready = await h.ready;
      stats.resumed += ready.resumed;
      stats.pending += ready.pending;
      stats.alreadyAnswered += ready.answered;
      for (const m of [...unacked]) send(h, m);
      // Traffic: a few messages per millisecond across the sessions, until the kill.
      const traffic = setInterval(() => {
        for (let i = 0; i < 3; i++) send(h, message(nextN++));
      }, 1);
      const killAfter = 15 + Math.floor(rand() * 200);
      await new Promise((r) => setTimeout(r, killAfter));
      h.child.kill('SIGKILL');
      clearInterval(traffic);
      const exit = await h.exited;
      expect(exit.signal).toBe('SIGKILL');
      if (unacked.length > 0) stats.killedWithUnacked++;
    }

    // Last start: recover, take the resent messages, answer everything, exit cleanly.
    const h = start(TRIALS + 1);
    const last = await h.ready;
    stats.resumed += last.resumed;
    stats.pending += last.pending;
    for (const m of [...unacked]) send(h, m);
    await expect.poll(() => unacked.length, { timeout: 20_000, interval: 20 }).toBe(0);
    h.child.send({ type: 'finish' });
    const exit = await h.exited;
    expect(errors).toEqual([]);
    expect(exit.code).toBe(0);

    // Verify from the database itself.
    const conn = new Database(db, { readonly: true });
    const rows = conn.prepare('SELECT seq, id, session_key AS sessionKey, outcome FROM messages ORDER BY seq').all() as Array<{
      seq: number;
      id: string;
      sessionKey: string;
      outcome: string | null;
    }>;
    const deliveries = conn.prepare('SELECT owner_id AS owner, platform_message_id AS pid FROM deliveries ORDER BY platform_message_id').all() as Array<{
      owner: string;
      pid: string;
    }>;
    const unfinished = conn.prepare(`SELECT count(*) FROM runs WHERE state IN ('queued', 'running')`).pluck().get();
    conn.close();

    // Enough happened to mean something.
    expect(acked.size).toBeGreaterThan(TRIALS * 10);
    expect(stats.resumed + stats.pending).toBeGreaterThan(0);

    // 1. No acknowledged message lost.
    const stored = new Map(rows.map((r) => [r.id, r]));
    const lost = [...acked].filter((id) => !stored.has(id));
    expect(lost).toEqual([]);

    // 2. Every stored message answered, exactly one reply per message.
    expect(rows.filter((r) => r.outcome !== 'answered').map((r) => [r.id, r.outcome])).toEqual([]);
    const repliesPer = new Map<string, number>();
    for (const d of deliveries) repliesPer.set(d.owner, (repliesPer.get(d.owner) ?? 0) + 1);
    expect([...repliesPer].filter(([, n]) => n > 1)).toEqual([]);
    expect(rows.filter((r) => repliesPer.get(r.id) !== 1).map((r) => r.id)).toEqual([]);
    expect(unfinished).toBe(0);

    // 3. Replies within each session follow acceptance order.
    const lastSeq = new Map<string, number>();
    const outOfOrder: string[] = [];
    for (const d of deliveries) {
      const row = stored.get(d.owner)!;
      const prev = lastSeq.get(row.sessionKey) ?? 0;
      if (row.seq < prev) outOfOrder.push(`${row.sessionKey}: seq ${row.seq} replied after ${prev}`);
      lastSeq.set(row.sessionKey, row.seq);
    }
    expect(outOfOrder).toEqual([]);
    console.log(JSON.stringify({ crash: { trials: TRIALS, accepted: rows.length, acked: acked.size, replies: deliveries.length, ...stats } }));
  });
});
