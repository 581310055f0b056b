/**
 * Public surface of the Discord adapter: the channel, its options, and its errors.
 */
export { DiscordChannel, type CatchUpReport, type CatchUpInboundMessage } from './channel.js';
export {
  DEFAULT_SLASH_COMMANDS,
  DISCORD_MAX_MESSAGE,
  type DiscordChannelOptions,
  type CatchUpOptions,
  type CatchUpChannel,
  type CatchUpPolicy,
  type RateLimitInfo,
  type SlashCommandSpec,
} from './options.js';
export { DiscordAuthError, DiscordSendError } from './errors.js';
