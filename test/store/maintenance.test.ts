/**
 * The maintenance loop: TTL pruning on its interval, the nightly backup inside its hour with the freshness
 * guard read from the backup files themselves, errors that are logged and retried, and a clean stop.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { Maintenance, SqliteStore, backupFileName, listBackups, type Store } from '../../src/store/index.js';
import { msg } from './contract.js';

const root = mkdtempSync(join(tmpdir(), 'swyd-maint-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const HOUR = 3_600_000;

/** A local time at `hour`:`minute` on a fixed day. */
function at(hour: number, minute = 0, day = 10): number {
  return new Date(2025, 5, day, hour, minute).getTime();
}

/** Our own store surface (prune + backup), recording calls; backups are real files with real mtimes. */
function recordingStore(clock: () => number) {
  const calls = { prune: [] as number[], backup: [] as string[] };
  const store: Pick<Store, 'prune' | 'backup'> = {
    prune: async (olderThan) => {
      calls.prune.push(olderThan);
      return { messages: 1, runs: 2 };
    },
    backup: async (dir) => {
      mkdirSync(dir, { recursive: true });
      const file = join(dir, backupFileName(new Date(clock())));
      writeFileSync(file, 'backup');
      utimesSync(file, clock() / 1000, clock() / 1000);
      calls.backup.push(file);
      return file;
    },
  };
  return { store, calls };
}

describe('Maintenance', () => {
  afterEach(() => vi.useRealTimers());

  it('prunes records older than the TTL, once per interval', async () => {
    let now = at(12);
    const { store, calls } = recordingStore(() => now);
    const m = new Maintenance({ store, now: () => now, ttlMs: 24 * HOUR, pruneEveryMs: HOUR });
    expect((await m.tick()).pruned).toEqual({ messages: 1, runs: 2 });
    expect(calls.prune).toEqual([now - 24 * HOUR]);
    now += 30 * 60_000;
    expect((await m.tick()).pruned).toBeUndefined();
    now += 30 * 60_000;
    await m.tick();
    expect(calls.prune).toHaveLength(2);
  });

  it('backs up inside the configured hour only, once per day (freshness guard), across restarts', async () => {
    const dir = join(root, `nightly${++n}`);
    let now = at(2, 50);
    const { store, calls } = recordingStore(() => now);
    const make = () => new Maintenance({ store, now: () => now, backup: { dir, hour: 3 } });
    const m = make();
    await m.tick();
    expect(calls.backup).toEqual([]); // 02:50: not yet
    now = at(3, 1);
    expect((await m.tick()).backup).toBeDefined();
    now = at(3, 30);
    expect((await m.tick()).backup).toBeUndefined(); // same hour, fresh backup exists
    expect((await make().tick()).backup).toBeUndefined(); // a restart does not take a second one
    now = at(3, 5, 11); // next night: the newest backup is 24 h old
    expect((await make().tick()).backup).toBeDefined();
    expect(calls.backup).toHaveLength(2);
  });

  it('logs and survives failures, and retries them', async () => {
    let now = at(3);
    let fail = true;
    const errors: unknown[] = [];
    const logger = { error: (o: unknown) => errors.push(o), info: () => undefined } as never;
    const store: Pick<Store, 'prune' | 'backup'> = {
      prune: async () => {
        if (fail) throw new Error('disk on fire');
        return { messages: 0, runs: 0 };
      },
      backup: async () => {
        if (fail) throw new Error('no room');
        return 'ok.db';
      },
    };
    const m = new Maintenance({ store, now: () => now, logger, pruneEveryMs: 1, backup: { dir: join(root, 'never-created') } });
    const first = await m.tick();
    expect(first.errors.map((e) => e.message)).toEqual(['disk on fire', 'no room']);
    expect(errors).toHaveLength(2);
    fail = false;
    now += 10;
    const second = await m.tick();
    expect(second.errors).toEqual([]);
    expect(second.backup).toBe('ok.db');
  });

  it('ticks on its timer until the signal aborts, joining a running tick instead of overlapping', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    vi.setSystemTime(at(12));
    let inFlight = 0;
    let maxInFlight = 0;
    let calls = 0;
    let release: () => void = () => undefined;
    const store: Pick<Store, 'prune' | 'backup'> = {
      prune: () => {
        calls++;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return new Promise((resolve) => {
          release = () => {
            inFlight--;
            resolve({ messages: 0, runs: 0 });
          };
        });
      },
      backup: async () => 'x',
    };
    const ac = new AbortController();
    const m = new Maintenance({ store, tickMs: 1_000, pruneEveryMs: 1 });
    m.start(ac.signal);
    expect(calls).toBe(1); // first tick at once
    await vi.advanceTimersByTimeAsync(3_000); // ticks while the first is still running join it
    expect(calls).toBe(1);
    release();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(2);
    release();
    ac.abort();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(2);
    expect(maxInFlight).toBe(1);
  });

  it('validates its options', () => {
    const { store } = recordingStore(() => 0);
    expect(() => new Maintenance({ store, backup: { dir: 'x', hour: 24 } })).toThrow(/backup\.hour/);
    expect(() => new Maintenance({ store, ttlMs: 0 })).toThrow(/ttlMs/);
    expect(() => new Maintenance({ store, backup: { dir: 'x', keep: 0 } })).toThrow(/backup\.keep/);
  });

  it('takes a real backup now with a real store', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    await store.accept(msg(1));
    const dir = join(root, 'now');
    const m = new Maintenance({ store, backup: { dir, keep: 2 } });
    await m.backupNow();
    await m.backupNow();
    await m.backupNow();
    expect(await listBackups(dir)).toHaveLength(2);
    await store.close();
  });
});
