/**
 * The contracts between a channel adapter and the rest of the gateway. An adapter knows its platform and
 * nothing of lanes, queues or models: it turns platform updates into `InboundMessage`s for the `IngressPort`,
 * and turns replies into platform messages through `ReplyStream`s.
 */
import type { InboundMessage, Platform } from './envelope.js';

/** What ingress decided about one inbound message. */
export type IngressStatus =
  | 'accepted' // durable and enqueued: it will end in exactly one outcome
  | 'duplicate' // already accepted earlier (redelivery, replay): ignored
  | 'command' // a bot command, handled at once (bypasses debounce and the queue)
  | 'denied' // the sender may not use the bot here (the adapter has been told what to say, if anything)
  | 'ignored'; // not for the bot (a group message without mention, say)

/** The result of handing one message to ingress. */
export interface IngressResult {
  status: IngressStatus;
}

/**
 * Where adapters hand inbound messages. `receive` resolves only once the message is durable (or rejected), so
 * an adapter acknowledges the platform (Telegram offset, webhook 200) only after it resolves.
 */
export interface IngressPort {
  receive(message: InboundMessage, signal?: AbortSignal): Promise<IngressResult>;
}

/** Where a reply goes. */
export interface ReplyTarget {
  channelId: string;
  sessionKey: string;
  chatId: string;
  threadId?: string | undefined;
  peer: 'dm' | 'group';
  /** Platform id of the message being answered, to reply to it (threads the answer in groups). */
  replyToPlatformMessageId?: string | undefined;
}

/** One message the platform accepted, as recorded in the store. */
export interface DeliveryRecord {
  runId: string;
  /** 0-based index of the chunk within the reply. */
  chunkIndex: number;
  platformMessageId: string;
}

/**
 * The delivery log an adapter consults and writes so that a chunk the platform already accepted is never sent
 * again, even across a crash and a re-run of the turn.
 */
export interface DeliveryLog {
  /** Chunks already delivered for this run. */
  delivered(runId: string): Promise<DeliveryRecord[]>;
  /** Records a chunk the platform accepted. */
  record(delivery: DeliveryRecord): Promise<void>;
}

/**
 * A reply being produced by a run. The agent pushes text deltas as the model streams; the adapter shows
 * progress (typing, a preview edited at a bounded rate) and delivers the final text, chunked at the platform
 * limit. After `signal` aborts nothing more is sent to the chat.
 */
export interface ReplyStream {
  /** A text delta from the model. Cheap and synchronous: rendering is paced by the adapter. */
  delta(text: string): void;
  /**
   * Delivers the final text (the whole reply). Resolves once every chunk is delivered and its record written
   * to the store's queue: every chunk but the last is committed by then; the last one's record may still be
   * queued, to commit with (never after) the run's outcome, which is queued later on the same store.
   */
  complete(fullText: string): Promise<void>;
  /** The run ended without an answer (abort, failure): stop typing, remove or finalize any preview. */
  cancel(reason?: string): Promise<void>;
}

/** Options to open a reply stream. */
export interface OpenReplyOptions {
  /** Run id used for delivery records. */
  runId: string;
  /** Aborts with the run: nothing is sent after it fires. */
  signal: AbortSignal;
}

/** A platform connection. Built from its config block, started and stopped by the gateway. */
export interface ChannelAdapter {
  /** Config id of the channel (`tg-main`). */
  readonly id: string;
  readonly platform: Platform;
  /** Connects and starts delivering inbound messages to ingress. Resolves once receiving. */
  start(signal?: AbortSignal): Promise<void>;
  /** Stops intake (no new messages to ingress) and disconnects. Idempotent. */
  stop(): Promise<void>;
  /** Opens a streamed reply for one run. */
  openReply(target: ReplyTarget, options: OpenReplyOptions): ReplyStream;
  /** Sends a short notice (command answer, drop / stale / failure notice). Chunked if needed. */
  notify(target: ReplyTarget, text: string, signal?: AbortSignal): Promise<void>;
}
