/**
 * Options of the Discord adapter, validated once at construction and normalized into a frozen, fully
 * defaulted object, so the rest of the adapter never re-checks them.
 */
import { InvalidOptionError } from '../../errors/index.js';
import type { ClientOptions } from 'discord.js';
import type { Logger } from '../../log/index.js';
import { silentLogger } from '../../log/index.js';
import type { DeliveryLog, IngressPort } from '../ports.js';
import type { GroupScope } from '../session-key.js';

/** What to do with messages found by catch-up after downtime: answer them, or record them as stale. */
export type CatchUpPolicy = 'answer' | 'stale';

/** A Discord channel (text channel, thread or DM channel) to catch up on, with the newest message already stored. */
export interface CatchUpChannel {
  /** The Discord channel id where messages were posted: the thread id for threads, the DM channel id for DMs. */
  channelId: string;
  /** Newest platform message id already stored for it; only newer messages are fetched. */
  afterMessageId?: string | undefined;
}

/** Catch-up after downtime (see `DiscordChannelOptions.catchUp`). */
export interface CatchUpOptions {
  /** Default `answer`. */
  policy?: CatchUpPolicy;
  /** Most messages fetched per channel. Default 50. */
  maxMessages?: number;
  /** Messages older than this are not fetched (ms). Default 6 h. */
  maxAgeMs?: number;
  /** Channels with recent sessions, typically from the store. Called at every (re)identify. */
  channels: () => Promise<CatchUpChannel[]>;
}

/** Reports of rate limits @discordjs/rest waited out, for metrics. */
export interface RateLimitInfo {
  route: string;
  method: string;
  retryAfterMs: number;
  global: boolean;
  scope: string;
}

/** A slash command to register; its optional string argument becomes the command's `args`. */
export interface SlashCommandSpec {
  name: string;
  description: string;
  /** Name of one optional free-text option (`/pin text:...`). */
  argument?: { name: string; description: string };
}

/** Options of `DiscordChannel`. */
export interface DiscordChannelOptions {
  /** Config id of the channel (`dc-main`). */
  id: string;
  /** Bot token. Never logged. */
  token: string;
  /** REST base URL (a REST proxy, or a fake in tests), e.g. `http://127.0.0.1:8080/api`. Default Discord's. */
  restApi?: string;
  ingress: IngressPort;
  deliveries: DeliveryLog;
  /** Register the slash commands on start (global bulk overwrite). Default false. */
  registerCommands?: boolean;
  /** Slash commands to register. Default `/stop`, `/stopall`, `/status`, `/help`. */
  commands?: SlashCommandSpec[];
  /** Streaming by editing a preview message. Off by default, as Discord users expect one finished message. */
  streaming?: { enabled?: boolean; editIntervalMs?: number };
  /** Typing indicator refresh (ms). Discord shows it for 10 s. Default 8000. */
  typingIntervalMs?: number;
  /** Catch-up after downtime. Off when absent. */
  catchUp?: CatchUpOptions;
  /** Session grouping in guild channels. Default `chat`. */
  groupScope?: GroupScope;
  /** Accept messages from other bots. Default false (the bot's own messages are always ignored). */
  allowBots?: boolean;
  /** Called for every 429 that @discordjs/rest waited out (a metrics counter). */
  onRateLimited?: (info: RateLimitInfo) => void;
  /**
   * Backoff (ms) while the store refuses to accept a message (`E_STORE_WRITE`: disk full, read-only file).
   * Discord never redelivers a message, so the adapter keeps it and retries; later messages of the same Discord
   * channel wait behind it to keep order. Default 100 doubling to 5000.
   */
  acceptRetry?: { initialMs?: number; maxMs?: number };
  /**
   * Extra discord.js client options: `presence`, and `ws` (e.g. `buildIdentifyThrottler`; tests use it to skip
   * Discord's 5 s wait between IDENTIFYs). Intents, partials and the REST base stay the adapter's.
   */
  clientOptions?: Pick<ClientOptions, 'presence' | 'ws'>;
  logger?: Logger;
}

/** Default slash commands: the ingress-handled controls. */
export const DEFAULT_SLASH_COMMANDS: readonly SlashCommandSpec[] = Object.freeze([
  { name: 'stop', description: 'Stop the oldest running answer in this conversation' },
  { name: 'stopall', description: 'Stop every answer and drop pending messages in this conversation' },
  { name: 'status', description: 'Show what the bot is working on in this conversation' },
  { name: 'help', description: 'Show what the bot can do' },
]);

/** Discord's message content limit. */
export const DISCORD_MAX_MESSAGE = 2000;

/** Normalized options. Internal to the adapter. */
export interface ResolvedDiscordOptions {
  readonly id: string;
  readonly token: string;
  readonly restApi: string | undefined;
  readonly ingress: IngressPort;
  readonly deliveries: DeliveryLog;
  readonly registerCommands: boolean;
  readonly commands: readonly SlashCommandSpec[];
  readonly streaming: { readonly enabled: boolean; readonly editIntervalMs: number };
  readonly typingIntervalMs: number;
  readonly catchUp: (Required<Omit<CatchUpOptions, 'channels'>> & Pick<CatchUpOptions, 'channels'>) | undefined;
  readonly groupScope: GroupScope;
  readonly allowBots: boolean;
  readonly onRateLimited: ((info: RateLimitInfo) => void) | undefined;
  readonly acceptRetry: { readonly initialMs: number; readonly maxMs: number };
  readonly clientOptions: Pick<ClientOptions, 'presence' | 'ws'>;
  readonly logger: Logger;
}

function positiveInt(name: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(name, `an integer >= ${min}`, value);
  }
  return value;
}

/** Validates and defaults the options; throws `InvalidOptionError` naming the bad option. Internal. */
export function resolveDiscordOptions(o: DiscordChannelOptions): ResolvedDiscordOptions {
  if (typeof o.id !== 'string' || o.id === '') throw new InvalidOptionError('discord.id', 'a non-empty string', o.id);
  if (typeof o.token !== 'string' || o.token.trim() === '') {
    throw new InvalidOptionError(`channels.${o.id}.token`, 'a non-empty Discord bot token', o.token === undefined ? undefined : '[redacted]');
  }
  if (o.restApi !== undefined && !/^https?:\/\/[^\s]+[^/]$/.test(o.restApi)) {
    throw new InvalidOptionError(`channels.${o.id}.restApi`, 'an http(s) URL without a trailing slash', o.restApi);
  }
  if (!o.ingress || typeof o.ingress.receive !== 'function') throw new InvalidOptionError(`channels.${o.id}.ingress`, 'an IngressPort', o.ingress);
  if (!o.deliveries || typeof o.deliveries.record !== 'function') throw new InvalidOptionError(`channels.${o.id}.deliveries`, 'a DeliveryLog', o.deliveries);
  const commands = o.commands ?? DEFAULT_SLASH_COMMANDS;
  for (const c of commands) {
    if (!/^[a-z0-9_-]{1,32}$/.test(c.name)) throw new InvalidOptionError(`channels.${o.id}.commands.name`, 'a lowercase name of 1-32 letters, digits, _ or -', c.name);
  }
  let catchUp: ResolvedDiscordOptions['catchUp'];
  if (o.catchUp !== undefined) {
    const policy = o.catchUp.policy ?? 'answer';
    if (policy !== 'answer' && policy !== 'stale') throw new InvalidOptionError(`channels.${o.id}.catchUp.policy`, '"answer" or "stale"', policy);
    if (typeof o.catchUp.channels !== 'function') throw new InvalidOptionError(`channels.${o.id}.catchUp.channels`, 'a function', o.catchUp.channels);
    catchUp = Object.freeze({
      policy,
      maxMessages: positiveInt(`channels.${o.id}.catchUp.maxMessages`, o.catchUp.maxMessages, 50),
      maxAgeMs: positiveInt(`channels.${o.id}.catchUp.maxAgeMs`, o.catchUp.maxAgeMs, 6 * 3600_000),
      channels: o.catchUp.channels,
    });
  }
  return Object.freeze({
    id: o.id,
    token: o.token,
    restApi: o.restApi,
    ingress: o.ingress,
    deliveries: o.deliveries,
    registerCommands: o.registerCommands ?? false,
    commands: Object.freeze([...commands]),
    streaming: Object.freeze({
      enabled: o.streaming?.enabled ?? false,
      editIntervalMs: positiveInt(`channels.${o.id}.streaming.editIntervalMs`, o.streaming?.editIntervalMs, 1500, 250),
    }),
    typingIntervalMs: positiveInt(`channels.${o.id}.typingIntervalMs`, o.typingIntervalMs, 8000, 1000),
    catchUp,
    groupScope: o.groupScope ?? 'chat',
    allowBots: o.allowBots ?? false,
    onRateLimited: o.onRateLimited,
    acceptRetry: Object.freeze({
      initialMs: positiveInt(`channels.${o.id}.acceptRetry.initialMs`, o.acceptRetry?.initialMs, 100),
      maxMs: positiveInt(`channels.${o.id}.acceptRetry.maxMs`, o.acceptRetry?.maxMs, 5000),
    }),
    clientOptions: o.clientOptions ?? {},
    logger: o.logger ?? silentLogger,
  });
}
