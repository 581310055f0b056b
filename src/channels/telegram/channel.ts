/**
 * The Telegram channel adapter on grammY. Inbound: updates arrive by long polling (`PollingLoop`) or by webhook
 * (`webhookHandler`), both through `bot.handleUpdate`, are normalized into `InboundMessage`s and handed to
 * `IngressPort.receive`; Telegram is acknowledged (next offset / HTTP 200) only after it resolves. Outbound:
 * `openReply` streams a run's reply (typing, preview edits, chunked final messages, delivery records) and
 * `notify` sends short notices.
 *
 * Not here, on purpose: access control (DM policy, pairing, mention rules, admins) and command execution live
 * in ingress. The adapter only reports the facts they need (`peer`, `mentionsBot`, `replyToBot`, `command`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Bot, GrammyError, webhookCallback } from 'grammy';
import type { Update } from 'grammy/types';
import { isSwitchyardError } from '../../errors/index.js';
import type { Logger } from '../../log/index.js';
import { chunkMarkdown } from '../../outbound/index.js';
import type { Platform } from '../envelope.js';
import type { ChannelAdapter, OpenReplyOptions, ReplyStream, ReplyTarget } from '../ports.js';
import { TelegramAuthError } from './errors.js';
import { HANDLED_UPDATES, normalizeUpdate } from './normalize.js';
import { resolveTelegramOptions, type ResolvedTelegramOptions, type TelegramChannelOptions } from './options.js';
import { PollingLoop } from './polling.js';
import { TELEGRAM_MAX_TEXT, TelegramReplyStream } from './reply-stream.js';
import { TelegramSender } from './sender.js';
import { grammySignal, telegramRetryTransformers } from './transport.js';

type NodeHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;
type FastifyLikeHandler = (request: unknown, reply: unknown) => Promise<unknown>;

/** Lifecycle states of the channel. */
export const TELEGRAM_CHANNEL_STATES = ['idle', 'starting', 'running', 'stopped', 'failed'] as const;
/** Lifecycle state of the channel. */
export type TelegramChannelState = (typeof TELEGRAM_CHANNEL_STATES)[number];

/** A Telegram bot connected to the gateway. */
export class TelegramChannel implements ChannelAdapter {
  readonly platform: Platform = 'telegram';
  readonly id: string;
  /** The grammY bot (its `api` has the retry transformers installed). */
  readonly bot: Bot;
  private readonly o: ResolvedTelegramOptions;
  private readonly sender: TelegramSender;
  /** The channel's logger (bound once: a pino child per reply or update costs more than the reply's own work). */
  private readonly log: Logger;
  private polling: PollingLoop | undefined;
  private webhookNode: NodeHandler | undefined;
  private webhookFastifyCb: FastifyLikeHandler | undefined;
  private stateValue: TelegramChannelState = 'idle';
  private fatal: Error | undefined;
  /** Set once the Bot API server refused `sendMessageDraft`: later replies stream by edits. */
  private draftsUnsupported = false;

  constructor(options: TelegramChannelOptions) {
    this.o = resolveTelegramOptions(options);
    this.id = this.o.id;
    this.bot = new Bot(this.o.token, {
      client: { apiRoot: this.o.apiRoot, fetch: this.o.fetch as unknown as typeof fetch },
      ...(this.o.botInfo !== undefined ? { botInfo: this.o.botInfo } : {}),
    });
    this.bot.api.config.use(
      ...telegramRetryTransformers({
        ...this.o.retry,
        onRateLimited: this.o.onRateLimited,
        direct: { apiRoot: this.o.apiRoot, token: this.o.token, fetch: this.o.fetch },
      }),
    );
    this.bot.use(async (ctx) => {
      await this.onUpdate(ctx.update);
    });
    this.log = this.o.logger.child({ channelId: this.id });
    this.sender = new TelegramSender(this.bot.api, this.o.pacing, this.log);
  }

  /** Current lifecycle state. */
  get state(): TelegramChannelState {
    return this.stateValue;
  }

  /** The error that stopped the channel (bad token), if any. */
  get fatalError(): Error | undefined {
    return this.fatal;
  }

  /** Path the HTTP server should route to `webhookHandler` (webhook mode). */
  get webhookPath(): string | undefined {
    return this.o.webhook?.path;
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (this.stateValue !== 'idle') return;
    this.stateValue = 'starting';
    try {
      await this.connect(signal);
    } catch (err) {
      // A refused token is final (from getMe, or from the first call when botInfo was given); anything else
      // (network, abort) leaves the channel startable again.
      if (err instanceof GrammyError && err.error_code === 401) {
        const fatal = new TelegramAuthError(this.id, err);
        this.fatal = fatal;
        this.stateValue = 'failed';
        this.o.logger.error({ channelId: this.id, code: fatal.code }, fatal.message);
        throw fatal;
      }
      this.stateValue = 'idle';
      throw err;
    }
  }

  private async connect(signal?: AbortSignal): Promise<void> {
    const log = this.log;
    await this.bot.init(grammySignal(signal));
    if (this.o.mode === 'polling') {
      // getUpdates answers 409 while a webhook is set: remove it (pending updates are kept).
      await this.bot.api.deleteWebhook({ drop_pending_updates: false }, grammySignal(signal));
      this.polling = new PollingLoop({
        channelId: this.id,
        api: this.bot.api,
        // Straight to our handler: `bot.handleUpdate` would build a new grammY Api (client, proxy, transformer
        // chain) and a Context per update only for our one middleware to read `ctx.update`. Webhooks still go
        // through grammY's `webhookCallback` (it owns the HTTP exchange and the secret check).
        handle: (update) => this.onUpdate(update),
        logger: log,
        timeoutSeconds: this.o.polling.timeoutSeconds,
        allowedUpdates: HANDLED_UPDATES,
        backoff: { initialMs: this.o.polling.backoffInitialMs, maxMs: this.o.polling.backoffMaxMs },
        onFatal: (err) => {
          this.fatal = err;
          this.stateValue = 'failed';
          try {
            this.o.onFatal?.(err);
          } catch (hookErr) {
            log.warn({ err: hookErr }, 'onFatal callback threw');
          }
        },
      });
      this.polling.start();
    } else {
      const wh = this.o.webhook!;
      if (wh.url !== undefined) {
        await this.bot.api.setWebhook(wh.url, { secret_token: wh.secretToken, allowed_updates: [...HANDLED_UPDATES], max_connections: wh.maxConnections }, grammySignal(signal));
      }
      const cbOptions = { secretToken: wh.secretToken, onTimeout: 'throw' as const, timeoutMilliseconds: wh.timeoutMs };
      this.webhookNode ??= webhookCallback(this.bot, 'http', cbOptions) as unknown as NodeHandler;
      this.webhookFastifyCb ??= webhookCallback(this.bot, 'fastify', cbOptions) as unknown as FastifyLikeHandler;
    }
    this.stateValue = 'running';
    log.info({ mode: this.o.mode, bot: this.bot.botInfo.username }, 'telegram channel started');
  }

  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    const wasPolling = this.polling;
    this.stateValue = 'stopped';
    await wasPolling?.stop();
    this.o.logger.info({ channelId: this.id }, 'telegram channel stopped');
  }

  /**
   * Webhook endpoint for node:http. Answers 200 only after ingress accepted the update, 401 on a wrong secret
   * token, 500 when the update could not be accepted (Telegram redelivers; ingress deduplicates), 503 when the
   * channel is not running, 404 for another path.
   */
  readonly webhookHandler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (this.o.webhook !== undefined && path !== this.o.webhook.path) {
      res.writeHead(404).end();
      return;
    }
    if (this.stateValue !== 'running' || this.webhookNode === undefined) {
      res.writeHead(503, { 'retry-after': '5' }).end();
      return;
    }
    try {
      await this.webhookNode(req, res);
    } catch (err) {
      this.o.logger.error({ err, channelId: this.id }, 'webhook update not accepted; answering 500 so Telegram redelivers it');
      if (!res.headersSent) res.writeHead(500);
      if (!res.writableEnded) res.end();
    }
  };

  /** Webhook endpoint for fastify (`app.post(channel.webhookPath, channel.webhookFastify)`), same contract. */
  readonly webhookFastify = async (request: unknown, reply: unknown): Promise<unknown> => {
    const r = reply as { code(n: number): { send(b?: unknown): unknown }; sent?: boolean };
    if (this.stateValue !== 'running' || this.webhookFastifyCb === undefined) return r.code(503).send();
    try {
      return await this.webhookFastifyCb(request, reply);
    } catch (err) {
      this.o.logger.error({ err, channelId: this.id }, 'webhook update not accepted; answering 500 so Telegram redelivers it');
      return r.sent === true ? undefined : r.code(500).send();
    }
  };

  openReply(target: ReplyTarget, options: OpenReplyOptions): ReplyStream {
    const s = this.o.streaming;
    return new TelegramReplyStream({
      target,
      runId: options.runId,
      signal: options.signal,
      sender: this.sender,
      deliveries: this.o.deliveries,
      logger: this.log,
      preview: s.enabled
        ? {
            editIntervalMs: target.peer === 'group' ? Math.max(s.editIntervalMs, s.groupEditIntervalMs) : s.editIntervalMs,
            minInitialChars: s.minInitialChars,
          }
        : undefined,
      drafts:
        s.enabled && s.drafts && !this.draftsUnsupported
          ? {
              onUnsupported: () => {
                this.draftsUnsupported = true;
              },
            }
          : undefined,
      typingIntervalMs: this.o.typingIntervalMs,
      typingDelayMs: this.o.typingDelayMs,
      cleanupTimeoutMs: 5000,
    });
  }

  async notify(target: ReplyTarget, text: string, signal?: AbortSignal): Promise<void> {
    const chunks = chunkMarkdown(text, TELEGRAM_MAX_TEXT)
      .map((c) => c.trimEnd())
      .filter((c) => c.trim().length > 0);
    for (let i = 0; i < chunks.length; i++) {
      signal?.throwIfAborted();
      await this.sender.sendMarkdown(target, chunks[i]!, { replyTo: i === 0, ...(signal !== undefined ? { signal } : {}) });
    }
  }

  /** Normalizes one update and hands it to ingress. Throws (so the update is not acknowledged) if ingress fails. */
  private async onUpdate(update: Update): Promise<void> {
    const log = this.o.logger;
    const me = this.bot.botInfo;
    const result = normalizeUpdate(update, {
      channelId: this.id,
      botId: me.id,
      botUsername: me.username,
      groupScope: this.o.groupScope,
      now: this.o.now(),
    });
    if (result.kind === 'ignored') {
      log.debug({ channelId: this.id, updateId: update.update_id, reason: result.reason }, 'telegram update ignored');
      return;
    }
    if (result.kind === 'malformed') {
      log.warn({ channelId: this.id, updateId: update.update_id, code: 'E_CHANNEL_MALFORMED', reason: result.reason }, 'malformed telegram update ignored');
      return;
    }
    let outcome;
    try {
      outcome = await this.o.ingress.receive(result.message);
    } catch (err) {
      // A message ingress calls malformed will be malformed on every retry: drop it rather than block the stream.
      if (isSwitchyardError(err, 'E_CHANNEL_MALFORMED')) {
        log.warn({ channelId: this.id, updateId: update.update_id, err, code: err.code }, 'ingress rejected the message as malformed; ignored');
        return;
      }
      throw err;
    }
    log.debug({ channelId: this.id, updateId: update.update_id, messageId: result.message.id, status: outcome.status }, 'telegram message handed to ingress');
  }
}
