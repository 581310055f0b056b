/**
 * The `Store` contract: everything Switchyard must not forget across a crash. `SqliteStore` is the embedded
 * default; `MemoryStore` serves tests and the in-memory benchmark. A later distributed backend implements the
 * same interface, which is why every write that may need I/O returns a promise.
 */
import type { InboundMessage } from '../channels/index.js';
import type { DeliveryLog } from '../channels/index.js';
import type { Outcome, OutcomeReason, StaleCutoffStore } from '../scheduler/index.js';

/** What `accept` found. */
export type AcceptResult =
  | { status: 'accepted'; /** Store-wide arrival order. */ seq: number }
  | { status: 'duplicate' };

/** Run lifecycle states, as committed. */
export const RUN_STATES = ['queued', 'running', 'answered', 'failed', 'cancelled', 'superseded'] as const;
/** A run lifecycle state. */
export type RunState = (typeof RUN_STATES)[number];

/** A run as stored. `runId` is chosen by the gateway (the owner message id plus the attempt number). */
export interface RunRecord {
  runId: string;
  sessionKey: string;
  /** Owner first, then the messages merged into the turn. */
  messageIds: string[];
  state: RunState;
  attempt: number;
  createdAt: number;
  updatedAt: number;
  error?: string | undefined;
}

/** The outcome of one message, as stored. */
export interface StoredOutcome {
  messageId: string;
  outcome: Outcome;
  ownerId?: string | undefined;
  runId?: string | undefined;
  reason?: OutcomeReason | undefined;
  error?: string | undefined;
  at: number;
}

/** Roles of history entries. `summary` replaces every entry before it in the prompt. */
export type HistoryRole = 'user' | 'assistant' | 'summary';

/** One entry of a session's conversation history. */
export interface HistoryEntry {
  /** Monotonic per store. */
  id: number;
  sessionKey: string;
  role: HistoryRole;
  content: string;
  /** Sender name for user entries in groups. */
  name?: string | undefined;
  /** Token count, when known (estimate or provider usage). */
  tokens?: number | undefined;
  runId?: string | undefined;
  at: number;
}

/** A history entry before it is stored. */
export type NewHistoryEntry = Omit<HistoryEntry, 'id'>;

/** A pinned memory: always in the context, through compaction. */
export interface Pin {
  id: number;
  sessionKey: string;
  text: string;
  /** `auto` pins (significance score 3) are capped per session; `manual` pins (/pin) are never evicted. */
  source: 'auto' | 'manual';
  createdAt: number;
}

/** A pairing request: an unknown DM sender got a one-time code that an admin approves. */
export interface PairingRequest {
  channelId: string;
  senderId: string;
  senderName: string;
  code: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * A committed run state change, reported after the write is durable (for run-state webhooks and metrics).
 * `previousState` is undefined when the run was created.
 */
export interface RunTransition {
  run: RunRecord;
  previousState: RunState | undefined;
}

/** Listener for committed run transitions. Called synchronously after commit; it must not throw or block. */
export type RunTransitionListener = (transition: RunTransition) => void;

/** A chat (or thread) with recent traffic, for catch-up after downtime. */
export interface RecentChat {
  chatId: string;
  threadId?: string | undefined;
  /** Newest platform message id accepted in it (decimal string on Telegram and Discord). */
  lastPlatformMessageId: string;
}

/** What recovery found at start. */
export interface RecoveryPlan {
  /**
   * Turns to resume, in the original order (by owner arrival). A run left `running` was recorded `failed` and
   * comes back as a new `queued` run `<owner>#<attempt + 1>` (the id the scheduler gives the resumed turn); a
   * run left `queued` never started and keeps its attempt. Pass `run.attempt` to `scheduler.resume`.
   */
  runs: Array<{ run: RunRecord; messages: InboundMessage[] }>;
  /** Accepted messages with no outcome and no run, in arrival order: `submit` them again, in this order, after `runs`. */
  pending: InboundMessage[];
  /** Runs that went past `maxAttempts` and were marked `failed` now: tell their users once. */
  exhausted: Array<{ run: RunRecord; messages: InboundMessage[] }>;
  /** Messages whose reply was recorded as delivered but whose outcome was not: now marked `answered`. */
  alreadyAnswered: string[];
}

/** Everything durable. All methods throw `SwitchyardError`s (`E_STORE_*`). */
export interface Store extends DeliveryLog {
  /** Durable when it resolves. A message seen before (same `id`) is reported `duplicate`, never stored twice. */
  accept(message: InboundMessage): Promise<AcceptResult>;
  /** The final outcome of messages. Idempotent per message: a second outcome for the same message is ignored. */
  recordOutcomes(outcomes: StoredOutcome[]): Promise<void>;
  /** Creates or updates a run (state transition). Transitions out of a terminal state are ignored. */
  saveRun(run: RunRecord): Promise<void>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  getMessage(id: string): Promise<{ message: InboundMessage; outcome?: StoredOutcome } | undefined>;

  /** Finds interrupted work, re-queues it (attempt + 1), fails what is past `maxAttempts`. Call once at start. */
  recover(options: { maxAttempts: number; now?: number }): Promise<RecoveryPlan>;

  appendHistory(entries: NewHistoryEntry[]): Promise<HistoryEntry[]>;
  /** The session's context: the latest summary (if any) and every entry after it, oldest first. */
  history(sessionKey: string): Promise<HistoryEntry[]>;
  /**
   * Replaces the entries up to and including `throughId` by one summary entry, only if the session's latest
   * entry is still `expectedLastId` (the history the summary was made from is unchanged). Returns whether it
   * was applied.
   */
  applySummary(sessionKey: string, summary: { content: string; tokens?: number; throughId: number; expectedLastId: number }): Promise<boolean>;

  /** Stale cutoffs (synchronous: see `StaleCutoffStore`). */
  readonly cutoffs: StaleCutoffStore;

  /** Adds a pin. With `autoCap`, an `auto` pin beyond the cap unpins the oldest auto pin of the session. */
  addPin(pin: Omit<Pin, 'id'>, options?: { autoCap?: number }): Promise<Pin>;
  removePin(sessionKey: string, pinId: number): Promise<boolean>;
  listPins(sessionKey: string): Promise<Pin[]>;

  /** Pairing requests and approved senders, per channel. */
  savePairing(request: PairingRequest): Promise<void>;
  listPairings(channelId: string, now?: number): Promise<PairingRequest[]>;
  /** Approves a pending, unexpired code: the sender becomes allowed. Returns the request, or undefined. */
  approvePairing(channelId: string, code: string, now?: number): Promise<PairingRequest | undefined>;
  isPaired(channelId: string, senderId: string): Promise<boolean>;

  /**
   * The chats (and threads) of a channel that had messages accepted since `since` (ms epoch), each with the
   * newest platform message id stored: where a catch-up after downtime starts reading history.
   */
  recentChats(channelId: string, since: number): Promise<RecentChat[]>;

  /** Deletes terminal records (messages with outcomes, finished runs, deliveries) older than `olderThan` (ms epoch). History is kept. */
  prune(olderThan: number): Promise<{ messages: number; runs: number }>;
  /** Takes an online backup into `dir`, keeping the newest `keep`. Returns the file written. */
  backup(dir: string, options?: { keep?: number }): Promise<string>;
  close(): Promise<void>;
}
