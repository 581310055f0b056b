/**
 * Builds one channel adapter per `channels:` block. The adapters know their platform and nothing else; here
 * they get the ingress door, the delivery log (the store) and the metrics hooks.
 */
import type { ChannelConfig } from '../config/index.js';
import type { ChannelAdapter, DeliveryLog, IngressPort } from '../channels/index.js';
import { InvalidOptionError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { HistoryEntry, RecentChat } from '../store/index.js';
import type { Metrics } from '../metrics/index.js';
import { WebchatChannel } from '../webchat/index.js';

/** What every adapter is wired to. */
export interface ChannelDeps {
  ingress: IngressPort;
  deliveries: DeliveryLog;
  /** Chats of a channel with messages accepted since `since`: where catch-up after downtime starts. */
  recentChats?: (channelId: string, since: number) => Promise<RecentChat[]>;
  /** A session's stored conversation (the webchat shows it to a reloaded page). */
  history?: (sessionKey: string) => Promise<HistoryEntry[]>;
  metrics: Metrics;
  logger: Logger;
}

/** Builds the adapter of one channel, or throws `InvalidOptionError` when this build lacks its platform. */
export type ChannelFactory = (config: ChannelConfig, deps: ChannelDeps) => ChannelAdapter | Promise<ChannelAdapter>;

/**
 * Built-in factories by platform. Platform libraries are imported only when a channel of theirs is configured
 * (discord.js alone costs about 1 s and 30 MB at start).
 */
export const CHANNEL_FACTORIES: Readonly<Partial<Record<ChannelConfig['type'], ChannelFactory>>> = {
  telegram: async (config, deps) => {
    if (config.type !== 'telegram') throw new InvalidOptionError('type', '"telegram"', config.type);
    const { TelegramChannel } = await import('../channels/telegram/index.js');
    return new TelegramChannel({
      id: config.id,
      token: config.token,
      apiRoot: config.apiRoot,
      ingress: deps.ingress,
      deliveries: deps.deliveries,
      mode: config.ingress,
      ...(config.webhook === undefined
        ? {}
        : {
            webhook: {
              secretToken: config.webhook.secretToken,
              path: config.webhook.path ?? `/telegram/${config.id}`,
              ...(config.webhook.url === undefined ? {} : { url: config.webhook.url }),
            },
          }),
      groupScope: config.queue.groupScope,
      streaming: { enabled: config.streaming.enabled, editIntervalMs: config.streaming.editIntervalMs },
      pacing: { ...config.pacing },
      polling: { ...config.polling },
      onRateLimited: () => deps.metrics.outboundRateLimited(config.id),
      logger: deps.logger,
    });
  },
  webchat: (config, deps) =>
    new WebchatChannel({
      id: config.id,
      ingress: deps.ingress,
      deliveryLog: deps.deliveries,
      // A reloaded page shows the stored conversation of its session.
      ...(deps.history === undefined ? {} : { history: deps.history }),
      logger: deps.logger,
    }),
  discord: async (config, deps) => {
    if (config.type !== 'discord') throw new InvalidOptionError('type', '"discord"', config.type);
    const { DiscordChannel } = await import('../channels/discord/index.js');
    return new DiscordChannel({
      id: config.id,
      token: config.token,
      restApi: config.restApi,
      ingress: deps.ingress,
      deliveries: deps.deliveries,
      registerCommands: config.registerCommands,
      streaming: { enabled: config.streaming.enabled, editIntervalMs: config.streaming.editIntervalMs },
      groupScope: config.queue.groupScope,
      // Catch-up after downtime: every Discord channel (or thread) with messages stored within the catch-up
      // age, read from its newest stored message on. Off when maxMessages is 0 or no store is wired.
      ...(config.catchUp.maxMessages > 0 && deps.recentChats !== undefined
        ? {
            catchUp: {
              policy: config.catchUp.policy,
              maxMessages: config.catchUp.maxMessages,
              maxAgeMs: config.catchUp.maxAgeMs,
              channels: async () => {
                const chats = await deps.recentChats!(config.id, Date.now() - config.catchUp.maxAgeMs);
                return chats.map((c) => ({ channelId: c.threadId ?? c.chatId, afterMessageId: c.lastPlatformMessageId }));
              },
            },
          }
        : {}),
      onRateLimited: () => deps.metrics.outboundRateLimited(config.id),
      logger: deps.logger,
    });
  },
};

/** Builds the adapter for a channel block with the given factories. */
export async function createChannelAdapter(
  config: ChannelConfig,
  deps: ChannelDeps,
  factories: Readonly<Partial<Record<ChannelConfig['type'], ChannelFactory>>> = CHANNEL_FACTORIES,
): Promise<ChannelAdapter> {
  const factory = factories[config.type];
  if (factory === undefined) {
    throw new InvalidOptionError(`channels.${config.id}.type`, `a platform this build includes (${Object.keys(factories).join(', ')})`, config.type);
  }
  return factory(config, { ...deps, logger: deps.logger.child({ channelId: config.id, platform: config.type }) });
}
