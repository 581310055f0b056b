/**
 * Public surface of the Discord adapter: the channel, its options, and its errors.
 */
export { DiscordChannel } from './channel.js';
export { ENVELOPE_CARRIES_CATCH_UP, catchUpChannelsOf, type CatchUpReport, type CatchUpInboundMessage } from './catch-up.js';
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
