import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DrainByModelPolicy } from '../../src/agent/index.js';
import { Lane, type LaneEntry } from '../../src/scheduler/index.js';

interface T extends LaneEntry {
  name: string;
}
function task(name: string, model: string | undefined, enqueuedAt = 0): T {
  return { name, key: name, model, enqueuedAt, start: () => undefined };
}

describe('DrainByModelPolicy', () => {
  it('drains the last started model before switching', () => {
    const p = new DrainByModelPolicy<T>({ maxWaitMs: 1_000 });
    p.push(task('a1', 'A', 0));
    p.push(task('b1', 'B', 1));
    p.push(task('a2', 'A', 2));
    p.push(task('b2', 'B', 3));
    p.push(task('a3', 'A', 4));
    const order: string[] = [];
    let t: T | undefined;
    while ((t = p.shift(10)) !== undefined) order.push(t.name);
    expect(order).toEqual(['a1', 'a2', 'a3', 'b1', 'b2']);
    expect(p.size).toBe(0);
  });

  it('honours the model of a task that started without queueing (started hook)', () => {
    const p = new DrainByModelPolicy<T>();
    p.started(task('running', 'B'));
    p.push(task('a1', 'A', 0));
    p.push(task('b1', 'B', 1));
    expect(p.shift(5)?.name).toBe('b1');
    expect(p.currentModel).toBe('B');
  });

  it('lets a task that waited maxWaitMs go next whatever its model', () => {
    const p = new DrainByModelPolicy<T>({ maxWaitMs: 100 });
    p.started(task('x', 'A'));
    p.push(task('b1', 'B', 0));
    p.push(task('a1', 'A', 50));
    p.push(task('a2', 'A', 60));
    expect(p.shift(99)?.name).toBe('a1'); // b1 has waited 99 ms: not yet
    expect(p.shift(100)?.name).toBe('b1'); // now it has waited 100 ms
    expect(p.shift(100)?.name).toBe('a2'); // B group empty: oldest is next
  });

  it('removes waiting tasks and reports the oldest wait', () => {
    const p = new DrainByModelPolicy<T>();
    const a = task('a', 'A', 5);
    const b = task('b', undefined, 3);
    p.push(a);
    p.push(b);
    expect(p.oldestEnqueuedAt()).toBe(3);
    expect(p.remove(b)).toBe(true);
    expect(p.remove(b)).toBe(false);
    expect(p.oldestEnqueuedAt()).toBe(5);
    expect(p.size).toBe(1);
    expect(p.shift(6)).toBe(a);
    expect(p.shift(6)).toBeUndefined();
  });

  it('property: every task comes out exactly once and no task waits past maxWaitMs while another is picked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('A', 'B', 'C', undefined), fc.integer({ min: 0, max: 50 })), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 200 }),
        (specs, maxWaitMs) => {
          const p = new DrainByModelPolicy<T>({ maxWaitMs });
          let now = 0;
          const tasks = specs.map(([model, gap], i) => {
            now += gap;
            return task(`t${i}`, model, now);
          });
          for (const t of tasks) p.push(t);
          const out: T[] = [];
          let clock = now;
          let t: T | undefined;
          while ((t = p.shift(clock)) !== undefined) {
            // The age bound: if some waiting task is over the bound, the picked one is the oldest waiting.
            const waiting = [t, ...tasks.filter((x) => !out.includes(x) && x !== t)];
            const oldest = Math.min(...waiting.map((x) => x.enqueuedAt));
            if (clock - oldest >= maxWaitMs) expect(t.enqueuedAt).toBe(oldest);
            out.push(t);
            clock += 7;
          }
          expect(new Set(out).size).toBe(tasks.length);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('plugs into a real Lane: with one slot, runs are batched by model', async () => {
    let now = 0;
    const policy = new DrainByModelPolicy<LaneEntry>({ maxWaitMs: 10_000 });
    const lane = new Lane('local', { concurrency: 1, policy }, { now: () => now, onWaitWarning: () => undefined });
    const started: string[] = [];
    const gates: Array<() => void> = [];
    const job = (name: string) => (): Promise<void> => {
      started.push(name);
      return new Promise<void>((resolve) => gates.push(resolve));
    };
    const runs = [
      lane.schedule('s1', job('A1'), { model: 'A' }),
      lane.schedule('s2', job('B1'), { model: 'B' }),
      lane.schedule('s3', job('A2'), { model: 'A' }),
      lane.schedule('s4', job('B2'), { model: 'B' }),
      lane.schedule('s5', job('A3'), { model: 'A' }),
    ];
    const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < runs.length; i++) {
      await flush();
      expect(gates).toHaveLength(1); // one slot: exactly one job runs at a time
      now += 1;
      gates.shift()!();
    }
    await Promise.all(runs);
    expect(started).toEqual(['A1', 'A2', 'A3', 'B1', 'B2']);
  });
});
