/**
 * Public surface of `src/access`: the access rules every platform shares (DM policy, pairing, groups,
 * mentions, admins, command rights). Ingress builds one `AccessControl` per channel.
 */
export {
  AccessControl,
  PairingInvalidError,
  ADMIN_COMMANDS,
  ADMIN_IN_GROUP_COMMANDS,
  type AccessControlOptions,
  type AccessDecision,
  type IgnoreReason,
  type DenyReason,
  type PairingStore,
} from './access-control.js';
export {
  resolveAccessPolicy,
  DEFAULT_ACCESS_POLICY,
  DM_POLICIES,
  GROUP_POLICIES,
  type AccessPolicy,
  type AccessPolicyInput,
  type DmPolicy,
  type GroupPolicy,
} from './policy.js';
export { newPairingCode, canonicalPairingCode, PAIRING_ALPHABET, PAIRING_CODE_LENGTH, type RandomInt } from './pairing-code.js';
