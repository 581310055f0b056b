/**
 * `AccessControl`: who may talk to the bot on one channel, and who may run which command. Shared by every
 * platform (Telegram, Discord, webchat): ingress calls `decide` on each inbound message before it is stored,
 * and `mayRunCommand` before it runs a command.
 *
 * Rules, in order:
 * - Groups: `groups: disabled` ignores every group message; `allowlist` ignores groups whose chat, thread (or
 *   extra scope ids, e.g. the Discord guild) are not listed; then with `requireMention` only a mention, a reply
 *   to the bot or a command passes (others are ignored: the bot was not addressed).
 * - DMs: admins and `allowFrom` always pass; `open` lets everyone in; `allowlist` denies the rest without a
 *   notice (a private bot does not answer strangers); `pairing` lets paired senders in and gives a stranger a
 *   one-time code to pass to an admin. At most `maxPending` unexpired codes exist per channel: when full, a new
 *   stranger is refused (older codes are never evicted, so a code already handed out keeps working and a flood
 *   of strangers cannot push out a real request). A stranger who writes again gets the same code, reminded at
 *   most once per `remindAfterMs` so a chatty stranger cannot make the bot spam.
 */
import type { Logger } from 'pino';
import type { InboundMessage } from '../channels/index.js';
import { SwitchyardError } from '../errors/index.js';
import { silentLogger } from '../log/index.js';
import type { PairingRequest, Store } from '../store/index.js';
import { canonicalPairingCode, newPairingCode, type RandomInt } from './pairing-code.js';
import { resolveAccessPolicy, type AccessPolicy, type AccessPolicyInput } from './policy.js';

/** What the access check decided about one message. */
export type AccessDecision =
  | { kind: 'allow' }
  /** Not for the bot (no mention in a group, a group not served): dropped silently. */
  | { kind: 'ignore'; reason: IgnoreReason }
  /** For the bot but not allowed; `notice`, when set, is sent back to the sender. */
  | { kind: 'deny'; reason: DenyReason; notice?: string };

/** Why a message was ignored. */
export type IgnoreReason = 'groups-disabled' | 'group-not-allowed' | 'not-mentioned';
/** Why a message was denied. */
export type DenyReason = 'not-allowed' | 'pairing-pending' | 'pairing-full';

/** The part of the store pairing needs. */
export type PairingStore = Pick<Store, 'savePairing' | 'listPairings' | 'approvePairing' | 'isPaired'>;

/** Commands only admins may run (everywhere), and those admin-only in groups. */
export const ADMIN_COMMANDS: ReadonlySet<string> = new Set(['approve']);
/** Commands admin-only in groups: `/stopall` there stops everyone's work, not just the sender's. */
export const ADMIN_IN_GROUP_COMMANDS: ReadonlySet<string> = new Set(['stopall']);

/** Options of `AccessControl`. */
export interface AccessControlOptions {
  /** Config id of the channel the rules apply to. */
  channelId: string;
  /** The rules (a partial policy is defaulted like the config). */
  policy: AccessPolicyInput;
  /** Where pairing codes and paired senders live. */
  pairings: PairingStore;
  /**
   * Extra ids a group message belongs to, matched against `groupAllow` besides `chatId` and `threadId` (the
   * Discord adapter passes the guild id here). Default none.
   */
  scopeIds?: (message: InboundMessage) => readonly string[];
  /** Least time between two reminders of a pending code to the same sender (ms). Default 60 000. */
  remindAfterMs?: number;
  /** Clock (ms). Default `Date.now`. */
  now?: () => number;
  /** Randomness for codes. Default `crypto.randomInt`. */
  random?: RandomInt;
  logger?: Logger;
}

/** A pairing code was unknown, mistyped or expired. */
export class PairingInvalidError extends SwitchyardError {
  constructor(channelId: string, code: string) {
    super('E_PAIRING_INVALID', `No pending pairing code "${code}" on channel ${channelId} (unknown or expired)`, {
      context: { channelId },
    });
  }
}

/** Bounds the reminder map, so strangers cannot grow memory without limit. */
const MAX_REMINDERS = 10_000;

/** Access control of one channel. See the module comment for the rules. */
export class AccessControl {
  /** The channel this instance guards. */
  readonly channelId: string;
  /** The resolved, frozen rules. */
  readonly policy: AccessPolicy;
  private readonly pairings: PairingStore;
  private readonly scopeIds: (message: InboundMessage) => readonly string[];
  private readonly remindAfterMs: number;
  private readonly now: () => number;
  private readonly random: RandomInt | undefined;
  private readonly log: Logger;
  private readonly allowFrom: ReadonlySet<string>;
  private readonly admins: ReadonlySet<string>;
  private readonly adminRoles: ReadonlySet<string>;
  private readonly groupAllow: ReadonlySet<string>;
  /** Sender → when they were last told their code (or that the queue is full). */
  private readonly reminded = new Map<string, number>();
  /**
   * Issuing a code is read-count-then-write on the store; chaining issues per channel keeps two messages of
   * the same stranger from getting two codes and keeps the pending count within `maxPending`.
   */
  private issuing: Promise<unknown> = Promise.resolve();

  constructor(options: AccessControlOptions) {
    this.channelId = options.channelId;
    this.policy = resolveAccessPolicy(options.policy);
    this.pairings = options.pairings;
    this.scopeIds = options.scopeIds ?? (() => []);
    this.remindAfterMs = options.remindAfterMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.random = options.random;
    this.log = (options.logger ?? silentLogger).child({ channelId: options.channelId, area: 'access' });
    this.allowFrom = new Set(this.policy.allowFrom);
    this.admins = new Set(this.policy.admins);
    this.adminRoles = new Set(this.policy.adminRoles);
    this.groupAllow = new Set(this.policy.groupAllow);
  }

  /** Whether the sender is an admin of this channel: by user id, or by a Discord role. */
  isAdmin(message: Pick<InboundMessage, 'senderId' | 'senderRoles'>): boolean {
    if (this.admins.has(message.senderId)) return true;
    return message.senderRoles?.some((role) => this.adminRoles.has(role)) ?? false;
  }

  /**
   * Whether an allowed sender may run the command `name` here: `/approve` is admin-only; `/stopall` is
   * admin-only in groups (in a DM it only touches the sender's own session); everything else is allowed.
   */
  mayRunCommand(message: Pick<InboundMessage, 'senderId' | 'senderRoles' | 'peer'>, name: string): boolean {
    const command = name.toLowerCase();
    if (ADMIN_COMMANDS.has(command)) return this.isAdmin(message);
    if (ADMIN_IN_GROUP_COMMANDS.has(command) && message.peer === 'group') return this.isAdmin(message);
    return true;
  }

  /** Decides whether a message reaches the bot. Never throws for a well-formed message except on store errors. */
  async decide(message: InboundMessage): Promise<AccessDecision> {
    if (message.peer === 'group') return this.decideGroup(message);
    if (this.isAdmin(message) || this.allowFrom.has(message.senderId)) return ALLOW;
    switch (this.policy.dm) {
      case 'open':
        return ALLOW;
      case 'allowlist':
        return { kind: 'deny', reason: 'not-allowed' };
      case 'pairing':
        if (await this.pairings.isPaired(this.channelId, message.senderId)) return ALLOW;
        return this.pairingDecision(message);
    }
  }

  private decideGroup(message: InboundMessage): AccessDecision {
    if (this.policy.groups === 'disabled') return { kind: 'ignore', reason: 'groups-disabled' };
    if (this.policy.groups === 'allowlist' && !this.groupAllowed(message)) return { kind: 'ignore', reason: 'group-not-allowed' };
    if (this.policy.requireMention && !message.mentionsBot && !message.replyToBot && message.command === undefined) {
      return { kind: 'ignore', reason: 'not-mentioned' };
    }
    return ALLOW;
  }

  private groupAllowed(message: InboundMessage): boolean {
    if (this.groupAllow.has(message.chatId)) return true;
    if (message.threadId !== undefined && this.groupAllow.has(message.threadId)) return true;
    return this.scopeIds(message).some((id) => this.groupAllow.has(id));
  }

  private pairingDecision(message: InboundMessage): Promise<AccessDecision> {
    const next = this.issuing.then(() => this.issueOrRemind(message));
    // The chain must survive a failed issue (store error): the error goes to this caller only.
    this.issuing = next.catch(() => undefined);
    return next;
  }

  private async issueOrRemind(message: InboundMessage): Promise<AccessDecision> {
    const now = this.now();
    const pending = await this.pairings.listPairings(this.channelId, now);
    const own = pending.find((p) => p.senderId === message.senderId);
    if (own) {
      return this.remind(message.senderId, now, {
        kind: 'deny',
        reason: 'pairing-pending',
        notice: pendingNotice(own.code, own.expiresAt - now),
      });
    }
    if (pending.length >= this.policy.pairing.maxPending) {
      this.log.warn({ senderId: message.senderId, pending: pending.length }, 'pairing: too many pending codes, stranger refused');
      return this.remind(message.senderId, now, {
        kind: 'deny',
        reason: 'pairing-full',
        notice: 'This bot only talks to people an admin has approved, and too many requests are waiting right now. Please try again later.',
      });
    }
    const taken = new Set(pending.map((p) => p.code));
    let code = newPairingCode(this.random);
    for (let i = 0; taken.has(code) && i < 10; i++) code = newPairingCode(this.random);
    const request: PairingRequest = {
      channelId: this.channelId,
      senderId: message.senderId,
      senderName: message.senderName,
      code,
      createdAt: now,
      expiresAt: now + this.policy.pairing.codeTtlMs,
    };
    await this.pairings.savePairing(request);
    this.log.info({ senderId: message.senderId, senderName: message.senderName, expiresAt: request.expiresAt }, 'pairing: code issued');
    this.noteReminded(message.senderId, now);
    return { kind: 'deny', reason: 'pairing-pending', notice: firstNotice(code, this.policy.pairing.codeTtlMs) };
  }

  /** The decision with its notice only if this sender was not told within `remindAfterMs`. */
  private remind(senderId: string, now: number, decision: AccessDecision & { kind: 'deny' }): AccessDecision {
    const last = this.reminded.get(senderId);
    if (last !== undefined && now - last < this.remindAfterMs) return { kind: 'deny', reason: decision.reason };
    this.noteReminded(senderId, now);
    return decision;
  }

  private noteReminded(senderId: string, now: number): void {
    this.reminded.delete(senderId);
    this.reminded.set(senderId, now);
    // Map iteration is insertion order: the first key is the least recently reminded sender.
    if (this.reminded.size > MAX_REMINDERS) this.reminded.delete(this.reminded.keys().next().value!);
  }

  /** Unexpired pairing requests of this channel, oldest first. */
  pending(): Promise<PairingRequest[]> {
    return this.pairings.listPairings(this.channelId, this.now());
  }

  /**
   * Approves a code (as typed by a human: case, spaces and dashes do not matter): the sender becomes allowed.
   * Throws `PairingInvalidError` (E_PAIRING_INVALID) when no unexpired request has that code.
   */
  async approve(code: string): Promise<PairingRequest> {
    const canonical = canonicalPairingCode(code);
    const approved = canonical === undefined ? undefined : await this.pairings.approvePairing(this.channelId, canonical, this.now());
    if (!approved) throw new PairingInvalidError(this.channelId, code.trim());
    this.reminded.delete(approved.senderId);
    this.log.info({ senderId: approved.senderId, senderName: approved.senderName }, 'pairing: approved');
    return approved;
  }
}

const ALLOW: AccessDecision = Object.freeze({ kind: 'allow' });

function minutes(ms: number): string {
  const m = Math.max(1, Math.round(ms / 60_000));
  return m === 1 ? '1 minute' : `${m} minutes`;
}

function firstNotice(code: string, ttlMs: number): string {
  return `Hi! This bot only talks to people an admin has approved. Your pairing code is ${code} (valid for ${minutes(ttlMs)}). Send it to an admin; they approve it with /approve ${code}.`;
}

function pendingNotice(code: string, leftMs: number): string {
  return `Your pairing code ${code} is still waiting for an admin's approval (valid for ${minutes(leftMs)} more). An admin approves it with /approve ${code}.`;
}
