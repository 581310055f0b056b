/** Test helpers for the HTTP, metrics and webchat suites: a real scheduler with gated runs, a log capture. */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { REDACT_PATHS } from '../../src/log/index.js';
import { Scheduler, type RunContext, type SchedulableMessage, type Turn } from '../../src/scheduler/index.js';

export interface Gate {
  turn: Turn<TestMessage>;
  ctx: RunContext;
  resolve(): void;
  reject(err: unknown): void;
}

export interface TestMessage extends SchedulableMessage {
  text: string;
}

let seq = 0;
/** A message for `sessionKey`, with increasing platform ids. */
export function msg(sessionKey: string, text = 'hi', senderId = 'u1'): TestMessage {
  seq += 1;
  return { id: `m${seq}`, sessionKey, senderId, text, platformMessageId: String(seq), sentAt: Date.now() };
}

/** A real scheduler whose runs wait until the test resolves them; aborted runs reject at once. */
export function gatedScheduler(lanes: Record<string, number> = { main: 2, subagent: 2, background: 1 }, now?: () => number) {
  const gates: Gate[] = [];
  const scheduler = new Scheduler<TestMessage>({
    lanes,
    ...(now !== undefined ? { now } : {}),
    settings: () => ({ mode: 'followup', maxConcurrent: 1 }),
    run: (turn, ctx) =>
      new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(ctx.signal.reason);
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        gates.push({
          turn,
          ctx,
          resolve: () => {
            ctx.signal.removeEventListener('abort', onAbort);
            resolve();
          },
          reject,
        });
      }),
  });
  return { scheduler, gates };
}

/** Lets promise callbacks run (several microtask turns and one macrotask). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

/** A pino logger (same redaction as the gateway's) whose lines are kept in `lines`. */
export function captureLogger(level = 'trace'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  const logger = pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, stream);
  return { logger, lines };
}
