/**
 * Public vocabulary of the scheduler: messages it schedules, turns it runs, the outcomes it reports, the
 * stale cutoff it enforces. Platform-free: the scheduler never learns what Telegram or Discord is.
 */

/**
 * The least the scheduler needs to know about a message. Any richer envelope (the gateway's
 * `InboundMessage`) can be scheduled as is: the scheduler is generic over it and never copies it.
 */
export interface SchedulableMessage {
  /** Globally unique message id. */
  readonly id: string;
  /** The session the message belongs to. */
  readonly sessionKey: string;
  /** Who sent it: debounce merges only messages of the same sender. */
  readonly senderId: string;
  /** Platform message id (a decimal string on Telegram and Discord); compared numerically for stale cutoffs. */
  readonly platformMessageId?: string | undefined;
  /** Platform send time, ms since the epoch; the fallback for stale cutoffs. */
  readonly sentAt?: number | undefined;
}

/** Every way an admitted message can end. Exactly one per message. */
export const OUTCOMES = ['answered', 'merged', 'dropped', 'stale', 'cancelled', 'superseded', 'failed'] as const;
/** Every way an admitted message can end. */
export type Outcome = (typeof OUTCOMES)[number];

/** Why a message was dropped, cancelled or failed, for the notice the user gets. */
export type OutcomeReason =
  | 'cap' // the queue was full (drop policy old / new / summarize)
  | 'stop' // /stop
  | 'stopall' // /stopall
  | 'interrupt' // a newer message in interrupt mode
  | 'timeout' // the run exceeded its timeout
  | 'error' // the run threw or rejected
  | 'stale'; // sent before a /stopall cutoff

/** The final word on one message. */
export interface OutcomeRecord {
  messageId: string;
  sessionKey: string;
  outcome: Outcome;
  /** For `merged`: the message that owns the turn this one was merged into. */
  ownerId?: string | undefined;
  /** The run that carried the message, when one did. */
  runId?: string | undefined;
  reason?: OutcomeReason | undefined;
  /** For `failed`: what went wrong. */
  error?: Error | undefined;
  /** For `dropped` with policy `summarize`: the one-line summary that will be prepended to the next turn. */
  summary?: string | undefined;
}

/**
 * The stale cutoff `/stopall` leaves behind: a message sent at or before it (by platform message id when both
 * ids are numeric, else by platform time) is `stale`. The first fresh message clears it.
 */
export interface StaleCutoff {
  /** Highest platform message id seen when the cutoff was set (decimal string), if any. */
  platformMessageId?: string | undefined;
  /** Latest platform send time seen when the cutoff was set, ms since the epoch. */
  sentAt: number;
}

/**
 * Durable home of stale cutoffs, injected into the scheduler. Synchronous on purpose: a session rebuilt on
 * demand must know its cutoff before it admits the first message. A remote backend supplies a cached view.
 */
export interface StaleCutoffStore {
  get(sessionKey: string): StaleCutoff | undefined;
  set(sessionKey: string, cutoff: StaleCutoff | undefined): void;
}
