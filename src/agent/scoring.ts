/**
 * Post-turn significance scoring: after a turn is answered, a classifier model rates it 0-3 in the background
 * lane; a 3 auto-pins a one-line memory (at most `autoCap` auto pins per session: the store unpins the oldest
 * auto pin; manual pins are never evicted). Off the turn path: a failing or slow classifier is logged and
 * never delays or fails a turn, and the returned promise never rejects.
 *
 * Scoring is best effort, so its backlog is bounded: a busy gateway answers far more turns per second than a
 * background lane of two can score (~50 classifier calls/s), and an unbounded queue would grow by the
 * difference and keep calling the model long after the load stopped. Past `maxQueued` jobs waiting to start,
 * a turn is not scored (`skipped`, counted, logged at debug).
 */
import { toError } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import type { Pin } from '../store/index.js';
import type { ChatMessage } from './provider.js';
import type { AgentMemory, BackgroundLane } from './types.js';

/** Asks a model; the default is the agent's `ProviderClient.chat` with the classifier model. */
export type ClassifierCall = (messages: ChatMessage[], signal: AbortSignal) => Promise<string>;

/** A parsed classifier answer. */
export interface TurnScore {
  score: 0 | 1 | 2 | 3;
  /** The memory line the classifier proposed (used when score is 3). */
  memory: string | undefined;
}

/** What scoring did. */
export interface ScoringOutcome {
  status: 'scored' | 'pinned' | 'failed' | 'unparsable' | 'skipped';
  score?: number | undefined;
  pin?: Pin | undefined;
  error?: Error | undefined;
}

/** Options of `TurnScorer`. */
export interface TurnScorerOptions {
  memory: AgentMemory;
  classify: ClassifierCall;
  lane: () => BackgroundLane;
  /** Most auto pins per session. Default 8. */
  autoCap?: number | undefined;
  /** Abort a scoring job after this long (ms). Default 60000. */
  timeoutMs?: number | undefined;
  /** Classifier model, for `drain-by-model` lanes. */
  model?: string | undefined;
  /** Most scoring jobs waiting to start; more turns are `skipped`. Default 256. */
  maxQueued?: number | undefined;
  logger?: Logger | undefined;
  now?: (() => number) | undefined;
}

/** Longest memory line kept from a classifier or a turn. */
export const MAX_AUTO_PIN_CHARS = 280;

const INSTRUCTIONS = `You rate how significant a chat exchange is as a long-term memory about the user or the conversation.
0 = small talk, 1 = routine question, 2 = useful context, 3 = a durable fact, preference, decision or commitment worth remembering.
Answer on one line: the digit, then a space, then the memory in one short sentence (third person). Example: "3 The user's name is Ada and she prefers metric units."`;

/** Parses `"<0-3> <memory>"` (tolerates a leading label, punctuation, markdown). Undefined when no score. */
export function parseScore(text: string): TurnScore | undefined {
  const m = /(?:^|[^0-9])([0-3])(?![0-9])[\s*_\-:.|)\]]*(.*)/s.exec(text.trim());
  if (!m) return undefined;
  const score = Number(m[1]) as TurnScore['score'];
  const line = (m[2] ?? '').split('\n')[0]!.replace(/^["'*\s]+|["'*\s]+$/g, '').trim();
  return { score, memory: line.length > 0 ? line.slice(0, MAX_AUTO_PIN_CHARS) : undefined };
}

/** The prompt sent to the classifier. */
export function scoringPrompt(userText: string, assistantText: string): ChatMessage[] {
  const clip = (s: string): string => (s.length > 2000 ? `${s.slice(0, 2000)}…` : s);
  return [
    { role: 'system', content: INSTRUCTIONS },
    { role: 'user', content: `User:\n${clip(userText)}\n\nAssistant:\n${clip(assistantText)}` },
  ];
}

/** Scores turns in the background and auto-pins the significant ones. */
export class TurnScorer {
  private readonly log: Logger;
  private readonly autoCap: number;
  private readonly timeoutMs: number;
  private readonly maxQueued: number;
  /** Jobs scheduled whose classifier call has not started yet. */
  private queued = 0;
  private failures = 0;
  /** Scoring jobs by how they ended, since start (for metrics). */
  readonly counts: Record<ScoringOutcome['status'], number> = { scored: 0, pinned: 0, failed: 0, unparsable: 0, skipped: 0 };

  constructor(private readonly options: TurnScorerOptions) {
    this.log = options.logger ?? silentLogger;
    this.autoCap = options.autoCap ?? 8;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxQueued = options.maxQueued ?? 256;
  }

  /** Scoring jobs waiting to start. */
  get backlog(): number {
    return this.queued;
  }

  /** Scoring jobs that failed since start (for metrics). */
  get failed(): number {
    return this.failures;
  }

  /**
   * When the backlog is full, counts the turn as `skipped` and returns true (then `score` would only skip it):
   * the runner asks first so a busy gateway does not build the classifier's input for nothing.
   */
  skipIfFull(sessionKey: string): boolean {
    if (this.queued < this.maxQueued) return false;
    this.counts.skipped += 1;
    this.log.debug({ sessionKey, backlog: this.queued }, 'turn not scored: the scoring backlog is full');
    return true;
  }

  /** Queues scoring of one answered turn. Never rejects. */
  score(sessionKey: string, userText: string, assistantText: string): Promise<ScoringOutcome> {
    if (this.skipIfFull(sessionKey)) return Promise.resolve({ status: 'skipped' });
    let job: Promise<ScoringOutcome>;
    let started = false;
    const start = (): void => {
      if (started) return;
      started = true;
      this.queued -= 1;
    };
    this.queued += 1;
    try {
      job = this.options.lane().schedule(
        `score:${sessionKey}`,
        (signal) => {
          start();
          return this.job(sessionKey, userText, assistantText, signal);
        },
        { timeoutMs: this.timeoutMs, ...(this.options.model === undefined ? {} : { model: this.options.model }) },
      );
    } catch (err) {
      job = Promise.reject(err);
    }
    // A job cancelled or refused before it started leaves the backlog too.
    job = job.finally(start);
    return job
      .catch((err: unknown): ScoringOutcome => {
        this.failures += 1;
        this.log.warn({ sessionKey, err: toError(err) }, 'turn scoring failed');
        return { status: 'failed', error: toError(err) };
      })
      .then((outcome) => {
        this.counts[outcome.status] += 1;
        return outcome;
      });
  }

  private async job(sessionKey: string, userText: string, assistantText: string, signal: AbortSignal): Promise<ScoringOutcome> {
    const answer = await this.options.classify(scoringPrompt(userText, assistantText), signal);
    const parsed = parseScore(answer);
    if (parsed === undefined) {
      this.log.warn({ sessionKey, answer: answer.slice(0, 100) }, 'classifier answer has no score');
      return { status: 'unparsable' };
    }
    if (parsed.score < 3) return { status: 'scored', score: parsed.score };
    const text = parsed.memory ?? userText.slice(0, MAX_AUTO_PIN_CHARS);
    if (signal.aborted) throw toError(signal.reason);
    const pin = await this.options.memory.addPin(
      { sessionKey, text, source: 'auto', createdAt: (this.options.now ?? Date.now)() },
      { autoCap: this.autoCap },
    );
    this.log.info({ sessionKey, pinId: pin.id }, 'turn auto-pinned');
    return { status: 'pinned', score: 3, pin };
  }
}
