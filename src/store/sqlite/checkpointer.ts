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
 * in 4 s at 30k accepts/s). So once the WAL passes `restartPages`, the worker raises a flag in shared memory
 * and runs one `wal_checkpoint(RESTART)`, which holds the write lock while it copies the few frames the last
 * PASSIVE missed and syncs. The store's write queue sees the flag and postpones its next commit by a
 * millisecond at a time instead of blocking the event loop on the lock (`WriteQueue` `holdCommits`). That pause
 * comes once per `restartPages` of WAL (16 MiB by default), not once per 1 MiB.
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
  /** WAL size (pages) past which the worker forces the WAL to start over (see the file comment). */
  restartPages: number;
  /** Called once if the worker fails or exits on its own; the caller falls back to automatic checkpoints. */
  onFailure: (err: Error) => void;
}

/** A running checkpointer (see the file comment). */
export interface Checkpointer {
  /** True while the worker holds (or is taking) the write lock to restart the WAL: commits should wait. */
  holding(): boolean;
  /** Stops the worker after its current checkpoint and closes its connection. Idempotent. */
  close(): Promise<void>;
}

// Plain CommonJS, run by `new Worker(..., { eval: true })`. Checkpoint, sleep, repeat; a checkpoint that found
// nothing new to copy costs a few microseconds (no sync), so idle stores cost next to nothing.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const hold = new Int32Array(workerData.hold);
const db = new Database(workerData.file, { timeout: 1000 });
db.pragma('synchronous = ' + workerData.synchronous);
db.pragma('wal_autocheckpoint = 0');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');
let closing = false;
let timer;
const step = () => {
  if (closing) return;
  try {
    const r = passive.get();
    if (r.log >= workerData.restartPages) {
      Atomics.store(hold, 0, 1);
      try {
        restart.get();
      } finally {
        Atomics.store(hold, 0, 0);
      }
    }
  } catch (err) {
    if (err && err.code !== 'SQLITE_BUSY' && err.code !== 'SQLITE_LOCKED') throw err;
  }
  timer = setTimeout(step, workerData.intervalMs);
};
parentPort.on('message', (m) => {
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
  const hold = new SharedArrayBuffer(4);
  const flag = new Int32Array(hold);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { module: betterSqlite3, file, hold, synchronous: options.synchronous, intervalMs: options.intervalMs, restartPages: options.restartPages },
  });
  worker.unref();
  let closing = false;
  let ready = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
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
        holding: () => Atomics.load(flag, 0) !== 0,
        close: async () => {
          if (!closing) {
            closing = true;
            worker.postMessage('close');
          }
          await exited;
        },
      });
    });
  });
}
