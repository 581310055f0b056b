/**
 * Lane policy `drain-by-model`, for a lane backed by one local model server (Ollama, llama.cpp) that holds
 * one model in memory at a time: start tasks for the model used last before switching, so the server does
 * not thrash swapping models. An age bound keeps it fair: once the oldest waiting task has waited
 * `maxWaitMs`, it goes next whatever its model (and its model becomes the one to drain).
 *
 * Within one model, tasks are FIFO. Tasks without a model form their own group. `shift` is O(models), which
 * stays small (a local server serves a handful of models).
 */
import type { LanePolicy, LaneTask } from '../scheduler/index.js';

/** Options of `DrainByModelPolicy`. */
export interface DrainByModelOptions {
  /** A task that has waited this long (ms) starts next, whatever its model. Default 30000. */
  maxWaitMs?: number;
}

/** A FIFO with O(1) push/shift and O(n) removal. Internal. */
class Queue<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  length = 0;
  push(item: T): void {
    this.items.push(item);
    this.length += 1;
  }
  peek(): T | undefined {
    this.skip();
    return this.items[this.head];
  }
  shift(): T | undefined {
    this.skip();
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head += 1;
    this.length -= 1;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  remove(item: T): boolean {
    const i = this.items.indexOf(item, this.head);
    if (i < 0) return false;
    this.items[i] = undefined; // a hole; skipped by peek / shift
    this.length -= 1;
    return true;
  }
  private skip(): void {
    while (this.head < this.items.length && this.items[this.head] === undefined) this.head += 1;
  }
}

const NO_MODEL = '\u0000none';

/** Prefers the last started model, with an age bound. See the module comment. */
export class DrainByModelPolicy<T extends LaneTask = LaneTask> implements LanePolicy<T> {
  /** The age bound (ms). */
  readonly maxWaitMs: number;
  private readonly groups = new Map<string, Queue<T>>();
  private count = 0;
  private current: string | undefined;

  constructor(options: DrainByModelOptions = {}) {
    const maxWaitMs = options.maxWaitMs ?? 30_000;
    if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) throw new RangeError(`Expected \`maxWaitMs\` to be a number >= 0, got ${String(maxWaitMs)}`);
    this.maxWaitMs = maxWaitMs;
  }

  get size(): number {
    return this.count;
  }

  /** The model being drained (the last started), if any. */
  get currentModel(): string | undefined {
    return this.current === NO_MODEL ? undefined : this.current;
  }

  push(task: T): void {
    const model = task.model ?? NO_MODEL;
    let q = this.groups.get(model);
    if (q === undefined) this.groups.set(model, (q = new Queue<T>()));
    q.push(task);
    this.count += 1;
  }

  shift(now: number): T | undefined {
    if (this.count === 0) return undefined;
    let oldestModel: string | undefined;
    let oldestAt = Infinity;
    for (const [model, q] of this.groups) {
      const head = q.peek();
      if (head !== undefined && head.enqueuedAt < oldestAt) {
        oldestAt = head.enqueuedAt;
        oldestModel = model;
      }
    }
    const currentQueue = this.current === undefined ? undefined : this.groups.get(this.current);
    const pick = now - oldestAt >= this.maxWaitMs || currentQueue === undefined || currentQueue.length === 0 ? oldestModel : this.current;
    if (pick === undefined) return undefined;
    const q = this.groups.get(pick)!;
    const task = q.shift();
    if (q.length === 0) this.groups.delete(pick);
    if (task !== undefined) {
      this.count -= 1;
      this.current = pick;
    }
    return task;
  }

  remove(task: T): boolean {
    const model = task.model ?? NO_MODEL;
    const q = this.groups.get(model);
    if (q === undefined || !q.remove(task)) return false;
    this.count -= 1;
    if (q.length === 0) this.groups.delete(model);
    return true;
  }

  oldestEnqueuedAt(): number | undefined {
    let oldest: number | undefined;
    for (const q of this.groups.values()) {
      const t = q.peek()?.enqueuedAt;
      if (t !== undefined && (oldest === undefined || t < oldest)) oldest = t;
    }
    return oldest;
  }

  /** A task started (perhaps without passing through the queue, when a slot was free): drain its model next. */
  started(task: T): void {
    this.current = task.model ?? NO_MODEL;
  }
}
