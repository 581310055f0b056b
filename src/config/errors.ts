/**
 * Errors of config loading. One `ConfigError` carries every problem found in the file (not just the first),
 * each with the YAML path, line and column, so a user fixes the whole file in one pass.
 */
import { SwitchyardError, type ErrorCode } from '../errors/index.js';

/** One thing wrong with the config file. */
export interface ConfigProblem {
  /** The file it is in. */
  file: string;
  /** Dotted config path (`channels[0].token`); empty for the whole document. */
  path: string;
  /** 1-based line, when the problem has a place in the file. */
  line?: number | undefined;
  /** 1-based column, when known. */
  column?: number | undefined;
  /** What is wrong. */
  message: string;
  /** How to fix it, when there is more to say than the catalog hint. */
  hint?: string | undefined;
}

/** The config codes this area raises. */
export type ConfigErrorCode = Extract<ErrorCode, 'E_CONFIG_INVALID' | 'E_CONFIG_READ' | 'E_CONFIG_ENV'>;

/** `file:line:col path: message (hint)`: the one-line form of a problem, as printed by `check-config`. */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}${p.column === undefined ? '' : `:${p.column}`}`;
  const path = p.path ? ` ${p.path}:` : '';
  return `${where}${path} ${p.message}${p.hint ? ` (${p.hint})` : ''}`;
}

/**
 * The config file could not be read, parsed or validated. `problems` lists each place to fix; the message
 * lists them too, one per line, so a log line or a CLI error is enough to act on.
 */
export class ConfigError extends SwitchyardError {
  /** Every problem found, in file order where known. */
  readonly problems: readonly ConfigProblem[];
  /** The config file. */
  readonly file: string;

  constructor(code: ConfigErrorCode, file: string, problems: ConfigProblem[], options: { cause?: unknown } = {}) {
    const sorted = [...problems].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    const head =
      code === 'E_CONFIG_READ'
        ? `Cannot read config file ${file}`
        : code === 'E_CONFIG_ENV'
          ? `Config file ${file} uses environment variables that are not set`
          : `Config file ${file} is invalid (${sorted.length} problem${sorted.length === 1 ? '' : 's'})`;
    super(code, [head, ...sorted.map((p) => `  - ${formatProblem(p)}`)].join('\n'), {
      cause: options.cause,
      context: { file, problems: sorted.map((p) => ({ path: p.path, line: p.line, message: p.message })) },
    });
    this.problems = sorted;
    this.file = file;
  }
}
