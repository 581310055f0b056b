/**
 * Catch-up after downtime: a process that died cannot resume its gateway session, so messages posted while it
 * was down are only found in channel history. For each channel, fetch the messages newer than the newest one
 * already stored, oldest first, bounded in count and age.
 *
 * The age bound is applied on the server side too: a snowflake encodes its time, so `after` is raised to the
 * snowflake of `now - maxAgeMs` and old history is never downloaded.
 */
import { SnowflakeUtil, type Client, type Message } from 'discord.js';
import type { CatchUpChannel } from './options.js';

/** Bounds of one catch-up pass. Internal. */
export interface CatchUpBounds {
  maxMessages: number;
  maxAgeMs: number;
  now: number;
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
