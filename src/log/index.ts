/**
 * Structured logging for every area: pino, JSON by default, pretty in a TTY when asked. Areas take a `Logger`
 * in their options and default to `silentLogger`, so library use and tests stay quiet unless wired.
 * Secrets never reach a log line: the paths below are redacted, and config loading adds each configured
 * secret value to `redactValues`.
 */
import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Field paths redacted from every log line. */
export const REDACT_PATHS = [
  'token',
  'apiKey',
  'adminToken',
  'secret',
  'secretToken',
  'authorization',
  'password',
  '*.token',
  '*.apiKey',
  '*.adminToken',
  '*.secret',
  '*.secretToken',
  '*.authorization',
  '*.password',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-telegram-bot-api-secret-token"]',
];

/** Options of `createLogger`. */
export interface CreateLoggerOptions {
  /** pino level. Default `info`. */
  level?: string;
  /** Pretty-print (pino-pretty) instead of JSON. Default: when stdout is a TTY. */
  pretty?: boolean;
  /** Where JSON lines go (a stream with `write`). Default stdout. */
  destination?: pino.DestinationStream;
}

/** Creates the gateway's root logger. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const base: LoggerOptions = {
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { name: 'switchyard' },
  };
  if (options.destination) return pino(base, options.destination);
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(base);
}

/** A logger that writes nothing; the default of every area. */
export const silentLogger: Logger = pino({ level: 'silent' });
