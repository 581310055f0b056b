/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs on the connection that commits, once
 * the WAL passes `wal_autocheckpoint` pages: it copies the WAL into the database file and fsyncs both (with
 * `synchronous=NORMAL` too), and with better-sqlite3 that is the event-loop thread. Measured on the shared
 * 2-core VM, those fsyncs took 2-60 ms, and every accept in the batch that tripped them waited that long: the
 * main cause of the accept latency tail (see docs/notes/store.md).
 *
 * So the store's connection runs with `wal_autocheckpoint = 0`, and a worker thread holding a second
 * connection to the same file runs `PRAGMA wal_checkpoint(PASSIVE)` every few milliseconds. A PASSIVE
 * checkpoint never waits for and never blocks the writer. Durability is unchanged: commits are still made and
 * synced by the store's connection exactly as before; the checkpointer's connection uses the same
 * `synchronous` level, so its checkpoints sync as an automatic one would.
 *
 * Keeping the WAL bounded: the writer starts the WAL over from its beginning only when a checkpoint has copied
 * ALL of it before the writer's next transaction. Under sustained load (a commit every millisecond) a PASSIVE
 * checkpoint, which takes a few milliseconds, never catches up, and the WAL grows without end (measured: 400 MB
 * in 4 s at 30k accepts/s). So once the WAL passes `restartPages`, the worker publishes a "hold commits until
 * T" deadline in shared memory and runs a second PASSIVE checkpoint, which, with no commit landing meanwhile,
 * copies the last few frames and leaves the WAL fully copied: the writer's next transaction starts it over.
 * The store's write queue sees the deadline and postpones its commit by a millisecond at a time, with the event
 * loop free (`WriteQueue` `holdCommits`); no lock is involved, so nothing ever blocks on the worker. That pause
 * comes once per `restartPages` of WAL (64 MiB by default), not once per 1 MiB, and lasts at most `maxHoldMs`
 * (2 ms): if the checkpoint's syncs take longer, commits go on and the restart is tried again 250 ms later
 * (so a slow disk costs ingress at most 2 ms in every 250 ms, about 1%). Only a WAL
 * past `hardPages` (the disk cannot keep up at all) is held back for as long as the restart takes. A hold
 * only starts right after a checkpoint that took under 5 ms (25 ms past `hardPages`), so the frames left to copy
 * under it are few: after a write flood the worker first catches up on the backlog without holding anything.
 *
 * The worker is started from an inline script (no separate file to resolve, so it works the same from `src`
 * under tsx, from `dist`, and under vitest) and is unref'd. If it dies, the store goes back to automatic
 * checkpoints (`onFailure`), so the WAL never grows without bound.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Options of `startCheckpointer`. */
export interface CheckpointerOptions {
  /** `synchronous` level of the store's connection ('NORMAL' or 'FULL'); the checkpoints sync at the same level. */
  synchronous: 'NORMAL' | 'FULL';
  /** Pause between checkpoints (ms). */
  intervalMs: number;
  /** WAL size (pages) past which the worker makes the WAL start over (see the file comment). */
  restartPages: number;
  /** Longest the worker holds commits back for a restart while the WAL is under `hardPages`. */
  maxHoldMs: number;
  /** WAL size (pages) past which the worker holds commits back for as long as a restart takes. */
  hardPages: number;
  /** Called once if the worker fails or exits on its own; the caller falls back to automatic checkpoints. */
  onFailure: (err: Error) => void;
}

/** A running checkpointer (see the file comment). */
export interface Checkpointer {
  /** True while the worker holds (or is taking) the write lock to restart the WAL: commits should wait. */
  holding(): boolean;
  /** WAL size (pages) seen by the last checkpoint: past `restartPages`, the worker is trying to restart it. */
  walPages(): number;
  /**
   * Writes a consistent copy of the database to `file` from the worker's connection (`VACUUM INTO`), so a
   * backup's copying and syncing never stall ingress. Rejects if the copy failed or the worker stopped.
   */
  backup(file: string): Promise<void>;
  /** Stops the worker after its current checkpoint and closes its connection. Idempotent. */
  close(): Promise<void>;
}

// Plain CommonJS, run by `new Worker(..., { eval: true })`. Checkpoint, sleep, repeat; a checkpoint that found
// nothing new to copy costs a few microseconds (no sync), so idle stores cost next to nothing.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const shared = new Float64Array(workerData.hold);
const db = new Database(workerData.file, { timeout: 0 });
db.pragma('synchronous = ' + workerData.synchronous);
db.pragma('wal_autocheckpoint = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let closing = false;
let timer;
let retryAt = 0;
const step = () => {
  if (closing) return;
  try {
    const t0 = performance.now();
    const { log } = checkpoint.get();
    shared[1] = log;
    const took = performance.now() - t0;
    const soft = log < workerData.hardPages;
    // Hold only right after a quick checkpoint: what is left to copy under the hold is then what the writer
    // added meanwhile, little. After a slow one (a backlog), catch up first, without holding and at once.
    if (log >= workerData.restartPages && took > (soft ? 5 : 25)) {
      timer = setTimeout(step, 0);
      return;
    }
    if (log >= workerData.restartPages && (!soft || t0 >= retryAt)) {
      // Commits wait until shared[0] (epoch ms); past it they go on, and this attempt fails to restart the WAL.
      const t1 = performance.now();
      shared[0] = soft ? performance.timeOrigin + t1 + workerData.maxHoldMs : Infinity;
      try {
        shared[1] = checkpoint.get().log;
      } finally {
        shared[0] = 0;
        // A soft hold that outlasted its deadline most likely failed (a commit landed): the disk is slow right
        // now, so do not hold commits again for a while; every failed attempt costs ingress maxHoldMs.
        if (soft && performance.now() - t1 > workerData.maxHoldMs) retryAt = performance.now() + 250;
      }
    }
  } catch (err) {
    if (err && err.code !== 'SQLITE_BUSY' && err.code !== 'SQLITE_LOCKED') throw err;
  }
  timer = setTimeout(step, workerData.intervalMs);
};
parentPort.on('message', (m) => {
  if (m && m.type === 'backup') {
    // VACUUM INTO copies one consistent snapshot (a read transaction: in WAL mode the writer goes on) and syncs
    // the copy; run here, its seconds of I/O never touch the event loop. Checkpoints pause meanwhile.
    let error;
    try {
      db.prepare('VACUUM INTO ?').run(m.file);
    } catch (err) {
      error = String((err && err.message) || err);
    }
    parentPort.postMessage({ type: 'backup', id: m.id, error });
    return;
  }
  if (m !== 'close') return;
  closing = true;
  clearTimeout(timer);
  db.close();
  parentPort.close();
});
parentPort.postMessage('ready');
step();
`;

const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');

/**
 * Starts checkpointing `file` from a worker thread. Resolves once the worker has opened the file, so the
 * caller turns automatic checkpoints off only when something else does them.
 */
export function startCheckpointer(file: string, options: CheckpointerOptions): Promise<Checkpointer> {
  // Two floats shared with the worker: [0] the time (epoch ms) until which commits should wait, 0 = no hold;
  // [1] the WAL size (pages) at the last checkpoint. Aligned 8-byte loads and stores are single-copy atomic on
  // the platforms Node supports (x64, arm64); both values are hints, read without locking.
  const hold = new SharedArrayBuffer(16);
  const shared = new Float64Array(hold);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { module: betterSqlite3, file, hold, synchronous: options.synchronous, intervalMs: options.intervalMs, restartPages: options.restartPages, hardPages: options.hardPages, maxHoldMs: options.maxHoldMs },
  });
  worker.unref();
  let closing = false;
  let ready = false;
  let nextBackup = 0;
  const backups = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (m: { type?: string; id?: number; error?: string }) => {
    if (m?.type !== 'backup' || m.id === undefined) return;
    const waiter = backups.get(m.id);
    backups.delete(m.id);
    if (m.error === undefined) waiter?.resolve();
    else waiter?.reject(new Error(m.error));
  });
  void exited.then(() => {
    for (const waiter of backups.values()) waiter.reject(new Error('the checkpoint worker stopped during a backup'));
    backups.clear();
  });
  return new Promise<Checkpointer>((resolve, reject) => {
    const fail = (err: Error): void => {
      if (closing) return;
      closing = true;
      if (ready) options.onFailure(err);
      else reject(err);
    };
    worker.on('error', fail);
    worker.once('exit', (code) => fail(new Error(`the checkpoint worker exited (code ${code})`)));
    worker.once('message', () => {
      ready = true;
      resolve({
        holding: () => {
          const until = shared[0]!;
          return until !== 0 && until > performance.timeOrigin + performance.now();
        },
        walPages: () => shared[1]!,
        backup: (file) =>
          new Promise<void>((resolveBackup, rejectBackup) => {
            if (closing) {
              rejectBackup(new Error('the checkpoint worker is stopped'));
              return;
            }
            const id = ++nextBackup;
            backups.set(id, { resolve: resolveBackup, reject: rejectBackup });
            worker.postMessage({ type: 'backup', id, file });
          }),
        close: async () => {
          if (!closing) {
            closing = true;
            // Unref'd workers do not keep the process alive: without this, a process with nothing else to do
            // would exit before the worker's connection is closed and close() would never resolve.
            worker.ref();
            worker.postMessage('close');
          }
          await exited;
        },
      });
    });
  });
}
