/**
 * The gateway's root logger: pino JSON (pretty in a TTY when pino-pretty is installed), with every configured
 * secret scrubbed from every line by value. Field-path redaction (src/log) catches `token`, `apiKey`, ... by
 * name; scrubbing by value also catches a secret that lands in a message, a URL or an error text.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream } from 'pino';
import { REDACT_PATHS, type Logger } from '../log/index.js';

/** Options of `createGatewayLogger`. */
export interface GatewayLoggerOptions {
  /** pino level. Default `info`. */
  level?: string;
  /** Human-readable lines. Default: when stdout is a TTY (and pino-pretty is installed). */
  pretty?: boolean | undefined;
  /** Values that must never appear in a log line. Live: values added later are scrubbed from then on. */
  secrets: ReadonlySet<string>;
  /** Where lines go. Default stdout. */
  destination?: { write(line: string): unknown };
}

const CENSOR = '[redacted]';

/** Replaces every occurrence of each secret (raw and JSON-escaped) with `[redacted]`. Internal, exported for tests. */
export function scrub(line: string, secrets: ReadonlySet<string>): string {
  let out = line;
  for (const secret of secrets) {
    if (secret.length < 4) continue; // too short to scrub without mangling ordinary text
    out = out.split(secret).join(CENSOR);
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret) out = out.split(escaped).join(CENSOR);
  }
  return out;
}

function prettyStream(): DestinationStream | undefined {
  try {
    // pino-pretty is a dev dependency: present in a checkout, absent in the production image (JSON there).
    const build = createRequire(import.meta.url)('pino-pretty') as (o: object) => DestinationStream;
    return build({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name' });
  } catch {
    return undefined;
  }
}

/** Creates the gateway's logger. */
export function createGatewayLogger(options: GatewayLoggerOptions): Logger {
  const wantPretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const sink: { write(line: string): unknown } = options.destination ?? (wantPretty ? (prettyStream() ?? process.stdout) : process.stdout);
  const secrets = options.secrets;
  const destination: DestinationStream = { write: (line: string) => void sink.write(scrub(line, secrets)) };
  return pino(
    {
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      base: { name: 'switchyard' },
    },
    destination,
  );
}
