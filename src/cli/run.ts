/**
 * The `switchyard` command line: `start`, `check-config`, `backup`, `pairing list|approve`, `sessions`,
 * `stop <session>`, `help`. Parsed with `node:util` `parseArgs`; every command takes `--config <file>`
 * (default `$SWITCHYARD_CONFIG`, else `config/switchyard.yaml`). Commands that act on live state talk to the
 * running gateway's admin API (URL from the config's `http` block, or `--url`) with `http.adminToken`.
 *
 * `runCli` never calls `process.exit`: it resolves with the exit code (see `EXIT`), and all I/O goes through
 * the injected `CliIo`, so tests drive it in-process.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, DEFAULT_CONFIG_FILE, isLoopbackHost, loadConfig, type Config, type ConfigEnv } from '../config/index.js';
import { isSwitchyardError, SwitchyardError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { PairingRequest } from '../store/index.js';
import type { SessionSnapshot, StopAllResult, StopResult } from '../scheduler/index.js';
import { AdminClient } from './admin-client.js';
import { EXIT, type ExitCode } from './exit-codes.js';

/** Signals the CLI reacts to while `start` runs. */
export type CliSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP';

/** Everything the CLI touches outside itself; `processIo()` gives the real ones. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: ConfigEnv;
  /** Subscribes to a process signal; returns the unsubscribe function. */
  onSignal(signal: CliSignal, handler: () => void): () => void;
  /** Builds and starts the gateway (default: `src/gateway`, imported lazily so other commands stay light). */
  startGateway?: (config: Config, options: { env: ConfigEnv; configFile: string }) => Promise<RunningGateway>;
  /** Opens the store for `backup` (default: the gateway's `openStore`). */
  openStore?: (config: Config) => Promise<{ backup(dir: string, options?: { keep?: number }): Promise<string>; close(): Promise<void> }>;
}

/** What `start` needs of a running gateway. */
export interface RunningGateway {
  readonly url: string | undefined;
  readonly logger: Logger;
  stop(options?: { deadlineMs?: number }): Promise<unknown>;
  reload(config: Config): Promise<{ applied: string[]; needsRestart: string[] }>;
}

const USAGE = `Usage: switchyard <command> [options]

Commands:
  start                         Run the gateway (SIGTERM/SIGINT drain, SIGHUP reloads the config)
  check-config                  Validate the config file; exit 2 if it is invalid
  backup [--dir <dir>]          Take an online backup of the database now
  pairing list [--channel <id>] Pending pairing codes
  pairing approve <channel> <code>
                                Approve a pairing code: the sender may talk to the bot
  sessions                      Sessions holding work in the running gateway
  stop <session> [--all]        Stop the oldest run of a session (--all: every run, and cancel its queue)
  help                          This text

Options:
  --config <file>   Config file (default: $SWITCHYARD_CONFIG, else config/switchyard.yaml)
  --url <url>       Admin API base URL of the running gateway (default: from the config's http block)
  --json            Machine-readable output (sessions, pairing list)
  --deadline <ms>   start: how long a shutdown lets active runs finish (default 10000)

Exit codes: 0 ok, 2 invalid or unreadable config, 1 any other failure.`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  json: { type: 'boolean' },
  dir: { type: 'string' },
  channel: { type: 'string' },
  all: { type: 'boolean' },
  deadline: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

class UsageError extends SwitchyardError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** The config file to use: `--config`, else `SWITCHYARD_CONFIG`, else the shipped default. */
export function configFileOf(values: { config?: string | undefined }, env: ConfigEnv): string {
  return values.config ?? (env.SWITCHYARD_CONFIG || DEFAULT_CONFIG_FILE);
}

/** Base URL of the gateway's HTTP server as the config describes it (a wildcard bind is reached on loopback). */
export function adminUrlOf(config: Config): string {
  const { host, port } = config.http;
  const reach = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  const shown = reach.includes(':') && !reach.startsWith('[') ? `[${reach}]` : reach;
  return `http://${shown}:${port}`;
}

/** Runs one command line. Resolves with the exit code; never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    io.stderr(`switchyard: ${(err as Error).message}\n\n${USAGE}\n`);
    return EXIT.failure;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    (command === undefined && !values.help ? io.stderr : io.stdout)(`${USAGE}\n`);
    return command === undefined && !values.help ? EXIT.failure : EXIT.ok;
  }
  try {
    switch (command) {
      case 'start':
        return await start(values, io);
      case 'check-config':
        return checkConfig(values, io);
      case 'backup':
        return await backup(values, io);
      case 'pairing':
        return await pairing(rest, values, io);
      case 'sessions':
        return await sessions(values, io);
      case 'stop':
        return await stop(rest, values, io);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    return report(err, io);
  }
}

function report(err: unknown, io: CliIo): ExitCode {
  if (err instanceof ConfigError) {
    io.stderr(`${err.message}\n`);
    return EXIT.badConfig;
  }
  if (err instanceof UsageError) {
    io.stderr(`switchyard: ${err.message}\n\n${USAGE}\n`);
    return EXIT.failure;
  }
  if (isSwitchyardError(err)) {
    io.stderr(`switchyard: ${err.message}\n  (${err.code}) ${err.hint}\n`);
    return EXIT.failure;
  }
  io.stderr(`switchyard: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.failure;
}

function load(values: Values, io: CliIo): { config: Config; file: string } {
  const file = configFileOf(values, io.env);
  return { config: loadConfig(file, io.env), file };
}

function checkConfig(values: Values, io: CliIo): ExitCode {
  const { config, file } = load(values, io);
  const channels = config.channels.map((c) => `${c.id} (${c.type}, agent ${c.agent}, lane ${c.lane})`).join(', ') || 'none';
  const agents = Object.entries(config.agents)
    .map(([name, a]) => `${name} (${a.provider.model} at ${a.provider.baseUrl})`)
    .join(', ');
  const lanes = Object.entries(config.lanes)
    .map(([name, l]) => `${name}=${l.concurrency}`)
    .join(' ');
  const warnings: string[] = [];
  if (!config.http.adminToken) {
    warnings.push(
      isLoopbackHost(config.http.host)
        ? 'http.adminToken is not set: the admin API and dashboard are open to anyone on this machine'
        : 'http.adminToken is not set',
    );
  }
  io.stdout(
    [
      `${file}: ok`,
      `  channels: ${channels}`,
      `  agents:   ${agents || 'none'}`,
      `  lanes:    ${lanes}`,
      `  store:    ${config.store.path}`,
      `  http:     ${adminUrlOf(config)}`,
      ...warnings.map((w) => `  warning:  ${w}`),
      '',
    ].join('\n'),
  );
  return EXIT.ok;
}

function adminClient(values: Values, io: CliIo): AdminClient {
  const { config } = load(values, io);
  return new AdminClient({ baseUrl: values.url ?? adminUrlOf(config), token: config.http.adminToken ?? io.env.SWITCHYARD_ADMIN_TOKEN });
}

async function sessions(values: Values, io: CliIo): Promise<ExitCode> {
  const { sessions: list } = await adminClient(values, io).request<{ sessions: SessionSnapshot[] }>('GET', '/sessions');
  if (values.json) {
    io.stdout(`${JSON.stringify(list, null, 2)}\n`);
    return EXIT.ok;
  }
  if (list.length === 0) {
    io.stdout('No session holds work right now.\n');
    return EXIT.ok;
  }
  const rows = list.map((s) => [s.key, s.mode, s.lane, `${s.active.length}/${s.effectiveMaxConcurrent}`, String(s.pending), s.active.map((a) => a.state).join(',') || 'idle']);
  io.stdout(table(['SESSION', 'MODE', 'LANE', 'ACTIVE', 'PENDING', 'STATE'], rows));
  return EXIT.ok;
}

async function stop(rest: string[], values: Values, io: CliIo): Promise<ExitCode> {
  const [key, ...extra] = rest;
  if (key === undefined || extra.length) throw new UsageError('stop takes one session key, e.g. switchyard stop "tg-main:dm:12345"');
  const client = adminClient(values, io);
  const path = `/sessions/${encodeURIComponent(key)}/${values.all ? 'stopall' : 'stop'}`;
  if (values.all) {
    const r = await client.request<StopAllResult>('POST', path);
    io.stdout(`Stopped ${key}: ${r.aborted.length} run(s) aborted, ${r.cancelled.length} pending message(s) cancelled; older messages will be ignored.\n`);
  } else {
    const r = await client.request<StopResult>('POST', path);
    io.stdout(
      r.stopped
        ? `Stopped run ${r.stopped.runId} of ${key} (${r.stopped.messageIds.length} message(s)); its queue continues.\n`
        : r.cancelled.length
          ? `No run was active in ${key}; cancelled ${r.cancelled.length} pending message(s).\n`
          : `Nothing to stop in ${key}.\n`,
    );
  }
  return EXIT.ok;
}

async function pairing(rest: string[], values: Values, io: CliIo): Promise<ExitCode> {
  const [sub, ...args] = rest;
  const client = adminClient(values, io);
  if (sub === 'list' && args.length === 0) {
    const query = values.channel ? `?channel=${encodeURIComponent(values.channel)}` : '';
    const { requests } = await client.request<{ requests: PairingRequest[] }>('GET', `/pairing${query}`);
    if (values.json) io.stdout(`${JSON.stringify(requests, null, 2)}\n`);
    else if (requests.length === 0) io.stdout('No pending pairing requests.\n');
    else {
      const now = Date.now();
      io.stdout(
        table(
          ['CHANNEL', 'CODE', 'SENDER', 'NAME', 'EXPIRES IN'],
          requests.map((r) => [r.channelId, r.code, r.senderId, r.senderName, `${Math.max(0, Math.round((r.expiresAt - now) / 60_000))} min`]),
        ),
      );
    }
    return EXIT.ok;
  }
  if (sub === 'approve' && args.length === 2) {
    const [channel, code] = args as [string, string];
    const { approved } = await client.request<{ approved: PairingRequest }>('POST', '/pairing/approve', { channel, code });
    io.stdout(`Approved ${approved.senderName} (${approved.senderId}) on ${approved.channelId}.\n`);
    return EXIT.ok;
  }
  throw new UsageError('use `switchyard pairing list [--channel <id>]` or `switchyard pairing approve <channel> <code>`');
}

async function backup(values: Values, io: CliIo): Promise<ExitCode> {
  const { config } = load(values, io);
  const openStore = io.openStore ?? (async (c: Config) => (await import('../gateway/index.js')).openStore(c));
  const store = await openStore(config);
  try {
    const file = await store.backup(values.dir ?? config.store.backup.dir, { keep: Math.max(1, config.store.backup.keep) });
    io.stdout(`Backup written: ${file}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

async function start(values: Values, io: CliIo): Promise<ExitCode> {
  const { config, file } = load(values, io);
  const deadlineMs = values.deadline === undefined ? 10_000 : Number(values.deadline);
  if (!Number.isInteger(deadlineMs) || deadlineMs < 0) throw new UsageError(`--deadline must be a whole number of milliseconds, got "${values.deadline}"`);
  const startGateway =
    io.startGateway ?? (async (c: Config, o: { env: ConfigEnv; configFile: string }) => (await import('../gateway/index.js')).startGateway(c, o));
  const gateway = await startGateway(config, { env: io.env, configFile: file });
  const log = gateway.logger;
  if (gateway.url) io.stdout(`Switchyard is running: chat ${gateway.url}/  dashboard ${gateway.url}/dashboard\n`);

  return new Promise<ExitCode>((resolve) => {
    let stopping = false;
    let reloading = Promise.resolve();
    const offs: Array<() => void> = [];
    const shutdown = (signal: CliSignal) => {
      if (stopping) {
        // A second SIGINT / SIGTERM means "now": skip the drain. Accepted messages are in the store already.
        log.warn({ signal }, 'second signal: exiting without waiting for the drain');
        for (const off of offs) off();
        resolve(EXIT.failure);
        return;
      }
      stopping = true;
      log.info({ signal, deadlineMs }, 'shutting down: draining');
      gateway.stop({ deadlineMs }).then(
        () => {
          for (const off of offs) off();
          resolve(EXIT.ok);
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          for (const off of offs) off();
          resolve(EXIT.failure);
        },
      );
    };
    const reload = () => {
      reloading = reloading.then(async () => {
        try {
          const next = loadConfig(file, io.env);
          const result = await gateway.reload(next);
          log.info(result, 'config reloaded');
        } catch (err) {
          // A bad file on SIGHUP must not take a running gateway down: keep the old config.
          log.error({ err: err instanceof ConfigError ? { code: err.code, message: err.message } : err }, 'config reload failed; keeping the running config');
        }
      });
    };
    offs.push(io.onSignal('SIGTERM', () => shutdown('SIGTERM')));
    offs.push(io.onSignal('SIGINT', () => shutdown('SIGINT')));
    offs.push(io.onSignal('SIGHUP', reload));
  });
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}
