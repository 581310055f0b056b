/**
 * Public surface of `src/config`: load and validate `switchyard.yaml` into a frozen, normalized `Config`.
 * The schema is the single source of truth: docs/CONFIG.md is generated from it (`renderConfigReference`).
 */
export { loadConfig, parseConfig, configSecrets, formatPath, DEFAULT_CONFIG_FILE } from './load.js';
export { ConfigError, formatProblem, type ConfigProblem, type ConfigErrorCode } from './errors.js';
export { expandString, type ConfigEnv } from './interpolate.js';
export {
  ConfigSchema,
  isLoopbackHost,
  defaultCompactAt,
  defaultKeepRecentTokens,
  type Config,
  type ChannelConfig,
  type ChannelConfigOf,
  type AccessConfig,
  type AgentConfig,
  type LaneConfig,
  type QueueConfig,
  type DeepReadonly,
} from './normalize.js';
export { RawConfigSchema, DEFAULT_LANES as CONFIG_DEFAULT_LANES, LANE_POLICIES, LOG_LEVELS, type RawConfig } from './schema.js';
export { CHANNEL_TYPES, DM_POLICIES, GROUP_POLICIES, type ChannelType } from './schema-channels.js';
export { renderConfigReference } from './reference.js';
