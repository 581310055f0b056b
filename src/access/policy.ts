/**
 * The access rules of one channel, as `AccessControl` enforces them. The config's `channels[].access` block
 * is exactly this shape (normalized), so the gateway passes it through; tests and library users may give a
 * partial policy and get the same defaults as the config.
 */
import { InvalidOptionError } from '../errors/index.js';

/** DM policies: everyone, the allowlist only, or the allowlist plus senders an admin paired. */
export const DM_POLICIES = ['open', 'allowlist', 'pairing'] as const;
/** A DM policy. */
export type DmPolicy = (typeof DM_POLICIES)[number];
/** Group policies: any group, listed groups only, or none. */
export const GROUP_POLICIES = ['open', 'allowlist', 'disabled'] as const;
/** A group policy. */
export type GroupPolicy = (typeof GROUP_POLICIES)[number];

/** The access rules of one channel, fully defaulted. */
export interface AccessPolicy {
  /** Default `pairing` (webchat: `open`, set by the config). */
  readonly dm: DmPolicy;
  /** Sender ids always allowed in DMs. */
  readonly allowFrom: readonly string[];
  readonly pairing: {
    /** How long a code stays valid (ms). Default 1 h. */
    readonly codeTtlMs: number;
    /** Most unexpired codes per channel; when reached, new strangers are refused. Default 3. */
    readonly maxPending: number;
  };
  /** Default `open`. */
  readonly groups: GroupPolicy;
  /** Chat, guild, channel or thread ids allowed under `groups: allowlist`. */
  readonly groupAllow: readonly string[];
  /** In groups, only a mention, a reply to the bot or a command passes. Default true. */
  readonly requireMention: boolean;
  /** Admin user ids. */
  readonly admins: readonly string[];
  /** Discord role ids whose members are admins. */
  readonly adminRoles: readonly string[];
}

/** A policy as a caller may write it: every field optional. */
export type AccessPolicyInput = Partial<Omit<AccessPolicy, 'pairing'>> & { pairing?: Partial<AccessPolicy['pairing']> };

/** The defaults, the same as the config's for Telegram and Discord. */
export const DEFAULT_ACCESS_POLICY: AccessPolicy = Object.freeze({
  dm: 'pairing',
  allowFrom: [],
  pairing: Object.freeze({ codeTtlMs: 3_600_000, maxPending: 3 }),
  groups: 'open',
  groupAllow: [],
  requireMention: true,
  admins: [],
  adminRoles: [],
});

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidOptionError(name, `one of ${allowed.map((a) => `\`${a}\``).join(', ')}`, value);
  }
  return value as T;
}

function positiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new InvalidOptionError(name, 'an integer >= 1', value);
  return value;
}

function idList(name: string, value: unknown): readonly string[] {
  if (!Array.isArray(value)) throw new InvalidOptionError(name, 'a list of ids', value);
  return Object.freeze(value.map(String).filter((id) => id !== ''));
}

function bool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, 'true or false', value);
  return value;
}

/** Validates and defaults a policy (throws `InvalidOptionError`), frozen. */
export function resolveAccessPolicy(input: AccessPolicyInput = {}): AccessPolicy {
  const d = DEFAULT_ACCESS_POLICY;
  return Object.freeze({
    dm: oneOf('access.dm', input.dm ?? d.dm, DM_POLICIES),
    allowFrom: idList('access.allowFrom', input.allowFrom ?? d.allowFrom),
    pairing: Object.freeze({
      codeTtlMs: positiveInt('access.pairing.codeTtlMs', input.pairing?.codeTtlMs ?? d.pairing.codeTtlMs),
      maxPending: positiveInt('access.pairing.maxPending', input.pairing?.maxPending ?? d.pairing.maxPending),
    }),
    groups: oneOf('access.groups', input.groups ?? d.groups, GROUP_POLICIES),
    groupAllow: idList('access.groupAllow', input.groupAllow ?? d.groupAllow),
    requireMention: bool('access.requireMention', input.requireMention ?? d.requireMention),
    admins: idList('access.admins', input.admins ?? d.admins),
    adminRoles: idList('access.adminRoles', input.adminRoles ?? d.adminRoles),
  });
}
