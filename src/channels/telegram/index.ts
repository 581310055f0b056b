/**
 * Public surface of the Telegram adapter: the channel, its options, the normalizer (for tools and tests) and
 * its error classes.
 */
export { TelegramChannel, TELEGRAM_CHANNEL_STATES, type TelegramChannelState } from './channel.js';
export type { TelegramChannelOptions } from './options.js';
export { normalizeUpdate, HANDLED_UPDATES, type Normalized, type NormalizeContext } from './normalize.js';
export { markdownToTelegramHtml, escapeHtml } from './format.js';
export { TelegramAuthError, TelegramConflictError, TelegramSendError } from './errors.js';
export { TELEGRAM_MAX_TEXT } from './reply-stream.js';
export type { TelegramPacing } from './sender.js';
export type { RateLimitInfo } from './transport.js';
export { leanFetch, type LeanFetch, type LeanFetchOptions, type LeanResponse } from './lean-fetch.js';
