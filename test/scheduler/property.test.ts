/**
 * Property tests over random interleavings of submit / complete / fail / throw / reject-with-non-Error /
 * stop / stopAll / reset / resize / timeout. After every step and at the end, the scheduler's invariants hold.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Scheduler, type OutcomeRecord, type Turn, type RunContext, type QueueMode } from '../../src/scheduler/index.js';
import type { Msg } from './harness.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const SESSIONS = ['a', 'b', 'c'] as const;

type Op =
  | { k: 'submit'; s: number; sender: number }
  | { k: 'complete' | 'fail'; i: number }
  | { k: 'arm'; how: 'throw' | 'nonError' }
  | { k: 'stop' | 'stopAll'; s: number }
  | { k: 'reset' }
  | { k: 'resize'; n: number }
  | { k: 'tick'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('submit' as const), s: fc.nat(2), sender: fc.nat(1) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('complete' as const), i: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fail' as const), i: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('arm' as const), how: fc.constantFrom('throw' as const, 'nonError' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom('stop' as const, 'stopAll' as const), s: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reset' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('resize' as const), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 1500 }) }) },
);

interface Live {
  turn: Turn<Msg>;
  settle(ok: boolean): void;
  done: boolean;
}

async function flush(): Promise<void> {
  for (let i = 0; i < 6; i++) await Promise.resolve();
}

function world(config: { mode: QueueMode; maxConcurrent: number; cap: number; debounceMs: number; lane: number }) {
  const live: Live[] = [];
  const outcomes = new Map<string, OutcomeRecord[]>();
  const starts: Array<{ session: string; owner: string; attempt: number; ids: string[] }> = [];
  let armed: 'throw' | 'nonError' | undefined;
  let perSessionRunning = new Map<string, number>();
  let violations: string[] = [];
  const scheduler = new Scheduler<Msg>({
    lanes: { main: config.lane },
    settings: () => ({ ...config, lane: 'main', runTimeoutMs: 4000, abortGraceMs: 300 }),
    run: (turn: Turn<Msg>, ctx: RunContext) => {
      starts.push({ session: turn.sessionKey, owner: turn.messages[0]!.id, attempt: turn.attempt, ids: turn.messages.map((m) => m.id) });
      if (armed === 'throw') {
        armed = undefined;
        throw new Error('sync throw');
      }
      if (armed === 'nonError') {
        armed = undefined;
        return Promise.reject(42);
      }
      const n = (perSessionRunning.get(turn.sessionKey) ?? 0) + 1;
      perSessionRunning.set(turn.sessionKey, n);
      return new Promise<void>((resolve, reject) => {
        const entry: Live = {
          turn,
          done: false,
          settle: (ok) => {
            if (entry.done) return;
            entry.done = true;
            perSessionRunning.set(turn.sessionKey, (perSessionRunning.get(turn.sessionKey) ?? 1) - 1);
            if (ok) resolve();
            else reject(new Error('model error'));
          },
        };
        live.push(entry);
        // Some runs honour the abort promptly, some never do (the grace period frees them).
        if (turn.messages[0]!.text !== 'stubborn') ctx.signal.addEventListener('abort', () => entry.settle(false), { once: true });
      });
    },
  });
  scheduler.on('outcome', (o) => {
    const list = outcomes.get(o.messageId) ?? [];
    list.push(o);
    outcomes.set(o.messageId, list);
  });
  /** `laneMax`: the largest cap the lane has had (after shrinking, running runs may finish above the new cap). */
  const check = (laneMax: number): void => {
    const snap = scheduler.snapshot();
    for (const lane of snap.lanes) if (lane.active > laneMax) violations.push(`lane ${lane.name}: ${lane.active} active > ${laneMax}`);
    for (const s of snap.sessions) {
      if (s.active.filter((r) => r.state === 'running' || r.state === 'waiting').length > config.maxConcurrent) {
        violations.push(`session ${s.key} has ${s.active.length} active > ${config.maxConcurrent}`);
      }
    }
    for (const [k, n] of perSessionRunning) if (n > config.maxConcurrent) violations.push(`session ${k} runs ${n} runners at once`);
  };
  return {
    scheduler,
    live,
    outcomes,
    starts,
    check,
    arm: (how: 'throw' | 'nonError') => (armed = how),
    get violations() {
      return violations;
    },
    reset() {
      violations = [];
      perSessionRunning = new Map();
    },
  };
}

async function play(w: ReturnType<typeof world>, ops: Op[], submitted: Msg[], laneMax: { value: number }): Promise<void> {
  let n = 0;
  let pmid = 0;
  for (const op of ops) {
    switch (op.k) {
      case 'submit': {
        n += 1;
        pmid += 1;
        const m: Msg = {
          id: `m${n}`,
          sessionKey: SESSIONS[op.s]!,
          senderId: `u${op.sender}`,
          text: n % 7 === 0 ? 'stubborn' : 'hi',
          platformMessageId: String(pmid),
          sentAt: pmid,
        };
        submitted.push(m);
        w.scheduler.submit(m);
        break;
      }
      case 'complete':
      case 'fail': {
        const open = w.live.filter((l) => !l.done);
        open[op.i % Math.max(1, open.length)]?.settle(op.k === 'complete');
        break;
      }
      case 'arm':
        w.arm(op.how);
        break;
      case 'stop':
        w.scheduler.stop(SESSIONS[op.s]!);
        break;
      case 'stopAll':
        pmid += 1;
        w.scheduler.stopAll(SESSIONS[op.s]!, { platformMessageId: String(pmid), sentAt: pmid });
        break;
      case 'reset':
        w.scheduler.reset();
        break;
      case 'resize':
        laneMax.value = Math.max(laneMax.value, op.n);
        w.scheduler.lane('main').resize(op.n);
        break;
      case 'tick':
        vi.advanceTimersByTime(op.ms);
        break;
    }
    await flush();
    w.check(laneMax.value);
  }
  // Settle everything: complete what runs, let timers fire, until no work is left (bounded).
  for (let round = 0; round < 200 && (w.scheduler.sessionCount > 0 || w.live.some((l) => !l.done)); round++) {
    for (const l of w.live) if (!l.done) l.settle(true);
    await flush();
    vi.advanceTimersByTime(1000);
    await flush();
    w.check(laneMax.value);
  }
}

describe('scheduler properties', () => {
  it('exactly one outcome per message, caps respected, FIFO starts in queue mode, nothing left pending', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          mode: fc.constantFrom<QueueMode>('queue', 'followup', 'interrupt'),
          maxConcurrent: fc.integer({ min: 1, max: 3 }),
          cap: fc.integer({ min: 1, max: 6 }),
          debounceMs: fc.constantFrom(0, 0, 500),
          lane: fc.integer({ min: 1, max: 4 }),
        }),
        fc.array(opArb, { minLength: 1, maxLength: 60 }),
        async (config, ops) => {
          vi.clearAllTimers();
          const w = world(config);
          const submitted: Msg[] = [];
          await play(w, ops, submitted, { value: config.lane });
          expect(w.violations).toEqual([]);
          // No lost wake-up: every session drained, every lane empty.
          expect(w.scheduler.sessionCount).toBe(0);
          for (const lane of w.scheduler.snapshot().lanes) expect(lane).toMatchObject({ active: 0, pending: 0 });
          // Exactly one outcome per message.
          for (const m of submitted) expect(w.outcomes.get(m.id)?.length, `outcomes of ${m.id}`).toBe(1);
          expect([...w.outcomes.keys()].every((id) => submitted.some((m) => m.id === id))).toBe(true);
          // FIFO starts per session in queue mode (first attempts; resets re-run earlier turns first).
          if (config.mode === 'queue') {
            for (const s of SESSIONS) {
              const order = w.starts.filter((x) => x.session === s && x.attempt === 1).map((x) => Number(x.owner.slice(1)));
              expect(order).toEqual([...order].sort((a, b) => a - b));
            }
          }
        },
      ),
      { numRuns: 400, seed: 20261122 },
    );
  });

  it('a follow-up turn holds exactly the messages that arrived during the run it follows', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            { weight: 5, arbitrary: fc.record({ k: fc.constant('submit' as const), s: fc.nat(2), sender: fc.nat(1) }) },
            { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('complete' as const, 'fail' as const), i: fc.nat(3) }) },
            { weight: 1, arbitrary: fc.record({ k: fc.constant('stop' as const), s: fc.nat(2) }) },
            { weight: 1, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 5000 }) }) },
          ) as fc.Arbitrary<Op>,
          { maxLength: 50 },
        ),
        async (ops) => {
          vi.clearAllTimers();
          const w = world({ mode: 'followup', maxConcurrent: 1, cap: 1000, debounceMs: 0, lane: 8 });
          // Track, per session, what arrived since its latest run started.
          const arrived = new Map<string, string[]>();
          const mismatches: string[] = [];
          w.scheduler.on('run:start', (turn) => {
            const expected = arrived.get(turn.sessionKey) ?? [];
            if (turn.kind === 'followup' && turn.attempt === 1) {
              const got = turn.messages.map((m) => m.id);
              if (JSON.stringify(got) !== JSON.stringify(expected)) mismatches.push(`${turn.id}: ${got} vs ${expected}`);
            }
            arrived.set(turn.sessionKey, []);
          });
          w.scheduler.on('outcome', (o) => {
            if (o.outcome === 'cancelled' && o.reason === 'stop') {
              const list = arrived.get(o.sessionKey);
              if (list) arrived.set(o.sessionKey, list.filter((id) => id !== o.messageId));
            }
          });
          const origSubmit = w.scheduler.submit.bind(w.scheduler);
          w.scheduler.submit = (m, cb) => {
            const busy = (w.scheduler.session(m.sessionKey)?.active.length ?? 0) > 0;
            if (busy) arrived.set(m.sessionKey, [...(arrived.get(m.sessionKey) ?? []), m.id]);
            return origSubmit(m, cb);
          };
          await play(w, ops, [], { value: 8 });
          expect(mismatches).toEqual([]);
        },
      ),
      { numRuns: 150, seed: 7 },
    );
  });
});
