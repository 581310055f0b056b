/**
 * Per-session queue settings: validated once, fully defaulted, frozen. Invalid values throw
 * `InvalidOptionError` (E_INVALID_OPTION) naming the option and the value, at construction and in setters.
 */
import { InvalidOptionError } from '../errors/index.js';

/** Queue modes. See ../shared/DESIGN.md "Session queue semantics". */
export const QUEUE_MODES = ['queue', 'followup', 'interrupt'] as const;
/** How a session treats messages that arrive while it is busy. */
export type QueueMode = (typeof QUEUE_MODES)[number];

/** Drop policies when `cap` pending messages are reached. */
export const DROP_POLICIES = ['old', 'new', 'summarize'] as const;
/** What to drop when the queue is full. */
export type DropPolicy = (typeof DROP_POLICIES)[number];

/** The settings of one session's queue, fully defaulted. */
export interface SessionSettings {
  /** Lane the session's runs go to. Default `main`. */
  readonly lane: string;
  /** Default `followup`. */
  readonly mode: QueueMode;
  /** Most pending (not yet started) messages. Default 10. */
  readonly cap: number;
  /** Default `old`. */
  readonly drop: DropPolicy;
  /** Same-sender messages within this window, before their run starts, merge into one turn. Default 0 (off). */
  readonly debounceMs: number;
  /** Most runs of the session at once (started or holding a lane place). Default 1. */
  readonly maxConcurrent: number;
  /** A run is aborted after this long (ms); 0 = never. Default 10 minutes. */
  readonly runTimeoutMs: number;
  /** Context fill (0..1] at or above which the session runs one run at a time. Default 0.6. */
  readonly throttleRatio: number;
  /**
   * How long an aborted run may take to unwind before its slot is released anyway and it is reported leaked
   * (ms). Until then the session does not start the next run, so two runs never write history at once.
   * Default 5000.
   */
  readonly abortGraceMs: number;
  /** Model the session's runs use; lets a `drain-by-model` lane batch runs by model. Optional. */
  readonly model?: string;
}

/** Defaults of every session setting. */
export const DEFAULT_SESSION_SETTINGS: SessionSettings = Object.freeze({
  lane: 'main',
  mode: 'followup',
  cap: 10,
  drop: 'old',
  debounceMs: 0,
  maxConcurrent: 1,
  runTimeoutMs: 600_000,
  throttleRatio: 0.6,
  abortGraceMs: 5_000,
});

function int(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(name, `an integer >= ${min}`, value);
  }
  return value;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidOptionError(name, `one of ${allowed.map((a) => `\`${a}\``).join(', ')}`, value);
  }
  return value as T;
}

const validated = new WeakMap<object, SessionSettings>();

/**
 * Validates and defaults partial settings. Results are cached per input object, so a resolver that returns
 * shared objects (one per channel and peer kind) pays validation once, not once per session.
 */
export function resolveSessionSettings(input: Partial<SessionSettings> | undefined): SessionSettings {
  if (input === undefined) return DEFAULT_SESSION_SETTINGS;
  const cached = validated.get(input);
  if (cached) return cached;
  const s = { ...DEFAULT_SESSION_SETTINGS, ...stripUndefined(input) };
  const out: SessionSettings = Object.freeze({
    lane: typeof s.lane === 'string' && s.lane.length > 0 ? s.lane : fail('lane', 'a non-empty string', s.lane),
    mode: oneOf('mode', s.mode, QUEUE_MODES),
    cap: int('cap', s.cap, 1),
    drop: oneOf('drop', s.drop, DROP_POLICIES),
    debounceMs: int('debounceMs', s.debounceMs, 0),
    maxConcurrent: int('maxConcurrent', s.maxConcurrent, 1),
    runTimeoutMs: int('runTimeoutMs', s.runTimeoutMs, 0),
    throttleRatio:
      typeof s.throttleRatio === 'number' && s.throttleRatio > 0 && s.throttleRatio <= 1
        ? s.throttleRatio
        : fail('throttleRatio', 'a number in (0, 1]', s.throttleRatio),
    abortGraceMs: int('abortGraceMs', s.abortGraceMs, 0),
    ...(s.model === undefined
      ? {}
      : { model: typeof s.model === 'string' && s.model.length > 0 ? s.model : fail('model', 'a non-empty string', s.model) }),
  });
  validated.set(input, out);
  return out;
}

function fail(name: string, expected: string, value: unknown): never {
  throw new InvalidOptionError(name, expected, value);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
