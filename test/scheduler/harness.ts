/**
 * Test harness for the scheduler: messages with ids, and a runner whose runs are settled by the test through
 * explicit gates (no sleeps). Every run the scheduler starts is recorded with its turn and signal.
 */
import { Scheduler, type OutcomeRecord, type SchedulerOptions, type Turn, type RunContext } from '../../src/scheduler/index.js';

/** The message type used in scheduler tests. */
export interface Msg {
  id: string;
  sessionKey: string;
  senderId: string;
  text: string;
  platformMessageId?: string;
  sentAt?: number;
}

/** A run the harness runner was called with; settle it from the test. */
export interface RecordedRun {
  turn: Turn<Msg>;
  signal: AbortSignal;
  ids: string[];
  resolve(): void;
  reject(err: unknown): void;
  settled: boolean;
}

let counter = 0;

/** Builds a message; ids and platform ids increase monotonically across a test file. */
export function msg(sessionKey: string, senderId = 'u1', text = 'hi', extra: Partial<Msg> = {}): Msg {
  counter += 1;
  return { id: `m${counter}`, sessionKey, senderId, text, platformMessageId: String(counter), sentAt: counter, ...extra };
}

/** A scheduler whose runs wait for the test to settle them. */
export function harness(options: Partial<SchedulerOptions<Msg>> & { autoSettle?: boolean } = {}) {
  const runs: RecordedRun[] = [];
  const outcomes: OutcomeRecord[] = [];
  const run =
    options.run ??
    ((turn: Turn<Msg>, ctx: RunContext) =>
      new Promise<void>((resolve, reject) => {
        const r: RecordedRun = {
          turn,
          signal: ctx.signal,
          ids: turn.messages.map((m) => m.id),
          settled: false,
          resolve: () => {
            r.settled = true;
            resolve();
          },
          reject: (err) => {
            r.settled = true;
            reject(err);
          },
        };
        runs.push(r);
        // A well-behaved runner settles when aborted.
        ctx.signal.addEventListener('abort', () => r.reject(ctx.signal.reason), { once: true });
        if (options.autoSettle) queueMicrotask(() => r.resolve());
      }));
  const scheduler = new Scheduler<Msg>({ lanes: { main: 4, background: 2 }, ...options, run });
  scheduler.on('outcome', (o) => outcomes.push(o));
  const outcomeOf = (id: string): OutcomeRecord | undefined => outcomes.find((o) => o.messageId === id);
  const outcomesOf = (id: string): OutcomeRecord[] => outcomes.filter((o) => o.messageId === id);
  const active = (): RecordedRun[] => runs.filter((r) => !r.settled);
  return { scheduler, runs, outcomes, outcomeOf, outcomesOf, active };
}

/** Lets promise callbacks (run settlement → slot release → next launch) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
