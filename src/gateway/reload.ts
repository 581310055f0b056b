/**
 * SIGHUP reload: what can change safely in a running gateway, and what needs a restart.
 *
 * Applied at once: `log.level`; lane sizes (`lanes.<name>` concurrency, resized live); agents (rebuilt: new
 * turns use the new prompt, model, window; running turns finish with the old ones); a channel's `queue`,
 * `access`, `agent` and `lane` (new sessions take the new settings; a session busy now keeps its settings
 * until it goes idle, which is soon: no run is aborted by a reload).
 *
 * Needs a restart (reported, the running value is kept): `store`, `http`, lanes added, removed or with a new
 * policy, channels added or removed, and a channel's connection (type, token, API URLs, ingress, webhook,
 * slash commands, streaming, catch-up, group scope).
 */
import { isDeepStrictEqual } from 'node:util';
import type { ChannelConfig, Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { SchedulableMessage, Scheduler } from '../scheduler/index.js';

/** What a reload did. */
export interface ReloadResult {
  /** Config parts now in effect (`log.level`, `lanes.main`, `agents`, `access`, `channels.<id>`). */
  applied: string[];
  /** Config parts that changed but keep their running value until a restart. */
  needsRestart: string[];
}

/** Keys of a channel block that can change without reconnecting. */
const LIVE_CHANNEL_KEYS = new Set(['queue', 'access', 'agent', 'lane', 'webhooks']);

function connectionPart(channel: ChannelConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(channel)) if (!LIVE_CHANNEL_KEYS.has(k)) out[k] = v;
  out.groupScope = channel.queue.groupScope;
  return out;
}

/**
 * Compares `prev` and `next`, resizes lanes on `scheduler`, and returns what was applied plus the config now
 * in effect (`next`, with the parts that need a restart kept at their running value).
 */
export function applyReload<M extends SchedulableMessage>(
  prev: Config,
  next: Config,
  deps: { scheduler: Scheduler<M>; log: Logger },
): ReloadResult & { effective: Config } {
  const applied: string[] = [];
  const needsRestart: string[] = [];
  if (!isDeepStrictEqual(prev.store, next.store)) needsRestart.push('store');
  if (!isDeepStrictEqual(prev.http, next.http)) needsRestart.push('http');
  if (prev.log.level !== next.log.level) applied.push('log.level');

  const running = new Set(deps.scheduler.laneNames());
  const lanes: Record<string, Config['lanes'][string]> = { ...prev.lanes };
  for (const [name, lane] of Object.entries(next.lanes)) {
    const old = prev.lanes[name];
    if (old === undefined || !running.has(name) || old.policy !== lane.policy) {
      needsRestart.push(`lanes.${name}`);
      continue;
    }
    if (old.concurrency !== lane.concurrency) {
      deps.scheduler.lane(name).resize(lane.concurrency);
      applied.push(`lanes.${name}`);
    }
    lanes[name] = { ...old, concurrency: lane.concurrency, warnAfterMs: lane.warnAfterMs };
  }
  for (const name of Object.keys(prev.lanes)) if (!(name in next.lanes)) needsRestart.push(`lanes.${name}`);

  if (!isDeepStrictEqual(prev.agents, next.agents)) applied.push('agents');

  const channels: ChannelConfig[] = [];
  let accessChanged = false;
  for (const old of prev.channels) {
    const fresh = next.channels.find((c) => c.id === old.id);
    if (fresh === undefined) {
      needsRestart.push(`channels.${old.id}`);
      channels.push(old);
      continue;
    }
    if (!isDeepStrictEqual(connectionPart(old), connectionPart(fresh))) {
      needsRestart.push(`channels.${old.id}`);
      channels.push(old);
      continue;
    }
    // A lane the running scheduler lacks cannot be used before a restart.
    const usable = running.has(fresh.lane) ? fresh : { ...fresh, lane: old.lane };
    if (!isDeepStrictEqual(old, usable)) applied.push(`channels.${old.id}`);
    if (!isDeepStrictEqual(old.access, usable.access)) accessChanged = true;
    channels.push(usable);
  }
  for (const c of next.channels) if (!prev.channels.some((o) => o.id === c.id)) needsRestart.push(`channels.${c.id}`);
  if (accessChanged) applied.push('access');

  const effective = Object.freeze({ ...next, store: prev.store, http: prev.http, lanes: Object.freeze(lanes), channels: Object.freeze(channels) }) as Config;
  if (needsRestart.length > 0) deps.log.warn({ needsRestart }, 'reload: these changes take effect after a restart');
  return { applied, needsRestart, effective };
}
