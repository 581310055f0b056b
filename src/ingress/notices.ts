/**
 * The words the gateway says on its own behalf: command answers and outcome notices. Kept in one place so
 * they stay consistent across platforms and are easy to review (and, later, to translate).
 */
import type { SessionSnapshot, LaneStats, StopAllResult, StopResult } from '../scheduler/index.js';
import { isSwitchyardError } from '../errors/index.js';

/** Answer to `/help`. `extra` lists commands contributed by other areas (pins, pairing). */
export function helpText(extra: ReadonlyArray<{ name: string; description: string }>): string {
  const lines = [
    'Commands:',
    '/stop: stop the reply in progress (what you sent after it is still answered)',
    '/stopall: stop everything in this chat and ignore what was sent before it',
    '/status: what this chat is waiting for',
    ...extra.map((c) => `/${c.name}: ${c.description}`),
    '/help: this list',
  ];
  return lines.join('\n');
}

/** Answer to `/stop`. */
export function stopText(result: StopResult): string {
  if (result.stopped !== undefined) {
    const n = result.stopped.messageIds.length;
    return n > 1 ? `Stopped the reply to your last ${n} messages.` : 'Stopped the reply in progress.';
  }
  if (result.cancelled.length > 0) return `Cancelled ${plural(result.cancelled.length, 'waiting message')}.`;
  return 'Nothing to stop: no reply is in progress.';
}

/** Answer to `/stopall`. */
export function stopAllText(result: StopAllResult): string {
  const parts: string[] = [];
  if (result.aborted.length > 0) parts.push(`stopped ${plural(result.aborted.length, 'reply', 'replies')}`);
  if (result.cancelled.length > 0) parts.push(`cancelled ${plural(result.cancelled.length, 'waiting message')}`);
  const did = parts.length > 0 ? `${capitalize(parts.join(' and '))}.` : 'Nothing was running.';
  return `${did} Messages sent before this one will be ignored.`;
}

/** Told to a chat whose reply an operator stopped through the admin API (the `/stop` answer's counterpart). */
export function operatorStopText(result: StopResult): string {
  if (result.stopped !== undefined) return 'An operator stopped the reply in progress.';
  return `An operator cancelled ${plural(result.cancelled.length, 'waiting message')}.`;
}

/** Told to a chat an operator cleared through the admin API (the `/stopall` answer's counterpart). */
export function operatorStopAllText(result: StopAllResult): string {
  const parts: string[] = [];
  if (result.aborted.length > 0) parts.push(`stopped ${plural(result.aborted.length, 'reply', 'replies')}`);
  if (result.cancelled.length > 0) parts.push(`cancelled ${plural(result.cancelled.length, 'waiting message')}`);
  return `An operator ${parts.join(' and ')} in this chat. Messages sent before now will be ignored.`;
}

/** Answer to `/status`. */
export function statusText(session: SessionSnapshot | undefined, lane: LaneStats | undefined): string {
  if (session === undefined) return 'Idle: nothing is running or waiting in this chat.';
  const running = session.active.filter((r) => r.state === 'running').length;
  const waitingForLane = session.active.filter((r) => r.state === 'waiting').length;
  const lines = [
    `Mode: ${session.mode}; up to ${session.effectiveMaxConcurrent} at once` +
      (session.effectiveMaxConcurrent < session.maxConcurrent ? ' (throttled: the conversation is near its context limit)' : ''),
    `Running: ${running}${waitingForLane > 0 ? `, ${waitingForLane} waiting for a free slot` : ''}`,
    `Waiting: ${plural(session.pending, 'message')}`,
  ];
  if (lane !== undefined) lines.push(`Lane ${lane.name}: ${lane.active}/${lane.concurrency} busy, ${lane.pending} queued`);
  return lines.join('\n');
}

/** Notice for a message dropped because the queue was full. */
export function droppedText(cap: number | undefined): string {
  return cap === undefined
    ? 'Your message was dropped: too many messages are waiting. Send it again in a moment.'
    : `Your message was dropped: ${cap} messages were already waiting. Send it again in a moment.`;
}

/** Notice for messages ignored because they were sent before `/stopall`. */
export function staleText(count: number): string {
  return `Ignored ${plural(count, 'message')} sent before /stopall.`;
}

/** Notice for a turn that failed: what went wrong and, for a configuration problem, what to do. */
export function failedText(error: Error | undefined): string {
  const cause = error !== undefined && 'cause' in error && error.cause instanceof Error ? error.cause : error;
  if (cause !== undefined && isSwitchyardError(cause)) {
    return `Sorry, I could not answer: ${cause.message}. ${cause.hint}`;
  }
  if (error !== undefined && isSwitchyardError(error, 'E_RUN_TIMEOUT')) return 'Sorry, that took too long and was stopped.';
  return 'Sorry, something went wrong while answering. Please try again.';
}

/** Notice for a recovered turn that failed too often. */
export function exhaustedText(attempts: number): string {
  return `Sorry, I could not answer your message after ${plural(attempts, 'attempt')} and gave up.`;
}

/** Notice for a message longer than the gateway accepts. */
export function tooLongText(length: number, limit: number): string {
  return `Your message is too long (${length} characters; the limit is ${limit}). Please send a shorter one.`;
}

/** Notice for a command the sender may not use. */
export function commandDeniedText(name: string): string {
  return `Only admins can use /${name} here.`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
