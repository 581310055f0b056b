/**
 * Errors raised by the Discord adapter, one class per failure site: the token was refused, or Discord refused
 * to deliver a message. Both carry catalog codes; match on `code`.
 */
import { SwitchyardError } from '../../errors/index.js';

/** Discord refused the bot token (REST 401 on `GET /gateway/bot`, or gateway close 4004). */
export class DiscordAuthError extends SwitchyardError {
  constructor(channelId: string, cause?: unknown) {
    super('E_CHANNEL_AUTH', `Discord rejected the bot token of channel "${channelId}"; check its token (or the environment variable it names)`, {
      cause,
      context: { channelId, platform: 'discord' },
    });
  }
}

/** Discord refused a send, edit or typing request (after @discordjs/rest waited out any 429s). */
export class DiscordSendError extends SwitchyardError {
  constructor(channelId: string, operation: string, discordChannelId: string, cause?: unknown) {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    super('E_CHANNEL_SEND', `Discord refused ${operation} in channel ${discordChannelId} (channel "${channelId}")${detail}`, {
      cause,
      context: { channelId, platform: 'discord', operation, discordChannelId },
    });
  }
}
