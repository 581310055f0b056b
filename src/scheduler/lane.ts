/**
 * A named lane: a global concurrency cap shared by every session (and background job) routed to it. Which
 * waiting task starts next is the lane policy's choice (fair round-robin by default).
 *
 * The lane counts a slot as taken from `start` until `release`; it never frees a slot on its own. Whoever
 * started the task (a session run, a background job) releases it exactly once: when the task settles, or when
 * an aborted task outlives its grace period (then it is reported as leaked).
 */
import { TransientSet } from '../collections/transient.js';
import { InvalidOptionError, SwitchyardError, toError } from '../errors/index.js';
import { LeanAbortController } from '../signals/lean-abort.js';
import { FairPolicy, FifoPolicy, type LanePolicy, type LaneTask } from './lane-policy.js';

/** A task a lane can start. `start` is called once, when the task is granted a slot. */
export interface LaneEntry extends LaneTask {
  start(): void;
}

/** Built-in policy names. */
export const LANE_POLICIES = ['fair', 'fifo'] as const;

/** Options of one lane. */
export interface LaneOptions {
  /** Most tasks running at once, >= 1. */
  concurrency: number;
  /** `fair` (default): round-robin across sessions; `fifo`; or a custom policy instance. */
  policy?: (typeof LANE_POLICIES)[number] | LanePolicy<LaneEntry>;
  /** Emit a wait warning when a task waits longer than this (ms). Default: never. */
  warnAfterMs?: number;
}

/** A point-in-time view of a lane, for dashboards and metrics. */
export interface LaneStats {
  name: string;
  concurrency: number;
  active: number;
  pending: number;
  /** How long the longest-waiting task has waited (ms), 0 when none waits. */
  oldestWaitMs: number;
  /** Tasks started since the lane was created. */
  started: number;
  /** Longest wait any started task had (ms). */
  maxWaitMs: number;
}

/** A wait above the lane's threshold. */
export interface LaneWaitWarning {
  lane: string;
  key: string | undefined;
  waitedMs: number;
  pending: number;
}

/** What a lane needs from its owner. Internal. */
export interface LaneHost {
  now(): number;
  onWaitWarning(warning: LaneWaitWarning): void;
}

/** Options of `Lane.schedule`. */
export interface ScheduleOptions {
  /** The model the job uses (for `drain-by-model`). */
  model?: string;
  /** Abort the job after this long (ms). Default: no timeout. */
  timeoutMs?: number;
  /** Cancels the job: removed if still waiting, aborted if running. */
  signal?: AbortSignal;
  /** How long an aborted job may take to unwind before its slot is freed anyway (ms). Default 5000. */
  abortGraceMs?: number;
}

/** Raised to a `schedule` caller whose job timed out. */
export class JobTimeoutError extends SwitchyardError {
  constructor(key: string, timeoutMs: number) {
    super('E_RUN_TIMEOUT', `Background job ${key} exceeded its timeout of ${timeoutMs} ms and was aborted`, {
      context: { key, timeoutMs },
    });
  }
}

/** Validates a lane size. */
export function checkConcurrency(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidOptionError(`lanes.${name}`, 'an integer >= 1', value);
  }
  return value;
}

/** A named concurrency cap with a waiting-task policy. See the module comment for the slot invariant. */
export class Lane {
  readonly name: string;
  private concurrency: number;
  private running = 0;
  private readonly policy: LanePolicy<LaneEntry>;
  private readonly warnAfterMs: number | undefined;
  private startedCount = 0;
  private maxWait = 0;
  /** Running jobs (a transient registry: see collections/transient.ts). */
  private readonly jobs = new TransientSet<JobEntry<unknown>>();

  constructor(
    name: string,
    options: LaneOptions,
    private readonly host: LaneHost,
  ) {
    this.name = name;
    this.concurrency = checkConcurrency(name, options.concurrency);
    const policy = options.policy ?? 'fair';
    if (policy === 'fair') this.policy = new FairPolicy<LaneEntry>();
    else if (policy === 'fifo') this.policy = new FifoPolicy<LaneEntry>();
    else if (typeof policy === 'object' && policy !== null && typeof policy.shift === 'function') this.policy = policy;
    else throw new InvalidOptionError(`lanes.${name}.policy`, 'one of `fair`, `fifo` or a LanePolicy', policy);
    if (options.warnAfterMs !== undefined && (!Number.isFinite(options.warnAfterMs) || options.warnAfterMs < 0)) {
      throw new InvalidOptionError(`lanes.${name}.warnAfterMs`, 'a number >= 0', options.warnAfterMs);
    }
    this.warnAfterMs = options.warnAfterMs;
  }

  /** Tasks holding a slot. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot. */
  get pending(): number {
    return this.policy.size;
  }

  /** The cap. */
  get size(): number {
    return this.concurrency;
  }

  /** Changes the cap at runtime. Growing starts waiting tasks at once; shrinking lets running tasks finish. */
  resize(concurrency: number): void {
    this.concurrency = checkConcurrency(this.name, concurrency);
    this.pump();
  }

  /** Queues a task; starts it at once if a slot is free and nobody waits. */
  enqueue(entry: LaneEntry): void {
    entry.enqueuedAt = this.host.now();
    if (this.running < this.concurrency && this.policy.size === 0) {
      this.begin(entry, entry.enqueuedAt);
    } else {
      this.policy.push(entry);
    }
  }

  /** Removes a task that has not started. Returns false if it was not waiting (already started). */
  cancel(entry: LaneEntry): boolean {
    return this.policy.remove(entry);
  }

  /** Frees the slot of a started task. Exactly once per started task (see the module comment). */
  release(): void {
    this.running -= 1;
    this.pump();
  }

  /**
   * Runs a job that is not a session turn (compaction, scoring, backups) in this lane, fairly queued by `key`.
   * The job gets a signal that fires on `options.signal`, its timeout, or `abortJobs`.
   */
  schedule<T>(key: string, job: (signal: AbortSignal) => Promise<T> | T, options: ScheduleOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = new JobEntry<T>(this, key, job, options, resolve, reject);
      if (options.signal?.aborted) {
        reject(toError(options.signal.reason));
        return;
      }
      entry.listen();
      this.enqueue(entry as JobEntry<unknown>);
    });
  }

  /** Aborts every running background job (drain). Waiting jobs are rejected. */
  abortJobs(reason: unknown): void {
    for (const job of [...this.jobs]) job.abort(reason);
    // Waiting jobs: take them out of the policy and reject them.
    const keep: LaneEntry[] = [];
    let entry: LaneEntry | undefined;
    while ((entry = this.policy.shift(this.host.now())) !== undefined) {
      if (entry instanceof JobEntry) entry.rejectWaiting(reason);
      else keep.push(entry);
    }
    for (const e of keep) this.policy.push(e);
  }

  /** A point-in-time view. */
  stats(): LaneStats {
    const now = this.host.now();
    const oldest = this.policy.oldestEnqueuedAt();
    return {
      name: this.name,
      concurrency: this.concurrency,
      active: this.running,
      pending: this.policy.size,
      oldestWaitMs: oldest === undefined ? 0 : Math.max(0, now - oldest),
      started: this.startedCount,
      maxWaitMs: this.maxWait,
    };
  }

  /** Emits a wait warning if the longest-waiting task is over the threshold (called by a monitor timer). */
  checkWaits(): void {
    if (this.warnAfterMs === undefined) return;
    const oldest = this.policy.oldestEnqueuedAt();
    if (oldest === undefined) return;
    const waitedMs = this.host.now() - oldest;
    if (waitedMs > this.warnAfterMs) {
      this.host.onWaitWarning({ lane: this.name, key: undefined, waitedMs, pending: this.policy.size });
    }
  }

  /** Internal: bookkeeping for running jobs. */
  trackJob(job: JobEntry<unknown>, running: boolean): void {
    if (running) this.jobs.add(job);
    else this.jobs.delete(job);
  }

  private pump(): void {
    while (this.running < this.concurrency && this.policy.size > 0) {
      const now = this.host.now();
      const entry = this.policy.shift(now);
      if (entry === undefined) return;
      this.begin(entry, now);
    }
  }

  private begin(entry: LaneEntry, now: number): void {
    this.running += 1;
    this.startedCount += 1;
    const waited = now - entry.enqueuedAt;
    if (waited > this.maxWait) this.maxWait = waited;
    if (this.warnAfterMs !== undefined && waited > this.warnAfterMs) {
      this.host.onWaitWarning({ lane: this.name, key: entry.key, waitedMs: waited, pending: this.policy.size });
    }
    this.policy.started?.(entry);
    // `start` is our own code (SessionQueue / JobEntry), which never throws: user code runs inside it guarded.
    entry.start();
  }
}

/** A background job waiting in or running on a lane. Internal. */
class JobEntry<T> implements LaneEntry {
  enqueuedAt = 0;
  readonly model: string | undefined;
  private controller: LeanAbortController | undefined;
  private state: 'waiting' | 'running' | 'aborting' | 'done' = 'waiting';
  private timer: ReturnType<typeof setTimeout> | undefined;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly onCallerAbort = (): void => this.abort(this.options.signal?.reason);

  constructor(
    private readonly lane: Lane,
    readonly key: string,
    private readonly job: (signal: AbortSignal) => Promise<T> | T,
    private readonly options: ScheduleOptions,
    private readonly resolve: (value: T) => void,
    private readonly reject: (reason: unknown) => void,
  ) {
    this.model = options.model;
  }

  listen(): void {
    this.options.signal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  start(): void {
    this.state = 'running';
    this.lane.trackJob(this as JobEntry<unknown>, true);
    this.controller = new LeanAbortController();
    const timeoutMs = this.options.timeoutMs;
    if (timeoutMs !== undefined && timeoutMs > 0) {
      this.timer = setTimeout(() => this.abort(new JobTimeoutError(this.key, timeoutMs)), timeoutMs);
    }
    let result: Promise<T>;
    try {
      result = Promise.resolve(this.job(this.controller.signal));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (value) => this.settle(() => this.resolve(value)),
      (err: unknown) => this.settle(() => this.reject(this.controller?.signal.aborted ? this.controller.signal.reason : err)),
    );
  }

  abort(reason: unknown): void {
    if (this.state === 'waiting') {
      if (this.lane.cancel(this)) this.rejectWaiting(reason);
      return;
    }
    if (this.state !== 'running') return;
    this.state = 'aborting';
    this.controller?.abort(reason);
    const grace = this.options.abortGraceMs ?? 5_000;
    this.graceTimer = setTimeout(() => this.settle(() => this.reject(reason)), grace);
    this.graceTimer.unref?.();
  }

  rejectWaiting(reason: unknown): void {
    this.state = 'done';
    this.cleanup();
    this.reject(toError(reason));
  }

  private settle(report: () => void): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.cleanup();
    this.lane.trackJob(this as JobEntry<unknown>, false);
    this.lane.release();
    report();
  }

  private cleanup(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.options.signal?.removeEventListener('abort', this.onCallerAbort);
  }
}
