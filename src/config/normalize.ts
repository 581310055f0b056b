/**
 * From the file as written to the config the gateway consumes: cross-references checked (each problem names
 * its path, so the loader can add the line), then normalized once into one shape (lanes in object form, ids
 * as strings, empty secrets unset, URLs without a trailing slash, derived defaults filled in). The loader
 * deep-freezes the result.
 */
import type { z } from 'zod';
import { DEFAULT_LANES, RawConfigSchema, type RawConfig } from './schema.js';

type RawChannel = RawConfig['channels'][number];
type RawLane = RawConfig['lanes'][string];
type RawAgent = RawConfig['agents'][string];

/** True for addresses only this machine can reach (`127.x.x.x`, `::1`, `localhost`). */
export function isLoopbackHost(host: string): boolean {
  return ['::1', '[::1]', 'localhost'].includes(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Default of `keepRecentTokens`: 30% of the window, at most 8192 (always below the default `compactAt`). */
export function defaultKeepRecentTokens(contextWindow: number): number {
  return Math.min(8192, Math.floor(contextWindow * 0.3));
}

/** Default compaction threshold: 75% of the window, leaving room for the reply and the next message. */
export function defaultCompactAt(contextWindow: number): number {
  return Math.floor(contextWindow * 0.75);
}

function issue(ctx: z.RefinementCtx, path: (string | number)[], message: string, hint: string): void {
  ctx.addIssue({ code: 'custom', path, message, params: { hint } });
}

/** Every cross-field rule of the file. Adds one issue per problem, at the path to fix. */
function crossCheck(raw: RawConfig, ctx: z.RefinementCtx): void {
  const lanes = new Set([...Object.keys(DEFAULT_LANES), ...Object.keys(raw.lanes)]);
  const agents = Object.keys(raw.agents);
  const seenIds = new Map<string, number>();
  const seenTokens = new Map<string, number>();

  raw.channels.forEach((channel, i) => {
    const first = seenIds.get(channel.id);
    if (first !== undefined) {
      issue(ctx, ['channels', i, 'id'], `duplicate channel id "${channel.id}" (also channels[${first}])`, 'Give every channel its own id.');
    } else seenIds.set(channel.id, i);

    if (!Object.hasOwn(raw.agents, channel.agent)) {
      issue(
        ctx,
        ['channels', i, 'agent'],
        `unknown agent "${channel.agent}"`,
        agents.length ? `Defined agents: ${agents.join(', ')}.` : 'Define it under `agents:`.',
      );
    }
    if (!lanes.has(channel.lane)) {
      issue(ctx, ['channels', i, 'lane'], `unknown lane "${channel.lane}"`, `Defined lanes: ${[...lanes].join(', ')}.`);
    }
    if (channel.access.groups === 'allowlist' && ids(channel.access.groupAllow).length === 0) {
      issue(
        ctx,
        ['channels', i, 'access', 'groupAllow'],
        '`groups: allowlist` with an empty groupAllow answers no group',
        'List the allowed group / guild / channel ids, or write `groups: disabled`.',
      );
    }
    if (channel.type === 'telegram') {
      if (channel.ingress === 'webhook' && channel.webhook === undefined) {
        issue(
          ctx,
          ['channels', i, 'ingress'],
          'ingress "webhook" needs a `webhook:` block with a secretToken',
          'Add webhook: { secretToken: ..., url: https://... } or use ingress: polling.',
        );
      }
    }
    if (channel.type === 'telegram' || channel.type === 'discord') {
      // Two connections on one token fight over it (Telegram: 409 Conflict forever; Discord: session kicks).
      const key = `${channel.type}:${channel.token}`;
      const other = seenTokens.get(key);
      if (other !== undefined) {
        issue(ctx, ['channels', i, 'token'], `same bot token as channels[${other}]`, 'One bot token per channel: remove one of them.');
      } else seenTokens.set(key, i);
    }
  });

  for (const [name, agent] of Object.entries(raw.agents)) {
    const compactAt = agent.compactAt ?? defaultCompactAt(agent.contextWindow);
    if (compactAt >= agent.contextWindow) {
      issue(
        ctx,
        ['agents', name, 'compactAt'],
        `compactAt (${compactAt}) must be below contextWindow (${agent.contextWindow})`,
        'Compaction must start before the window is full.',
      );
    }
    const keepRecentTokens = agent.keepRecentTokens ?? defaultKeepRecentTokens(agent.contextWindow);
    if (keepRecentTokens >= compactAt) {
      issue(
        ctx,
        ['agents', name, agent.keepRecentTokens === undefined ? 'compactAt' : 'keepRecentTokens'],
        `keepRecentTokens (${keepRecentTokens}) must be below compactAt (${compactAt})`,
        'Otherwise compaction has nothing to summarize; lower keepRecentTokens.',
      );
    }
  }

  if (!isLoopbackHost(raw.http.host) && !raw.http.adminToken) {
    issue(
      ctx,
      ['http', 'host'],
      `binding to "${raw.http.host}" (not loopback) needs http.adminToken`,
      'Set adminToken: ${SWITCHYARD_ADMIN_TOKEN} or bind to 127.0.0.1.',
    );
  }
}

const unsetIfEmpty = (value: string | null | undefined): string | undefined => (value ? value : undefined);
/** Ids as strings; empty entries (a `"${VAR:-}"` left unset) are dropped. */
const ids = (list: ReadonlyArray<string | number>): string[] => list.map(String).filter((id) => id.trim() !== '');
const trimSlash = (url: string): string => url.replace(/\/+$/, '');

function normalizeLane(lane: RawLane): { concurrency: number; policy: 'fair' | 'fifo' | 'drain-by-model'; warnAfterMs: number } {
  return typeof lane === 'number' ? { concurrency: lane, policy: 'fair', warnAfterMs: 30_000 } : lane;
}

function normalizeAgent(agent: RawAgent) {
  return {
    ...agent,
    provider: { ...agent.provider, baseUrl: trimSlash(agent.provider.baseUrl), apiKey: unsetIfEmpty(agent.provider.apiKey) },
    compactAt: agent.compactAt ?? defaultCompactAt(agent.contextWindow),
    keepRecentTokens: agent.keepRecentTokens ?? defaultKeepRecentTokens(agent.contextWindow),
  };
}

function normalizeChannel(channel: RawChannel) {
  const { access, webhooks } = channel;
  const common = {
    access: {
      ...access,
      allowFrom: ids(access.allowFrom),
      groupAllow: ids(access.groupAllow),
      admins: ids(access.admins),
      adminRoles: ids(access.adminRoles),
    },
    webhooks: webhooks && { url: webhooks.url, secret: unsetIfEmpty(webhooks.secret) },
  };
  switch (channel.type) {
    case 'telegram':
      return {
        ...channel,
        ...common,
        apiRoot: trimSlash(channel.apiRoot),
        webhook: channel.webhook && { ...channel.webhook, path: channel.webhook.path ?? `/telegram/${channel.id}` },
      };
    case 'discord':
      return { ...channel, ...common, restApi: trimSlash(channel.restApi) };
    case 'webchat':
      return { ...channel, ...common };
  }
}

function normalize(raw: RawConfig) {
  const lanes = Object.fromEntries(
    Object.entries({ ...DEFAULT_LANES, ...raw.lanes }).map(([name, lane]) => [name, normalizeLane(lane)]),
  );
  const agents = Object.fromEntries(Object.entries(raw.agents).map(([name, agent]) => [name, normalizeAgent(agent)]));
  return {
    store: raw.store,
    http: { ...raw.http, adminToken: unsetIfEmpty(raw.http.adminToken) },
    log: raw.log,
    lanes,
    agents,
    channels: raw.channels.map(normalizeChannel),
  };
}

/** The whole file: shape, cross-references, normalization. Parse with `safeParse` and report every issue. */
export const ConfigSchema = RawConfigSchema.superRefine(crossCheck).transform(normalize);

/** Makes every level of a type read-only (the loader freezes the object to match). */
export type DeepReadonly<T> = T extends (infer U)[]
  ? ReadonlyArray<DeepReadonly<U>>
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The validated, normalized, frozen config the gateway is built from. */
export type Config = DeepReadonly<z.output<typeof ConfigSchema>>;
/** One channel block of the config. */
export type ChannelConfig = Config['channels'][number];
/** A channel block of one platform. */
export type ChannelConfigOf<T extends ChannelConfig['type']> = Extract<ChannelConfig, { type: T }>;
/** The access rules of one channel (what `AccessControl` enforces). */
export type AccessConfig = ChannelConfig['access'];
/** One agent of the config. */
export type AgentConfig = Config['agents'][string];
/** One lane of the config, in object form. */
export type LaneConfig = Config['lanes'][string];
/** The queue settings of one channel. */
export type QueueConfig = ChannelConfig['queue'];
