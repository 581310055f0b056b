/**
 * The `channels:` section of the config: one block per platform connection, discriminated on `type`. The
 * blocks share the queue, access and webhook settings; platform defaults differ where users expect them to
 * (DMs are closed to strangers on Telegram and Discord, open on the local webchat).
 *
 * Invariant: no schema here transforms its input, so `z.toJSONSchema(..., { io: 'input' })` can describe every
 * key for docs/CONFIG.md. Normalization happens once, on the whole file, in `normalize.ts`.
 */
import { z } from 'zod';

/** Channel platforms the config accepts. */
export const CHANNEL_TYPES = ['telegram', 'discord', 'webchat'] as const;
/** A channel platform. */
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** Queue modes, as in the scheduler. */
export const QUEUE_MODES = ['queue', 'followup', 'interrupt'] as const;
/** Drop policies of a full session queue. */
export const DROP_POLICIES = ['old', 'new', 'summarize'] as const;
/** DM access policies. */
export const DM_POLICIES = ['open', 'allowlist', 'pairing'] as const;
/** Group access policies. */
export const GROUP_POLICIES = ['open', 'allowlist', 'disabled'] as const;

/** Channel ids end up in session keys (`<id>:dm:<sender>`), so they may not contain `:`. */
const channelId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be letters, digits, "_" or "-" (no ":"), at most 64 characters')
  .describe('Unique id of the channel; part of every session key and message id.');

/** An optional secret: a `${VAR:-}` that expands to nothing leaves it unset (normalized later). */
const optionalSecret = (description: string) => z.string().nullish().describe(description);

/** Platform user / chat / role ids are strings; numbers written unquoted in YAML are accepted too. */
const idList = (description: string) =>
  z
    .array(z.union([z.string(), z.number().int()]))
    .default([])
    .describe(`${description} Empty entries (an unset \`\${VAR:-}\`) are ignored.`);

const maxConcurrentSchema = z
  .strictObject({
    dm: z.number().int().min(1).default(1).describe('Runs at once per DM session.'),
    group: z.number().int().min(1).default(3).describe('Runs at once per group session.'),
  })
  .prefault({})
  .describe('Concurrent runs per session (the adaptive throttle lowers it to 1 near the context limit).');

function queueSchema(defaults: { debounceMs: number }) {
  return z
    .strictObject({
      mode: z.enum(QUEUE_MODES).default('followup').describe('How messages arriving during a run are handled.'),
      cap: z.number().int().min(1).default(10).describe('Most pending (not yet running) messages per session.'),
      drop: z.enum(DROP_POLICIES).default('summarize').describe('What a full queue drops; the sender is told.'),
      debounceMs: z
        .number()
        .int()
        .min(0)
        .default(defaults.debounceMs)
        .describe('Messages of one sender within this many ms of each other become one turn; 0 turns it off.'),
      maxConcurrent: maxConcurrentSchema,
      runTimeoutMs: z.number().int().min(1000).default(600_000).describe('A run taking longer is aborted.'),
      throttleRatio: z
        .number()
        .gt(0)
        .max(1)
        .default(0.6)
        .describe('Context fill (0..1] at which a session drops to one run at a time.'),
      groupScope: z.enum(['chat', 'sender']).default('chat').describe('One session per group chat, or per sender in it.'),
    })
    .prefault({})
    .describe('The per-session queue.');
}

function accessSchema(defaults: { dm: (typeof DM_POLICIES)[number] }) {
  return z
    .strictObject({
      dm: z.enum(DM_POLICIES).default(defaults.dm).describe('Who may talk to the bot in DMs: everyone, `allowFrom` only, or `allowFrom` plus senders an admin paired.'),
      allowFrom: idList('User ids always allowed in DMs (the allowlist; also honoured under `pairing`).'),
      pairing: z
        .strictObject({
          codeTtlMs: z.number().int().min(60_000).default(3_600_000).describe('How long a pairing code stays valid.'),
          maxPending: z
            .number()
            .int()
            .min(1)
            .default(3)
            .describe('Most unexpired codes per channel; further strangers are refused until one is approved or expires.'),
        })
        .prefault({})
        .describe('One-time codes for `dm: pairing`.'),
      groups: z.enum(GROUP_POLICIES).default('open').describe('Which groups the bot answers in: any, `groupAllow` only, or none.'),
      groupAllow: idList('Group chat ids, Discord guild ids or channel ids allowed under `groups: allowlist`.'),
      requireMention: z
        .boolean()
        .default(true)
        .describe('In groups, answer only a mention, a reply to the bot or a command.'),
      admins: idList('User ids with admin rights (/stopall in groups, /approve).'),
      adminRoles: idList('Discord role ids whose members are admins.'),
    })
    .prefault({})
    .describe('Access control.');
}

const webhooksSchema = z
  .strictObject({
    url: z.url().describe('Where run-state changes are POSTed as JSON.'),
    secret: optionalSecret('HMAC-SHA256 key signing each POST (header X-Switchyard-Signature).'),
  })
  .optional()
  .describe('Run-state webhooks (optional).');

/** Keys every channel block has. */
function commonShape(defaults: { dm: (typeof DM_POLICIES)[number]; debounceMs: number }) {
  return {
    id: channelId,
    agent: z.string().min(1).default('default').describe('The agent (under `agents:`) that answers.'),
    lane: z.string().min(1).default('main').describe('The lane (under `lanes:`) its runs go to.'),
    queue: queueSchema(defaults),
    access: accessSchema(defaults),
    webhooks: webhooksSchema,
  };
}

const telegramSchema = z
  .strictObject({
    type: z.literal('telegram'),
    ...commonShape({ dm: 'pairing', debounceMs: 800 }),
    token: z.string().min(1).describe('Bot token from @BotFather.'),
    apiRoot: z.url().default('https://api.telegram.org').describe('Bot API server (a self-hosted one, say).'),
    ingress: z.enum(['polling', 'webhook']).default('polling').describe('How updates arrive.'),
    webhook: z
      .strictObject({
        secretToken: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be 1-256 characters of A-Z, a-z, 0-9, "_" and "-"')
          .describe('Checked against X-Telegram-Bot-Api-Secret-Token; other requests get 401.'),
        path: z.string().startsWith('/').optional().describe('Local path of the webhook route. Default /telegram/<id>.'),
        url: z.url().optional().describe('Public HTTPS URL to register with setWebhook; omit if set elsewhere.'),
      })
      .optional()
      .describe('Webhook settings; required with `ingress: webhook`.'),
    streaming: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Stream replies by editing a preview message.'),
        editIntervalMs: z.number().int().min(250).default(1500).describe('Least time between preview edits.'),
      })
      .prefault({})
      .describe('Streamed replies.'),
    pacing: z
      .strictObject({
        chatIntervalMs: z.number().int().min(0).default(1000).describe('Least time between two messages to one chat.'),
        groupPerMinute: z.number().int().min(1).default(20).describe('Most messages per minute to one group.'),
        globalPerSecond: z.number().int().min(1).default(30).describe('Most messages per second across all chats.'),
      })
      .prefault({})
      .describe("Outbound pacing within Telegram's limits (waits, never drops). Raise only for a Bot API server without them."),
    polling: z
      .strictObject({
        timeoutSeconds: z.number().int().min(0).max(50).default(25).describe('Long-poll timeout sent with getUpdates.'),
        backoffInitialMs: z.number().int().min(0).default(1000).describe('First wait after a failed poll or a refused update; doubles each time.'),
        backoffMaxMs: z.number().int().min(0).default(60_000).describe('Longest wait between retries (a refused update waits at most 5 s).'),
      })
      .prefault({})
      .describe('Long polling (with `ingress: polling`).'),
  })
  .describe('A Telegram bot (grammY).');

const discordSchema = z
  .strictObject({
    type: z.literal('discord'),
    ...commonShape({ dm: 'pairing', debounceMs: 800 }),
    token: z.string().min(1).describe('Bot token from the Discord developer portal.'),
    restApi: z.url().default('https://discord.com/api').describe('REST base URL (a REST proxy, say).'),
    registerCommands: z.boolean().default(false).describe('Register /stop, /stopall, /help, /status as slash commands at start.'),
    streaming: z
      .strictObject({
        enabled: z.boolean().default(false).describe('Stream replies by editing a preview message.'),
        editIntervalMs: z.number().int().min(250).default(1500).describe('Least time between preview edits.'),
      })
      .prefault({})
      .describe('Streamed replies.'),
    catchUp: z
      .strictObject({
        maxMessages: z.number().int().min(0).default(50).describe('Most messages fetched per channel at start; 0 turns catch-up off.'),
        maxAgeMs: z.number().int().min(0).default(3_600_000).describe('Oldest message fetched at start.'),
        policy: z.enum(['answer', 'stale']).default('answer').describe('Answer what was missed, or mark it stale.'),
      })
      .prefault({})
      .describe('Messages sent while the gateway was down.'),
  })
  .describe('A Discord bot (discord.js).');

const webchatSchema = z
  .strictObject({
    type: z.literal('webchat'),
    ...commonShape({ dm: 'open', debounceMs: 0 }),
  })
  .describe('The browser chat served by the gateway (no token needed).');

/** One channel block, discriminated on `type`. */
export const ChannelSchema = z.discriminatedUnion('type', [telegramSchema, discordSchema, webchatSchema]);
