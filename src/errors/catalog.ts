/**
 * The one catalog of Switchyard error codes. Every `SwitchyardError` carries one of these codes; callers
 * match on `code`, never on message text. Each code is declared once here with a default message and a hint
 * that tells an operator how to fix it; `docs/ERRORS.md` documents every code and a test keeps the two in sync.
 *
 * Add a code in the section of the area that raises it.
 */
export interface ErrorSpec {
  /** Default human message (a site may give a more specific one). */
  readonly message: string;
  /** What to do about it. */
  readonly hint: string;
}

export const ERROR_CATALOG = {
  // ── core / options ────────────────────────────────────────────────────────────────────────────────
  E_INVALID_OPTION: {
    message: 'An option has an invalid value',
    hint: 'Check the option named in the error against the configuration reference.',
  },
  E_INTERNAL: {
    message: 'An internal invariant was broken',
    hint: 'This is a bug in Switchyard: please report it with the log line.',
  },

  // ── scheduler ─────────────────────────────────────────────────────────────────────────────────────
  E_QUEUE_FULL: {
    message: 'The session queue is full and its drop policy rejected the message',
    hint: 'Raise queue.cap or choose drop: old / summarize for this channel.',
  },
  E_STALE: {
    message: 'The message was sent before the session was stopped with /stopall',
    hint: 'Send the message again; messages sent after /stopall are answered.',
  },
  E_DRAINING: {
    message: 'The gateway is shutting down and accepts no new work',
    hint: 'Retry after the gateway has restarted.',
  },
  E_RUN_TIMEOUT: {
    message: 'The run took longer than its timeout and was aborted',
    hint: 'Raise the run timeout or use a faster model.',
  },
  E_RUN_ABORTED: {
    message: 'The run was aborted',
    hint: 'The run was stopped by /stop, /stopall, an interrupt or a shutdown.',
  },
  E_RUN_FAILED: {
    message: 'The run failed',
    hint: 'See the cause in the log line.',
  },
  E_UNKNOWN_LANE: {
    message: 'No lane has that name',
    hint: 'Declare the lane under `lanes:` in the config, or use one of main, subagent, background.',
  },

  // ── store ─────────────────────────────────────────────────────────────────────────────────────────
  E_STORE_OPEN: {
    message: 'The database file could not be opened',
    hint: 'Check that the file exists, is readable and writable by this user, and is a Switchyard database.',
  },
  E_STORE_NOT_DATABASE: {
    message: 'The file is not a SQLite database',
    hint: 'Point store.path at a Switchyard database, or move the file away to start with a new one.',
  },
  E_STORE_SCHEMA_TOO_NEW: {
    message: 'The database was written by a newer Switchyard',
    hint: 'Upgrade Switchyard, or restore a backup taken by this version.',
  },
  E_STORE_WRITE: {
    message: 'The database refused a write',
    hint: 'Check free disk space and that the database file and its folder are writable.',
  },
  E_STORE_CLOSED: {
    message: 'The store is closed',
    hint: 'This happens during shutdown; retry after restart.',
  },
  E_BACKUP_FAILED: {
    message: 'The backup could not be written',
    hint: 'Check that the backup folder exists and is writable, and that the disk has room.',
  },

  // ── agent / provider ──────────────────────────────────────────────────────────────────────────────
  E_PROVIDER_CONNECTION: {
    message: 'The model server could not be reached',
    hint: 'Check agents.<name>.provider.baseUrl and that the model server is running.',
  },
  E_PROVIDER_HTTP: {
    message: 'The model server answered with an error',
    hint: 'See the status and body in the error; check the model name and API key.',
  },
  E_PROVIDER_AUTH: {
    message: 'The model server rejected the API key',
    hint: 'Check agents.<name>.provider.apiKey (or the environment variable it names).',
  },
  E_PROVIDER_RATE_LIMITED: {
    message: 'The model server kept answering 429 (rate limited)',
    hint: 'Lower the lane size for this agent or raise the provider quota.',
  },
  E_PROVIDER_TIMEOUT: {
    message: 'The model server did not answer in time',
    hint: 'Raise agents.<name>.provider.timeoutMs or use a faster model.',
  },
  E_PROVIDER_BAD_RESPONSE: {
    message: 'The model server sent a response that is not valid Chat Completions',
    hint: 'Check that baseUrl points at an OpenAI-compatible /v1 endpoint.',
  },
  E_CONTEXT_OVERFLOW: {
    message: 'The conversation no longer fits the model context window',
    hint: 'Compaction runs automatically; lower contextWindow if the model is smaller than configured.',
  },
  E_COMPACTION_FAILED: {
    message: 'Context compaction failed',
    hint: 'It is retried under its quota; see the cause in the log line.',
  },
  E_QUOTA_EXCEEDED: {
    message: 'A background job exceeded its quota',
    hint: 'The job waits for its cooldown or has used all its attempts.',
  },

  // ── channels ──────────────────────────────────────────────────────────────────────────────────────
  E_CHANNEL_AUTH: {
    message: 'The platform rejected the bot token',
    hint: 'Check the channel token (or the environment variable it names).',
  },
  E_CHANNEL_CONFLICT: {
    message: 'Another process is consuming updates for this bot token',
    hint: 'Stop the other instance (only one getUpdates consumer per token), or switch to webhook ingress.',
  },
  E_CHANNEL_SEND: {
    message: 'The platform refused to deliver a message',
    hint: 'See the platform error in the log line.',
  },
  E_CHANNEL_MALFORMED: {
    message: 'The platform sent an update that could not be understood',
    hint: 'The update is ignored; report it if it should have been handled.',
  },
  E_MESSAGE_TOO_LARGE: {
    message: 'The message is larger than the gateway accepts',
    hint: 'Send a shorter message.',
  },
  E_ACCESS_DENIED: {
    message: 'The sender is not allowed to use this bot or command',
    hint: 'Add the sender to access.allowFrom or access.admins, or approve their pairing code.',
  },
  E_PAIRING_INVALID: {
    message: 'The pairing code is unknown or has expired',
    hint: 'Ask the user to message the bot again for a new code.',
  },

  // ── config / gateway ──────────────────────────────────────────────────────────────────────────────
  E_CONFIG_INVALID: {
    message: 'The configuration file is invalid',
    hint: 'Fix the value at the path and line named; run `switchyard check-config` to validate.',
  },
  E_CONFIG_READ: {
    message: 'The configuration file could not be read',
    hint: 'Check the path given with --config or SWITCHYARD_CONFIG.',
  },
  E_CONFIG_ENV: {
    message: 'The configuration names an environment variable that is not set',
    hint: 'Set the variable, or give a default with ${VAR:-default}.',
  },
  E_GATEWAY_UNREACHABLE: {
    message: 'The running gateway could not be reached over HTTP',
    hint: 'Start it with `switchyard start`, or pass --url / the same --config the gateway runs with.',
  },
  E_USAGE: {
    message: 'The command line is not valid',
    hint: 'Run `switchyard help` for the commands and their options.',
  },
  E_HTTP_UNSAFE_BIND: {
    message: 'Refusing to listen on a non-loopback address without an admin token',
    hint: 'Set http.adminToken (e.g. from SWITCHYARD_ADMIN_TOKEN) or bind to 127.0.0.1.',
  },
  E_UNAUTHORIZED: {
    message: 'Missing or wrong bearer token',
    hint: 'Send Authorization: Bearer <http.adminToken>.',
  },
  E_NOT_FOUND: {
    message: 'No such resource',
    hint: 'Check the id in the request.',
  },

  // ── http / webchat ────────────────────────────────────────────────────────────────────────────────
  E_HTTP_BAD_REQUEST: {
    message: 'The request is malformed',
    hint: 'Check the body and parameters against the admin API reference (docs/HTTP.md).',
  },
  E_WEBCHAT_PROTOCOL: {
    message: 'The webchat client sent a frame the gateway does not understand',
    hint: 'Reload the chat page; a client must send {"type":"hello"} first, then messages or commands.',
  },
} as const satisfies Record<string, ErrorSpec>;

/** Every stable error code Switchyard raises. */
export type ErrorCode = keyof typeof ERROR_CATALOG;
