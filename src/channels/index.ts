/**
 * Public surface of `src/channels`: the normalized envelope, session keys, and the adapter contracts.
 * Platform adapters are exported here as they land.
 */
export {
  InboundMessageSchema,
  AttachmentSchema,
  CommandSchema,
  ReplyRefSchema,
  PLATFORMS,
  ATTACHMENT_KINDS,
  MAX_INBOUND_TEXT,
  parseCommand,
  type InboundMessage,
  type Attachment,
  type Command,
  type Platform,
} from './envelope.js';
export { parseInbound, type InboundParse } from './envelope-guard.js';
export { sessionKeyOf, channelIdOfSessionKey, type GroupScope, type SessionKeyParts } from './session-key.js';
export type {
  ChannelAdapter,
  IngressPort,
  IngressResult,
  IngressStatus,
  ReplyTarget,
  ReplyStream,
  OpenReplyOptions,
  DeliveryLog,
  DeliveryRecord,
} from './ports.js';
