/**
 * Lane policies: which waiting task a lane starts next. A strategy behind a small interface (like p-queue's
 * `queueClass`), so a lane's order is a choice, not string prefixes inside the queue.
 */
import { TransientMap } from '../collections/transient.js';
import { Fifo } from './fifo.js';

/** What a lane schedules: a session run or a background job. */
export interface LaneTask {
  /** Fairness key: the session key (or a job's key). */
  readonly key: string;
  /** The model the task will use, for `drain-by-model`. */
  readonly model?: string | undefined;
  /** When the task entered the lane (ms, the lane's clock). Set by the lane. */
  enqueuedAt: number;
}

/** Orders a lane's waiting tasks. Implementations hold the tasks; the lane holds the running count. */
export interface LanePolicy<T extends LaneTask = LaneTask> {
  /** Waiting tasks. */
  readonly size: number;
  push(task: T): void;
  /** The next task to start, removed from the policy. `now` lets age-bounded policies avoid starvation. */
  shift(now: number): T | undefined;
  /** Removes a waiting task (cancelled before it started). */
  remove(task: T): boolean;
  /** Enqueue time of the longest-waiting task. */
  oldestEnqueuedAt(): number | undefined;
  /** Tells the policy a task started (drain-by-model remembers the model). Optional. */
  started?(task: T): void;
}

/** Plain FIFO across all tasks, whatever their key. */
export class FifoPolicy<T extends LaneTask = LaneTask> implements LanePolicy<T> {
  private readonly queue = new Fifo<T>();
  get size(): number {
    return this.queue.length;
  }
  push(task: T): void {
    this.queue.push(task);
  }
  shift(): T | undefined {
    return this.queue.shift();
  }
  remove(task: T): boolean {
    return this.queue.remove(task);
  }
  oldestEnqueuedAt(): number | undefined {
    return this.queue.peek()?.enqueuedAt;
  }
}

interface Bucket<T> {
  readonly key: string;
  readonly tasks: Fifo<T>;
}

/**
 * Round-robin across keys, FIFO within a key: one busy group cannot starve DMs. Keys take turns in the order
 * they first had waiting work; a key whose queue empties leaves the ring and costs nothing.
 */
export class FairPolicy<T extends LaneTask = LaneTask> implements LanePolicy<T> {
  private readonly buckets = new TransientMap<string, Bucket<T>>();
  private readonly ring = new Fifo<Bucket<T>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(task: T): void {
    let bucket = this.buckets.get(task.key);
    if (bucket === undefined) {
      bucket = { key: task.key, tasks: new Fifo<T>() };
      this.buckets.set(task.key, bucket);
      this.ring.push(bucket);
    }
    bucket.tasks.push(task);
    this.count += 1;
  }

  shift(): T | undefined {
    for (;;) {
      const bucket = this.ring.shift();
      if (bucket === undefined) return undefined;
      const task = bucket.tasks.shift();
      if (bucket.tasks.length > 0) this.ring.push(bucket);
      else this.buckets.delete(bucket.key);
      if (task !== undefined) {
        this.count -= 1;
        return task;
      }
    }
  }

  remove(task: T): boolean {
    const bucket = this.buckets.get(task.key);
    if (bucket === undefined || !bucket.tasks.remove(task)) return false;
    this.count -= 1;
    if (bucket.tasks.length === 0) {
      // Invariant: a bucket is in the ring exactly when it is in `buckets`.
      this.buckets.delete(bucket.key);
      this.ring.remove(bucket);
    }
    return true;
  }

  oldestEnqueuedAt(): number | undefined {
    let oldest: number | undefined;
    for (const bucket of this.buckets.values()) {
      const t = bucket.tasks.peek()?.enqueuedAt;
      if (t !== undefined && (oldest === undefined || t < oldest)) oldest = t;
    }
    return oldest;
  }
}
