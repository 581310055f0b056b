/**
 * Catch-up after downtime: a process that died cannot resume its gateway session, so messages posted while it
 * was down are only found in channel history. For each channel, fetch the messages newer than the newest one
 * already stored, oldest first, bounded in count and age.
 *
 * The age bound is applied on the server side too: a snowflake encodes its time, so `after` is raised to the
 * snowflake of `now - maxAgeMs` and old history is never downloaded.
 */
import { SnowflakeUtil, type Client, type Message } from 'discord.js';
import type { Logger } from '../../log/index.js';
import { InboundMessageSchema, type InboundMessage } from '../envelope.js';
import type { CatchUpChannel, CatchUpPolicy } from './options.js';

/**
 * A message found by catch-up under policy `stale`: ingress should store it and record it `stale` without
 * answering. Proposed envelope field (see NOTES-discord.md); only set for `stale`, so an `answer` catch-up is a
 * plain `InboundMessage`.
 */
export type CatchUpInboundMessage = InboundMessage & { catchUp?: CatchUpPolicy };

/**
 * Whether the shared envelope schema carries `catchUp` (the proposed field). Until it does, ingress would reject
 * a marked message as malformed, so under policy `stale` missed messages are skipped (never answered, which is
 * what `stale` means) instead of being journaled as stale.
 */
export const ENVELOPE_CARRIES_CATCH_UP = 'catchUp' in InboundMessageSchema.shape;

/** What one catch-up pass did (for logs, tests and the admin API). */
export interface CatchUpReport {
  reason: 'start' | 'reidentify';
  channels: number;
  fetched: number;
  handedOn: number;
  /** Policy `stale` while the envelope has no `catchUp` field: missed messages are not handed on at all. */
  skippedStale: number;
  failedChannels: string[];
}

/** Bounds of one catch-up pass. Internal. */
export interface CatchUpBounds {
  maxMessages: number;
  maxAgeMs: number;
  now: number;
}

/**
 * Turns stored messages of a Discord channel config (e.g. the newest per recent session, from the store) into
 * catch-up entries: one per Discord channel (`threadId ?? chatId`) with its newest platform message id.
 * @example catchUp: { channels: async () => catchUpChannelsOf(await store.recentMessages('dc-main', since)) }
 */
export function catchUpChannelsOf(rows: Iterable<Pick<InboundMessage, 'chatId' | 'threadId' | 'platformMessageId'>>): CatchUpChannel[] {
  const newest = new Map<string, string>();
  for (const r of rows) {
    const key = r.threadId ?? r.chatId;
    newest.set(key, maxSnowflake(newest.get(key), r.platformMessageId)!);
  }
  return [...newest].map(([channelId, afterMessageId]) => ({ channelId, afterMessageId }));
}

/** Discord returns at most 100 messages per history request. */
const PAGE = 100;

/** The larger of two snowflakes (ids compare as 64-bit integers, not strings). Internal. */
export function maxSnowflake(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return BigInt(a) >= BigInt(b) ? a : b;
}

/**
 * Messages of `spec.channelId` newer than `spec.afterMessageId` and not older than `maxAgeMs`, oldest first, at
 * most `maxMessages`. Throws what discord.js throws (unknown channel, missing access); the caller logs it and
 * goes on with the next channel.
 */
export async function fetchMissedMessages(client: Client, spec: CatchUpChannel, bounds: CatchUpBounds, signal: AbortSignal): Promise<Message[]> {
  const channel = await client.channels.fetch(spec.channelId);
  if (!channel || !channel.isTextBased() || !('messages' in channel)) return [];
  const oldest = bounds.now - bounds.maxAgeMs;
  let after = maxSnowflake(spec.afterMessageId, SnowflakeUtil.generate({ timestamp: oldest }).toString())!;
  const out: Message[] = [];
  while (out.length < bounds.maxMessages && !signal.aborted) {
    const limit = Math.min(PAGE, bounds.maxMessages - out.length);
    const page = await channel.messages.fetch({ after, limit, cache: true });
    // Discord lists newest first even with `after`; sort by id to hand messages on in the order they were sent.
    const batch = [...page.values()].sort((x, y) => (BigInt(x.id) < BigInt(y.id) ? -1 : 1));
    for (const m of batch) if (m.createdTimestamp >= oldest) out.push(m);
    const last = batch.at(-1);
    if (batch.length < limit || last === undefined) break;
    after = last.id;
  }
  return out;
}

/** Options of one pass over several channels. Internal. */
export interface CollectOptions extends CatchUpBounds {
  policy: CatchUpPolicy;
  /** The adapter's normalization; undefined = skipped (own messages, bots, system messages). */
  normalize: (m: Message) => InboundMessage | undefined;
  /** Filled in as the pass goes. */
  report: CatchUpReport;
  log: Logger;
  signal: AbortSignal;
}

/**
 * Fetches what each channel in `wanted` (Discord channel id → newest stored message id) missed and returns it
 * normalized, per channel oldest first, marked per policy. A channel that fails is logged and skipped.
 */
export async function collectMissed(client: Client, wanted: ReadonlyMap<string, string | undefined>, o: CollectOptions): Promise<CatchUpInboundMessage[]> {
  const out: CatchUpInboundMessage[] = [];
  for (const [channelId, afterMessageId] of wanted) {
    if (o.signal.aborted) break;
    o.report.channels++;
    let missed: Message[];
    try {
      missed = await fetchMissedMessages(client, { channelId, afterMessageId }, o, o.signal);
    } catch (err) {
      o.report.failedChannels.push(channelId);
      o.log.warn({ err, discordChannelId: channelId }, 'discord: catch-up fetch failed for a channel');
      continue;
    }
    o.report.fetched += missed.length;
    for (const m of missed) {
      const message = o.normalize(m);
      if (message === undefined) continue;
      if (o.policy === 'stale' && !ENVELOPE_CARRIES_CATCH_UP) {
        o.report.skippedStale++;
        continue;
      }
      o.report.handedOn++;
      out.push(o.policy === 'stale' ? { ...message, catchUp: 'stale' } : message);
    }
  }
  return out;
}
