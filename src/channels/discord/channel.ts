/**
 * `DiscordChannel`: the Discord adapter on discord.js v14. It normalizes guild messages, threads, DMs and slash
 * commands into `InboundMessage`s for ingress, and delivers replies and notices. It knows nothing of queues,
 * lanes or access rules: ingress decides what a message means.
 *
 * Invariants:
 * - Messages reach ingress in the order Discord sent them, per Discord channel (one promise chain each).
 * - While a catch-up pass runs (at start, and after a gateway session had to be re-identified), live messages
 *   are held and handed on after the caught-up ones, so older messages are never accepted after newer ones.
 *   A message seen both live and in history has the same `id`, so the store reports it `duplicate`.
 * - After `stop()` nothing new reaches ingress; messages already normalized are handed on before disconnecting.
 */
import { guardGatewayPackets } from './packet-guard.js';
import { once } from 'node:events';
import {
  Client,
  DiscordjsErrorCodes,
  Events,
  GatewayCloseCodes,
  GatewayIntentBits,
  Partials,
  Routes,
  type APIAllowedMentions,
  type ChatInputCommandInteraction,
  type Interaction,
  type Message,
  type RateLimitData,
} from 'discord.js';
import { chunkMarkdown, sleep } from '../../outbound/index.js';
import type { InboundMessage } from '../envelope.js';
import type { ChannelAdapter, IngressResult, OpenReplyOptions, ReplyStream, ReplyTarget } from '../ports.js';
import { collectMissed, maxSnowflake, type CatchUpInboundMessage, type CatchUpReport } from './catch-up.js';
import { DiscordAuthError, DiscordSendError } from './errors.js';
import { fallbackAnswer, PendingInteractions, registerSlashCommands } from './interactions.js';
import { normalizeInteraction, normalizeMessage, type NormalizeContext } from './normalize.js';
import { DISCORD_MAX_MESSAGE, resolveDiscordOptions, type DiscordChannelOptions, type ResolvedDiscordOptions } from './options.js';
import { DiscordReplyStream } from './reply-stream.js';

/** No pings from bot output: `@everyone` or `<@id>` in a notice must not notify anyone. */
const NO_MENTIONS: APIAllowedMentions = Object.freeze({ parse: [], replied_user: false });

/** The Discord channel adapter. */
export class DiscordChannel implements ChannelAdapter {
  readonly platform = 'discord' as const;
  readonly id: string;
  /** The last catch-up pass, if any ran. */
  lastCatchUp: CatchUpReport | undefined;

  private readonly o: ResolvedDiscordOptions;
  private client: Client;
  private ctx: NormalizeContext | undefined;
  /** From `start()` until `stop()`: messages are normalized and handed on (or held during catch-up). */
  private receiving = false;
  private catchUpsRunning = 0;
  private readyCount = 0;
  /** Set when the gateway closed with 4004 (authentication failed). */
  private authFailed = false;
  /** Live messages held while a catch-up pass runs; undefined when not holding. */
  private held: InboundMessage[] | undefined;
  private readonly chains = new Map<string, Promise<void>>();
  /** Newest message id handed to ingress per Discord channel: where a re-identify catch-up starts. */
  private readonly lastSeen = new Map<string, string>();
  private readonly pending = new PendingInteractions();
  private lifetime = new AbortController();
  private starting: Promise<void> | undefined;

  constructor(options: DiscordChannelOptions) {
    this.o = resolveDiscordOptions(options);
    this.id = this.o.id;
    this.client = this.createClient();
  }

  /** The discord.js client (for diagnostics; do not log in or destroy it directly). */
  get discord(): Client {
    return this.client;
  }

  start(signal?: AbortSignal): Promise<void> {
    // A second call while starting joins the first; after a completed start it resolves at once.
    this.starting ??= this.connect(signal).finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async connect(signal?: AbortSignal): Promise<void> {
    if (this.receiving) return;
    if (this.lifetime.signal.aborted) {
      this.lifetime = new AbortController();
      this.client = this.createClient();
    }
    const log = this.o.logger.child({ channel: this.id, platform: 'discord' });
    const ready = once(this.client, Events.ClientReady, signal ? { signal } : {});
    ready.catch(() => undefined);
    this.authFailed = false;
    this.held = []; // hold live messages until the start catch-up has handed on what was missed
    this.catchUpsRunning = 1;
    this.readyCount = 0;
    this.receiving = true;
    try {
      await abortable(this.client.login(this.o.token), signal);
      await ready;
    } catch (err) {
      this.held = undefined;
      this.receiving = false;
      this.catchUpsRunning = 0;
      await this.client.destroy().catch(() => undefined);
      this.lifetime.abort();
      // REST 401 on /gateway/bot surfaces as TokenInvalid; a gateway close 4004 as a plain error after the close.
      if ((err as { code?: unknown }).code === DiscordjsErrorCodes.TokenInvalid || this.authFailed) throw new DiscordAuthError(this.id, err);
      throw err;
    }
    const user = this.client.user!;
    log.info({ botId: user.id, guilds: this.client.guilds.cache.size }, 'discord: connected');
    if (this.o.registerCommands) {
      try {
        const n = await registerSlashCommands(this.client as Client<true>, this.o.commands);
        log.info({ commands: n }, 'discord: slash commands registered');
      } catch (err) {
        log.warn({ err }, 'discord: slash command registration failed; text commands still work');
      }
    }
    await this.catchUp('start');
  }

  async stop(): Promise<void> {
    if (this.lifetime.signal.aborted) return;
    this.receiving = false;
    this.lifetime.abort(); // ends a catch-up pass in progress
    const held = this.held ?? [];
    this.held = undefined;
    for (const m of held) this.enqueue(m); // already normalized: hand on rather than lose
    await Promise.allSettled([...this.chains.values()]);
    this.pending.clear();
    await this.client.destroy();
  }

  openReply(target: ReplyTarget, options: OpenReplyOptions): ReplyStream {
    return new DiscordReplyStream({
      rest: this.client.rest,
      channelId: this.id,
      discordChannelId: target.threadId ?? target.chatId,
      replyToMessageId: target.peer === 'group' ? target.replyToPlatformMessageId : undefined,
      runId: options.runId,
      signal: options.signal,
      deliveries: this.o.deliveries,
      chunk: chunkMarkdown,
      streaming: this.o.streaming,
      typingIntervalMs: this.o.typingIntervalMs,
      logger: this.o.logger.child({ channel: this.id, platform: 'discord' }),
    });
  }

  async notify(target: ReplyTarget, text: string, signal?: AbortSignal): Promise<void> {
    const chunks = chunkMarkdown(text, DISCORD_MAX_MESSAGE).filter((c) => c.trim() !== '');
    const interaction = this.pending.take(target.replyToPlatformMessageId);
    if (interaction) {
      await this.answerInteraction(interaction, chunks);
      return;
    }
    const discordChannelId = target.threadId ?? target.chatId;
    for (const [i, content] of chunks.entries()) {
      if (signal?.aborted) return;
      const reference = i === 0 && target.peer === 'group' && target.replyToPlatformMessageId !== undefined ? { message_reference: { message_id: target.replyToPlatformMessageId, fail_if_not_exists: false } } : {};
      try {
        await this.client.rest.post(Routes.channelMessages(discordChannelId), { body: { content, allowed_mentions: NO_MENTIONS, ...reference }, ...(signal ? { signal } : {}) });
      } catch (err) {
        throw new DiscordSendError(this.id, 'sending a notice', discordChannelId, err);
      }
    }
  }

  // ── inbound ────────────────────────────────────────────────────────────────────────────────────────

  private createClient(): Client {
    const client = new Client({
      ...this.o.clientOptions,
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent, GatewayIntentBits.DirectMessages],
      partials: [Partials.Channel, Partials.Message], // DM channels are not cached: without these, DMs are dropped
      rest: this.o.restApi === undefined ? {} : { api: this.o.restApi },
    });
    client.rest.setToken(this.o.token); // replies may be opened for recovered runs before the gateway is up
    const log = this.o.logger.child({ channel: this.id, platform: 'discord' });
    guardGatewayPackets(client, log);
    client.on(Events.MessageCreate, (m) => this.onMessage(m));
    client.on(Events.InteractionCreate, (i) => void this.onInteraction(i));
    client.on(Events.ShardReady, () => {
      // Every READY after the first is a new gateway session (the old one could not be resumed): events in the
      // gap were not replayed, so fetch them from history. Live messages are held from now on (synchronously).
      if (++this.readyCount > 1 && this.receiving) {
        this.held ??= [];
        this.catchUpsRunning++;
        void this.catchUp('reidentify');
      }
    });
    client.on(Events.ShardResume, (_id, replayed) => log.info({ replayed }, 'discord: gateway session resumed'));
    client.on(Events.ShardDisconnect, (ev) => {
      if (ev.code === GatewayCloseCodes.AuthenticationFailed) this.authFailed = true;
      log.warn({ code: ev.code }, 'discord: gateway disconnected');
    });
    client.on(Events.Error, (err) => log.error({ err }, 'discord: client error'));
    client.rest.on('rateLimited', (info: RateLimitData) => {
      const fields = { route: info.route, method: info.method, retryAfterMs: info.retryAfter, global: info.global, scope: info.scope };
      log.warn(fields, 'discord: rate limited; request waits and retries');
      try {
        this.o.onRateLimited?.(fields);
      } catch (err) {
        log.warn({ err }, 'discord: onRateLimited callback threw');
      }
    });
    return client;
  }

  /** The normalization context, known once READY gave the bot user (possibly before `ClientReady`). */
  private context(): NormalizeContext | undefined {
    if (this.ctx) return this.ctx;
    const user = this.client.user;
    if (!user) return undefined;
    this.ctx = { channelId: this.id, botId: user.id, botUsername: user.username, groupScope: this.o.groupScope, now: Date.now };
    return this.ctx;
  }

  private onMessage(message: Message): void {
    const ctx = this.context();
    if (!this.receiving || !ctx) return;
    let result: ReturnType<typeof normalizeMessage>;
    try {
      result = normalizeMessage(message, ctx, { allowBots: this.o.allowBots });
    } catch (err) {
      // A structure discord.js built from a malformed payload (no author, say): skip it, never throw into discord.js.
      this.o.logger.warn({ err, channel: this.id, messageId: message.id }, 'discord: message could not be normalized; skipped');
      return;
    }
    if ('skip' in result) {
      this.o.logger.debug({ channel: this.id, messageId: message.id, skip: result.skip, detail: result.detail }, 'discord: message skipped');
      return;
    }
    if (this.held) this.held.push(result.message);
    else this.enqueue(result.message);
  }

  /** Hands a message to ingress on its Discord channel's chain (keeps per-channel order). */
  private enqueue(message: CatchUpInboundMessage): Promise<void> {
    const key = message.threadId ?? message.chatId;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      // Only a message ingress took (durable or decided) moves the catch-up mark: one it refused is fetched
      // again by the next catch-up pass instead of being skipped over.
      if ((await this.handOn(message)) !== undefined) {
        this.lastSeen.set(key, maxSnowflake(this.lastSeen.get(key), message.platformMessageId)!);
      }
    });
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
    return next;
  }

  /**
   * Hands one message to ingress. A store refusing the write for a while (`E_STORE_WRITE`) is retried with
   * backoff until it commits or the adapter stops, because Discord will not send the message again; anything
   * else ingress throws is logged and left to the next catch-up pass (the catch-up mark does not move).
   */
  private async handOn(message: InboundMessage): Promise<IngressResult | undefined> {
    const { initialMs, maxMs } = this.o.acceptRetry;
    const signal = this.lifetime.signal;
    for (let delay = initialMs; ; delay = Math.min(maxMs, delay * 2)) {
      try {
        return await this.o.ingress.receive(message);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        const retry = code === 'E_STORE_WRITE' && !signal.aborted;
        this.o.logger.error(
          { err, code, channel: this.id, messageId: message.id, retryInMs: retry ? delay : undefined },
          retry ? 'discord: the store refused a message; retrying' : 'discord: ingress refused a message',
        );
        if (!retry) return undefined;
        try {
          await sleep(delay, signal);
        } catch {
          return undefined; // stopping: the next start's catch-up fetches it
        }
      }
    }
  }

  private async onInteraction(interaction: Interaction): Promise<void> {
    const ctx = this.context();
    if (!interaction.isChatInputCommand() || !this.receiving || !ctx) return;
    let result: ReturnType<typeof normalizeInteraction>;
    try {
      result = normalizeInteraction(interaction, ctx);
    } catch (err) {
      this.o.logger.warn({ err, channel: this.id, interactionId: interaction.id }, 'discord: interaction could not be normalized; skipped');
      return;
    }
    if ('skip' in result) {
      this.o.logger.debug({ channel: this.id, interactionId: interaction.id, skip: result.skip }, 'discord: interaction skipped');
      return;
    }
    try {
      await interaction.deferReply(); // within Discord's 3 s window, before ingress does anything
    } catch (err) {
      this.o.logger.warn({ err, channel: this.id }, 'discord: could not acknowledge a slash command');
      return;
    }
    this.pending.add(interaction);
    const key = result.message.threadId ?? result.message.chatId;
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      const outcome = await this.handOn(result.message);
      const still = this.pending.take(interaction.id);
      if (!still) return;
      try {
        await this.answerInteraction(still, [outcome ? fallbackAnswer(outcome.status) : 'Something went wrong; please try again.']);
      } catch (err) {
        this.o.logger.warn({ err, channel: this.id, interactionId: interaction.id }, 'discord: could not answer a slash command');
      }
    });
    this.chains.set(key, next);
    await next;
    if (this.chains.get(key) === next) this.chains.delete(key);
  }

  private async answerInteraction(interaction: ChatInputCommandInteraction, chunks: string[]): Promise<void> {
    const [first = 'Done.', ...more] = chunks;
    try {
      await interaction.editReply({ content: first, allowedMentions: { parse: [] } });
      for (const c of more) await interaction.followUp({ content: c, allowedMentions: { parse: [] } });
    } catch (err) {
      throw new DiscordSendError(this.id, 'answering a slash command', interaction.channelId, err);
    }
  }

  // ── catch-up ───────────────────────────────────────────────────────────────────────────────────────

  private async catchUp(reason: CatchUpReport['reason']): Promise<void> {
    const log = this.o.logger.child({ channel: this.id, platform: 'discord' });
    const cfg = this.o.catchUp;
    const signal = this.lifetime.signal;
    const ctx = this.context();
    const report: CatchUpReport = { reason, channels: 0, fetched: 0, handedOn: 0, skippedStale: 0, failedChannels: [] };
    try {
      const wanted = new Map<string, string | undefined>();
      if (cfg) {
        try {
          for (const c of await cfg.channels()) wanted.set(c.channelId, maxSnowflake(wanted.get(c.channelId), c.afterMessageId));
        } catch (err) {
          log.error({ err }, 'discord: catch-up could not list channels; catching up only channels seen before');
        }
      }
      // Also every channel this process saw traffic in, from its newest seen message (after a re-identify, or
      // a stop() and start() of the same adapter).
      for (const [id, last] of this.lastSeen) wanted.set(id, maxSnowflake(wanted.get(id), last));
      if (ctx) {
        const missed = await collectMissed(this.client, wanted, {
          maxMessages: cfg?.maxMessages ?? 50,
          maxAgeMs: cfg?.maxAgeMs ?? 6 * 3600_000,
          now: Date.now(),
          policy: cfg?.policy ?? 'answer',
          normalize: (m) => {
            try {
              const r = normalizeMessage(m, ctx, { allowBots: this.o.allowBots });
              return 'skip' in r ? undefined : r.message;
            } catch (err) {
              log.warn({ err, messageId: m.id }, 'discord: missed message could not be normalized; skipped');
              return undefined;
            }
          },
          report,
          log,
          signal,
        });
        for (const m of missed) void this.enqueue(m);
      }
    } finally {
      // Release held live messages behind the caught-up ones (same chains, so order holds), once the last
      // overlapping pass is done.
      if (--this.catchUpsRunning <= 0) {
        this.catchUpsRunning = 0;
        const held = this.held ?? [];
        this.held = undefined;
        for (const m of held) void this.enqueue(m);
      }
      this.lastCatchUp = report;
      if (report.channels > 0) log.info({ ...report }, 'discord: catch-up done');
    }
    await Promise.allSettled([...this.chains.values()]);
  }
}

/** Races `promise` against `signal`: rejects with the abort reason when it fires first. Internal. */
async function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
