/**
 * Options of `TelegramChannel`: plain TypeScript (the config area maps YAML onto them), validated once at
 * construction with messages that say how to fix the value, then normalized into a fully-defaulted, frozen
 * object. The token never appears in an error message or log line.
 */
import type { UserFromGetMe } from 'grammy/types';
import { InvalidOptionError } from '../../errors/index.js';
import { silentLogger, type Logger } from '../../log/index.js';
import type { DeliveryLog, IngressPort } from '../ports.js';
import type { GroupScope } from '../session-key.js';
import { leanFetch, type LeanFetch } from './lean-fetch.js';
import type { TelegramPacing } from './sender.js';
import type { RateLimitInfo } from './transport.js';

/** Options of `TelegramChannel`. */
export interface TelegramChannelOptions {
  /** Config id of the channel (`tg-main`); prefixes message ids and session keys. */
  id: string;
  /** Bot token from @BotFather (`123456:ABC-...`). */
  token: string;
  /** Bot API server, no trailing slash. Default `https://api.telegram.org` (or a self-hosted `telegram-bot-api`). */
  apiRoot?: string;
  /** Where inbound messages go. */
  ingress: IngressPort;
  /** Delivery records: chunks already accepted by Telegram are never resent. */
  deliveries: DeliveryLog;
  /** `polling` (getUpdates) or `webhook` (the HTTP server calls `webhookHandler`). */
  mode: 'polling' | 'webhook';
  /** Webhook settings; required in webhook mode. */
  webhook?: {
    /** Sent by Telegram in `X-Telegram-Bot-Api-Secret-Token`; requests without it get 401. 1–256 of `A-Za-z0-9_-`. */
    secretToken: string;
    /** Path the HTTP server routes to `webhookHandler` (`/telegram/tg-main`). */
    path: string;
    /** Public URL to register with `setWebhook` on start; omit when it is registered out of band. */
    url?: string;
    /** How long an update may take to be accepted before the request fails with 500 (Telegram redelivers). Default 10 000. */
    timeoutMs?: number;
    /**
     * `max_connections` registered with `setWebhook`. Default 1: Telegram then delivers one update at a time,
     * in order, so two quick messages of one user cannot overtake each other on the way to ingress. Raise it
     * for throughput when per-chat order matters less (ingress takes milliseconds per update).
     */
    maxConnections?: number;
  };
  /** Group sessions per chat (default) or per sender in a chat. */
  groupScope?: GroupScope;
  /**
   * Preview streaming. Default enabled, 1000 ms between edits in DMs, 3000 ms in groups. `drafts`: in private
   * chats stream with `sendMessageDraft` (Bot API 9.3+) instead of an edited preview message; default false
   * (self-hosted servers may predate it; when refused, the channel falls back to edits by itself).
   */
  streaming?: { enabled?: boolean; editIntervalMs?: number; groupEditIntervalMs?: number; minInitialChars?: number; drafts?: boolean };
  /** Typing indicator renewal (ms). Default 4000 (Telegram shows it for ~5 s). */
  typingIntervalMs?: number;
  /**
   * Wait before the first typing indicator (ms). Default 1000: a reply that arrives sooner needs none, and most
   * replies of a busy bot would otherwise cost a second Bot API call each. 0 = at once.
   */
  typingDelayMs?: number;
  /**
   * The `fetch` grammY uses for Bot API calls. Default `leanFetch()` (a minimal HTTP/1.1 client on kept-alive
   * connections for the JSON calls; node:http cost ~3x its client CPU per call, node-fetch and the built-in fetch
   * more). The hot JSON methods call it directly (`directJsonCalls`), the others through grammY's request code.
   */
  fetch?: LeanFetch | undefined;
  /** Pacing. Default 1000 ms between messages in a chat, 20 per minute in a group, 30 per second bot-wide. */
  pacing?: Partial<TelegramPacing>;
  /** Long polling. Default timeout 25 s; backoff 1 s doubling to 60 s on conflicts and failures. */
  polling?: { timeoutSeconds?: number; backoffInitialMs?: number; backoffMaxMs?: number };
  /** 429 handling: longest `retry_after` honoured (longer fails the send) and retries per call. Default 60 s, 5. */
  retry?: { maxRetryAfterSeconds?: number; maxRetries?: number };
  /** Called once if the channel stops for good while running (the token was revoked: 401), e.g. for readiness. */
  onFatal?: (err: Error) => void;
  /** Called on every 429 Telegram answers (before the retry), e.g. to count it in metrics. */
  onRateLimited?: (info: RateLimitInfo) => void;
  /** The bot's own user; when given, no `getMe` call is made on start. */
  botInfo?: UserFromGetMe;
  logger?: Logger;
  /** Clock (ms) for `receivedAt`. Default `Date.now`. */
  now?: () => number;
}

/** Options after validation and defaults. Internal. */
export interface ResolvedTelegramOptions {
  readonly id: string;
  readonly token: string;
  readonly apiRoot: string;
  readonly ingress: IngressPort;
  readonly deliveries: DeliveryLog;
  readonly mode: 'polling' | 'webhook';
  readonly webhook: { secretToken: string; path: string; url?: string | undefined; timeoutMs: number; maxConnections: number } | undefined;
  readonly groupScope: GroupScope;
  readonly streaming: { enabled: boolean; editIntervalMs: number; groupEditIntervalMs: number; minInitialChars: number; drafts: boolean };
  readonly typingIntervalMs: number;
  readonly typingDelayMs: number;
  readonly fetch: LeanFetch;
  readonly pacing: TelegramPacing;
  readonly polling: { timeoutSeconds: number; backoffInitialMs: number; backoffMaxMs: number };
  readonly retry: { maxRetryAfterSeconds: number; maxRetries: number };
  readonly onRateLimited: ((info: RateLimitInfo) => void) | undefined;
  readonly onFatal: ((err: Error) => void) | undefined;
  readonly botInfo: UserFromGetMe | undefined;
  readonly logger: Logger;
  readonly now: () => number;
}

function nonNegative(name: string, value: number | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new InvalidOptionError(name, integer ? 'an integer >= 0' : 'a finite number >= 0', value);
  }
  return value;
}

/** Validates and normalizes the options. */
export function resolveTelegramOptions(o: TelegramChannelOptions): ResolvedTelegramOptions {
  if (typeof o.id !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(o.id)) {
    throw new InvalidOptionError('id', 'a non-empty channel id of letters, digits, `_`, `.` or `-`', o.id);
  }
  if (typeof o.token !== 'string' || !/^\d+:[A-Za-z0-9_-]+$/.test(o.token)) {
    // Never echo the value: it may be a real token with a typo.
    throw new InvalidOptionError('token', 'a Telegram bot token of the form `123456789:AA...` (from @BotFather)', '[redacted]');
  }
  const apiRoot = (o.apiRoot ?? 'https://api.telegram.org').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(apiRoot)) throw new InvalidOptionError('apiRoot', 'an http(s) URL', o.apiRoot);
  if (o.mode !== 'polling' && o.mode !== 'webhook') throw new InvalidOptionError('mode', '`polling` or `webhook`', o.mode);
  let webhook: ResolvedTelegramOptions['webhook'];
  if (o.mode === 'webhook') {
    if (o.webhook === undefined) throw new InvalidOptionError('webhook', 'an object with secretToken and path in webhook mode', o.webhook);
    if (typeof o.webhook.secretToken !== 'string' || !/^[A-Za-z0-9_-]{1,256}$/.test(o.webhook.secretToken)) {
      throw new InvalidOptionError('webhook.secretToken', '1–256 characters of A-Za-z0-9_-', '[redacted]');
    }
    if (typeof o.webhook.path !== 'string' || !o.webhook.path.startsWith('/')) {
      throw new InvalidOptionError('webhook.path', 'a path starting with `/`', o.webhook.path);
    }
    if (o.webhook.url !== undefined && !/^https?:\/\//.test(o.webhook.url)) {
      throw new InvalidOptionError('webhook.url', 'an https URL Telegram can reach', o.webhook.url);
    }
    webhook = {
      secretToken: o.webhook.secretToken,
      path: o.webhook.path,
      url: o.webhook.url,
      timeoutMs: nonNegative('webhook.timeoutMs', o.webhook.timeoutMs, 10_000),
      maxConnections: nonNegative('webhook.maxConnections', o.webhook.maxConnections, 1, true),
    };
    if (webhook.maxConnections < 1 || webhook.maxConnections > 100) {
      throw new InvalidOptionError('webhook.maxConnections', 'an integer from 1 to 100', webhook.maxConnections);
    }
  }
  if (o.groupScope !== undefined && o.groupScope !== 'chat' && o.groupScope !== 'sender') {
    throw new InvalidOptionError('groupScope', '`chat` or `sender`', o.groupScope);
  }
  const typingIntervalMs = nonNegative('typingIntervalMs', o.typingIntervalMs, 4000);
  if (typingIntervalMs === 0) throw new InvalidOptionError('typingIntervalMs', 'a number > 0', typingIntervalMs);
  const groupPerMinute = nonNegative('pacing.groupPerMinute', o.pacing?.groupPerMinute, 20, true);
  if (groupPerMinute === 0) throw new InvalidOptionError('pacing.groupPerMinute', 'an integer >= 1', groupPerMinute);
  const globalPerSecond = nonNegative('pacing.globalPerSecond', o.pacing?.globalPerSecond, 30, true);
  if (globalPerSecond === 0) throw new InvalidOptionError('pacing.globalPerSecond', 'an integer >= 1', globalPerSecond);
  return Object.freeze({
    id: o.id,
    token: o.token,
    apiRoot,
    ingress: o.ingress,
    deliveries: o.deliveries,
    mode: o.mode,
    webhook,
    groupScope: o.groupScope ?? 'chat',
    streaming: {
      enabled: o.streaming?.enabled ?? true,
      editIntervalMs: nonNegative('streaming.editIntervalMs', o.streaming?.editIntervalMs, 1000),
      groupEditIntervalMs: nonNegative('streaming.groupEditIntervalMs', o.streaming?.groupEditIntervalMs, 3000),
      minInitialChars: nonNegative('streaming.minInitialChars', o.streaming?.minInitialChars, 40, true),
      drafts: o.streaming?.drafts ?? false,
    },
    typingIntervalMs,
    typingDelayMs: nonNegative('typingDelayMs', o.typingDelayMs, 1000),
    fetch: o.fetch ?? leanFetch(),
    pacing: {
      chatIntervalMs: nonNegative('pacing.chatIntervalMs', o.pacing?.chatIntervalMs, 1000),
      groupPerMinute,
      globalPerSecond,
    },
    polling: {
      timeoutSeconds: nonNegative('polling.timeoutSeconds', o.polling?.timeoutSeconds, 25, true),
      backoffInitialMs: nonNegative('polling.backoffInitialMs', o.polling?.backoffInitialMs, 1000),
      backoffMaxMs: nonNegative('polling.backoffMaxMs', o.polling?.backoffMaxMs, 60_000),
    },
    retry: {
      maxRetryAfterSeconds: nonNegative('retry.maxRetryAfterSeconds', o.retry?.maxRetryAfterSeconds, 60),
      maxRetries: nonNegative('retry.maxRetries', o.retry?.maxRetries, 5, true),
    },
    onRateLimited: o.onRateLimited,
    onFatal: o.onFatal,
    botInfo: o.botInfo,
    logger: o.logger ?? silentLogger,
    now: o.now ?? Date.now,
  });
}
