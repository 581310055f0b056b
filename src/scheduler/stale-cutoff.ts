/**
 * Stale-cutoff arithmetic. Platform message ids (Telegram per-chat integers, Discord snowflakes) are decimal
 * strings that can exceed 2^53, so they are compared as strings of digits, never as numbers.
 */
import type { SchedulableMessage, StaleCutoff } from './types.js';

const DECIMAL = /^\d+$/;

/** Compares two non-negative decimal strings numerically: <0, 0, >0. Internal helper. */
export function compareDecimal(a: string, b: string): number {
  const aa = a.replace(/^0+(?=\d)/, '');
  const bb = b.replace(/^0+(?=\d)/, '');
  if (aa.length !== bb.length) return aa.length - bb.length;
  return aa < bb ? -1 : aa > bb ? 1 : 0;
}

/**
 * True when `message` was sent at or before `cutoff`: by platform message id when both are numeric, else by
 * platform time. A message with neither is treated as fresh (nothing proves it old).
 */
export function isStale(message: SchedulableMessage, cutoff: StaleCutoff): boolean {
  const id = message.platformMessageId;
  if (id !== undefined && cutoff.platformMessageId !== undefined && DECIMAL.test(id) && DECIMAL.test(cutoff.platformMessageId)) {
    return compareDecimal(id, cutoff.platformMessageId) <= 0;
  }
  if (message.sentAt !== undefined) return message.sentAt <= cutoff.sentAt;
  return false;
}

/**
 * Tracks the highest platform message id and latest platform time seen in a session, the raw material of a
 * cutoff. Internal helper of `SessionQueue`.
 */
export class SeenHighWater {
  private id: string | undefined;
  private time = Number.NEGATIVE_INFINITY;

  observe(message: SchedulableMessage): void {
    const id = message.platformMessageId;
    if (id !== undefined && DECIMAL.test(id) && (this.id === undefined || compareDecimal(id, this.id) > 0)) this.id = id;
    if (message.sentAt !== undefined && message.sentAt > this.time) this.time = message.sentAt;
  }

  /** A cutoff covering everything seen, raised to `floor` (the /stopall command's own id and time) if given. */
  cutoff(floor: StaleCutoff | undefined, now: number): StaleCutoff {
    let id = this.id;
    let time = this.time;
    if (floor) {
      if (floor.platformMessageId !== undefined && DECIMAL.test(floor.platformMessageId)) {
        if (id === undefined || compareDecimal(floor.platformMessageId, id) > 0) id = floor.platformMessageId;
      }
      if (floor.sentAt > time) time = floor.sentAt;
    }
    if (!Number.isFinite(time)) time = now;
    return id === undefined ? { sentAt: time } : { platformMessageId: id, sentAt: time };
  }
}
