/**
 * Telegram failure sites, one class each (the grammY habit): the token was refused, another consumer holds the
 * update stream, a send was refused. Each carries a catalog code; match on `code`.
 */
import { SwitchyardError } from '../../errors/index.js';

/** The Bot API refused the token (401 on `getMe` / `getUpdates`). Fatal: the channel does not start. */
export class TelegramAuthError extends SwitchyardError {
  constructor(channelId: string, cause?: unknown) {
    super('E_CHANNEL_AUTH', `Telegram rejected the bot token of channel "${channelId}" (401 Unauthorized)`, {
      cause,
      context: { channelId },
    });
  }
}

/**
 * Another process consumes this token's updates (409 Conflict), or a webhook is set while polling. Not fatal:
 * the poller backs off and retries, logging this error each time.
 */
export class TelegramConflictError extends SwitchyardError {
  constructor(channelId: string, description: string, retryInMs: number, cause?: unknown) {
    super(
      'E_CHANNEL_CONFLICT',
      `Telegram channel "${channelId}": ${description}. Retrying in ${Math.round(retryInMs / 1000)} s; stop the other instance or use webhook ingress`,
      { cause, context: { channelId, retryInMs } },
    );
  }
}

/** Telegram refused to deliver a message (after retries where retrying is safe). */
export class TelegramSendError extends SwitchyardError {
  constructor(method: string, chatId: string, description: string, errorCode: number | undefined, cause?: unknown) {
    super('E_CHANNEL_SEND', `Telegram ${method} to chat ${chatId} failed: ${description}`, {
      cause,
      context: { method, chatId, errorCode },
    });
  }
}
