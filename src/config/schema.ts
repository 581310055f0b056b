/**
 * The one schema of `switchyard.yaml`. `RawConfigSchema` describes what a user may write (unknown keys are
 * rejected everywhere, every key has a default where one makes sense); `ConfigSchema` (normalize.ts) adds the
 * cross-reference checks and normalizes the result into the shape the gateway consumes.
 *
 * Invariant: `RawConfigSchema` contains no transforms, so its input JSON Schema documents every key
 * (docs/CONFIG.md is generated from it and a test keeps the two in sync).
 */
import { z } from 'zod';
import { ChannelSchema } from './schema-channels.js';

/** Lane scheduling policies (strategies in the scheduler). */
export const LANE_POLICIES = ['fair', 'fifo', 'drain-by-model'] as const;
/** pino levels accepted by `log.level`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Lanes every config has; a config may resize them and add more. */
export const DEFAULT_LANES = { main: 4, subagent: 8, background: 2 } as const;

const name = (what: string) =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, `${what} names are letters, digits, "_" or "-", at most 64 characters`);

const laneSchema = z
  .union([
    z.number().int().min(1).describe('Shorthand for `{ concurrency: <n> }`.'),
    z
      .strictObject({
        concurrency: z.number().int().min(1).describe('Most runs at once in the lane.'),
        policy: z.enum(LANE_POLICIES).default('fair').describe('Order in which waiting sessions are served.'),
        warnAfterMs: z.number().int().min(0).default(30_000).describe('Log a warning when a run waits longer; 0 turns it off.'),
      })
      .describe('A lane in full.'),
  ])
  .describe('A lane: its concurrency, or its full settings.');

const providerSchema = z
  .strictObject({
    baseUrl: z.url().describe('OpenAI-compatible endpoint, ending in /v1 (OpenAI, Ollama, vLLM, LM Studio, OpenRouter).'),
    apiKey: z.string().nullish().describe('API key; leave empty for local servers.'),
    model: z.string().min(1).describe('Model name as the server knows it.'),
    timeoutMs: z.number().int().min(1000).default(120_000).describe('Per request; a slower answer is retried.'),
    maxAttempts: z.number().int().min(1).default(3).describe('Attempts on connection errors, 429 and 5xx.'),
  })
  .describe('The model server.');

const agentSchema = z
  .strictObject({
    provider: providerSchema,
    contextWindow: z.number().int().min(1024).default(32_768).describe("The model's context window, in tokens."),
    compactAt: z
      .number()
      .int()
      .min(256)
      .optional()
      .describe('Context size (tokens) at which older history is summarized in the background. Default: 75% of contextWindow.'),
    keepRecentTokens: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Most recent history (tokens) kept verbatim by compaction. Default: 30% of contextWindow, at most 8192.'),
    systemPrompt: z.string().default('You are a helpful assistant.').describe('System prompt of every run.'),
    classifier: z
      .strictObject({
        model: z.string().min(1).optional().describe('Model that scores turns. Default: the provider model.'),
        autoPinCap: z.number().int().min(0).default(8).describe('Auto-pins kept per session (the oldest is unpinned).'),
      })
      .optional()
      .describe('Post-turn significance scoring (0-3; 3 auto-pins the turn). Off when absent.'),
  })
  .describe('An agent: a model and how it is prompted.');

/** The config file as written: every key, every default, no cross-references checked yet. */
export const RawConfigSchema = z
  .strictObject({
    store: z
      .strictObject({
        path: z.string().min(1).default('./data/switchyard.db').describe('SQLite database file (relative to the working directory).'),
        pruneTtlMs: z.number().int().min(60_000).default(86_400_000).describe('Finished records older than this are pruned.'),
        maxRunAttempts: z
          .number()
          .int()
          .min(1)
          .default(3)
          .describe('Starts a run gets across restarts: a run the gateway died during this many times is failed and the user told.'),
        backup: z
          .strictObject({
            dir: z.string().min(1).default('./data/backups').describe('Folder of the nightly online backups.'),
            hour: z.number().int().min(0).max(23).default(3).describe('Local hour (0-23) the backup runs.'),
            keep: z.number().int().min(0).default(14).describe('Backups kept; 0 turns nightly backups off.'),
          })
          .prefault({})
          .describe('Nightly backups.'),
      })
      .prefault({})
      .describe('Durable storage.'),
    http: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1').describe('Bind address; anything but loopback needs adminToken.'),
        port: z.number().int().min(0).max(65_535).default(8787).describe('Port of health, metrics, admin API, webchat and dashboard.'),
        adminToken: z.string().nullish().describe('Bearer token of the admin API; without it the admin API is off.'),
      })
      .prefault({})
      .describe('The HTTP server.'),
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).default('info').describe('Least level logged.'),
        pretty: z.boolean().optional().describe('Human-readable logs. Default: when stdout is a terminal.'),
      })
      .prefault({})
      .describe('Logging.'),
    lanes: z
      .record(name('Lane'), laneSchema)
      .default({})
      .describe('Named lanes; main 4, subagent 8 and background 2 always exist unless resized here.'),
    agents: z.record(name('Agent'), agentSchema).default({}).describe('Named agents.'),
    channels: z.array(ChannelSchema).default([]).describe('Platform connections.'),
  })
  .describe('switchyard.yaml');

/** The config file as written, after defaults. */
export type RawConfig = z.infer<typeof RawConfigSchema>;
