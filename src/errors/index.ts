/**
 * Typed errors with stable codes. One base class, `SwitchyardError`, carries a catalog `code`, an optional
 * `cause` and structured `context` (never secrets). Areas subclass it per failure site.
 */
import { ERROR_CATALOG, type ErrorCode } from './catalog.js';

export { ERROR_CATALOG, type ErrorCode, type ErrorSpec } from './catalog.js';

/** Options every Switchyard error accepts. */
export interface SwitchyardErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** Structured facts about the failure (ids, option names, values); logged as fields. Never secrets. */
  context?: Record<string, unknown>;
}

/**
 * Base of every error Switchyard raises on purpose. Match on `code`:
 * @example if (isSwitchyardError(err, 'E_QUEUE_FULL')) tellUser(err.message)
 */
export class SwitchyardError extends Error {
  /** Stable code from `ERROR_CATALOG`. */
  readonly code: ErrorCode;
  /** Structured context, safe to log. */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message?: string, options: SwitchyardErrorOptions = {}) {
    super(message ?? ERROR_CATALOG[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.context = options.context ?? {};
  }

  /** How to fix it, from the catalog. */
  get hint(): string {
    return ERROR_CATALOG[this.code].hint;
  }
}

/** True when `err` is a SwitchyardError, optionally with the given code. */
export function isSwitchyardError(err: unknown, code?: ErrorCode): err is SwitchyardError {
  return err instanceof SwitchyardError && (code === undefined || err.code === code);
}

/** Describes a value for an error message: `-1 (number)`, `"x" (string)`. Internal helper. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${String(value)} (${typeof value})`;
}

/**
 * An option was given a value it cannot take. Raised at construction and in setters, naming the option, what
 * it expects and what it got, so the fix is obvious.
 */
export class InvalidOptionError extends SwitchyardError {
  constructor(option: string, expected: string, value: unknown) {
    super('E_INVALID_OPTION', `Expected \`${option}\` to be ${expected}, got ${describeValue(value)}`, {
      context: { option, expected, value: typeof value === 'object' ? undefined : value },
    });
  }
}

/** Turns anything thrown (including non-Error values) into an Error, keeping the original as `cause`. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  const err = new Error(typeof value === 'string' ? value : `Non-error thrown: ${describeValue(value)}`);
  (err as Error & { thrown?: unknown }).thrown = value;
  return err;
}
