/**
 * The composition root: `createGateway(config)` builds every part from the validated config and wires them,
 * and nothing else in Switchyard holds global state. Order of the data path (DESIGN.md):
 *
 *   adapter ──► ingress (access, commands, store.accept) ──► scheduler (sessions, lanes) ──► agent ──► adapter
 *
 * Start: HTTP listens (readiness `starting`), adapters connect, recovery re-queues what the last process left
 * (`store.recover` → `ingress.resume`), then intake opens and readiness turns `ready`. Until recovery is done,
 * messages that arrive wait at the door (`IntakeGate`), so recovered turns keep their place in each session.
 *
 * Stop (SIGTERM / SIGINT): readiness `draining`, the scheduler drains (new messages are still stored, and run
 * after the next start), active runs get until the deadline, then adapters disconnect, the HTTP server closes
 * and the store closes. What did not finish stays in the store for the next start.
 */
import { AccessControl } from '../access/index.js';
import { charCounter, createAgent, DrainByModelPolicy, pinCommands, tiktokenCounter, type Agent, type TokenCounter } from '../agent/index.js';
import { channelIdOfSessionKey, type ChannelAdapter, type InboundMessage, type IngressPort, type IngressResult } from '../channels/index.js';
import { configSecrets, type ChannelConfig, type Config } from '../config/index.js';
import { isSwitchyardError } from '../errors/index.js';
import { createHttpServer, SchedulerAdminBackend, NotFoundError, type HttpServer } from '../http/index.js';
import { Ingress, replyTargetOf, type CommandHandler } from '../ingress/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { bindScheduler, Metrics } from '../metrics/index.js';
import { Scheduler, type DrainResult, type LaneOptions, type SessionSettings } from '../scheduler/index.js';
import { RunStateWebhook, type PairingRequest, type RunTransition, type Store } from '../store/index.js';
import { SchedulerDashboardFeed, WebchatChannel } from '../webchat/index.js';
import { explainProviderError, modelHelp, probeModelServer, toAgentConfig } from './agents.js';
import { createChannelAdapter, CHANNEL_FACTORIES, type ChannelFactory } from './channels.js';
import { Maintenance } from './maintenance.js';
import { applyReload, type ReloadResult } from './reload.js';
import { openStore } from './store.js';

/** Options of `createGateway`. */
export interface GatewayOptions {
  logger?: Logger;
  /** The config file, named in hints shown to users. */
  configFile?: string;
  /** A store to use instead of opening `config.store.path` (tests). The gateway closes it on stop. */
  store?: Store;
  /** Channel factories by platform (tests, or platforms added by embedders). Default `CHANNEL_FACTORIES`. */
  channelFactories?: Readonly<Partial<Record<ChannelConfig['type'], ChannelFactory>>>;
  /** Run `store.recover` at start. Default true. */
  recover?: boolean;
  /** Attempts a recovered run gets before it is failed. Default `store.maxRunAttempts` of the config. */
  maxRunAttempts?: number;
  /** Secrets the logger scrubs; the gateway adds the config's (and a reloaded config's) to it. */
  secrets?: Set<string>;
}

/** A built gateway. */
export interface Gateway {
  readonly config: Config;
  readonly store: Store;
  readonly scheduler: Scheduler<InboundMessage>;
  readonly ingress: Ingress;
  readonly metrics: Metrics;
  readonly http: HttpServer;
  readonly logger: Logger;
  /** Base URL of the HTTP server once listening. */
  readonly url: string | undefined;
  adapter(channelId: string): ChannelAdapter | undefined;
  access(channelId: string): AccessControl | undefined;
  agent(name: string): Agent | undefined;
  /** Listens, connects the channels, recovers, opens intake. Resolves when ready. */
  start(signal?: AbortSignal): Promise<{ url: string }>;
  /** Drains (active runs get `deadlineMs`, default 10 s) and closes everything. Idempotent. */
  stop(options?: { deadlineMs?: number }): Promise<DrainResult | undefined>;
  /** Applies what can change safely at runtime; lists what needs a restart. */
  reload(next: Config): Promise<ReloadResult>;
}

/** Holds messages until recovery has re-queued older work, then lets them through. Internal. */
class IntakeGate implements IngressPort {
  private open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.open = resolve));
  constructor(private readonly ingress: IngressPort) {}
  openGate(): void {
    this.open();
  }
  async receive(message: InboundMessage, signal?: AbortSignal): Promise<IngressResult> {
    await this.opened;
    return this.ingress.receive(message, signal);
  }
}

function laneOptions(config: Config): Record<string, LaneOptions> {
  return Object.fromEntries(
    Object.entries(config.lanes).map(([name, lane]) => [
      name,
      {
        concurrency: lane.concurrency,
        policy: lane.policy === 'drain-by-model' ? new DrainByModelPolicy() : lane.policy,
        ...(lane.warnAfterMs > 0 ? { warnAfterMs: lane.warnAfterMs } : {}),
      },
    ]),
  );
}

/** Session settings of every channel and peer kind, built once per config (the scheduler caches by object). */
function settingsTable(config: Config): Map<string, Partial<SessionSettings>> {
  const table = new Map<string, Partial<SessionSettings>>();
  for (const c of config.channels) {
    const model = config.agents[c.agent]?.provider.model;
    for (const peer of ['dm', 'group'] as const) {
      table.set(`${c.id}\u0000${peer}`, {
        lane: c.lane,
        mode: c.queue.mode,
        cap: c.queue.cap,
        drop: c.queue.drop,
        debounceMs: c.queue.debounceMs,
        maxConcurrent: c.queue.maxConcurrent[peer],
        runTimeoutMs: c.queue.runTimeoutMs,
        throttleRatio: c.queue.throttleRatio,
        ...(model === undefined ? {} : { model }),
      });
    }
  }
  return table;
}

/** Builds a gateway from a validated config. Opens the store (unless given); connects nothing until `start`. */
export async function createGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.logger ?? silentLogger;
  const secrets = options.secrets;
  for (const s of configSecrets(config)) secrets?.add(s);
  // Run-state webhooks, per channel: every committed run transition of a channel's sessions is POSTed (signed)
  // to its URL. Fire and forget: a slow or dead receiver never delays a run.
  const webhooks = new Map<string, RunStateWebhook>();
  for (const c of config.channels) {
    if (c.webhooks === undefined) continue;
    if (c.webhooks.secret === undefined) {
      log.warn({ channelId: c.id }, 'run-state webhooks need `webhooks.secret` to sign their requests; they are off for this channel');
      continue;
    }
    webhooks.set(c.id, new RunStateWebhook({ url: c.webhooks.url, secret: c.webhooks.secret, logger: log.child({ component: 'webhooks', channelId: c.id }) }));
  }
  const onRunTransition = webhooks.size === 0 ? undefined : (t: RunTransition) => webhooks.get(channelIdOfSessionKey(t.run.sessionKey))?.send(t);
  const store = options.store ?? (await openStore(config, { logger: log.child({ component: 'store' }), ...(onRunTransition ? { onRunTransition } : {}) }));
  const metrics = new Metrics();
  const state = {
    config,
    settings: settingsTable(config),
    agents: new Map<string, Agent>(),
    access: new Map<string, AccessControl>(),
    url: undefined as string | undefined,
    stopping: undefined as Promise<DrainResult | undefined> | undefined,
  };
  const adapters = new Map<string, ChannelAdapter>();
  const channelOf = (channelId: string) => state.config.channels.find((c) => c.id === channelId);
  const agentOfChannel = (channelId: string) => {
    const channel = channelOf(channelId);
    return channel === undefined ? undefined : state.agents.get(channel.agent);
  };

  const scheduler: Scheduler<InboundMessage> = new Scheduler<InboundMessage>({
    lanes: laneOptions(config),
    settings: (_key, first) => state.settings.get(`${first.channelId}\u0000${first.peer}`),
    run: async (turn, ctx) => {
      const owner = turn.messages[0]!;
      const channel = channelOf(owner.channelId);
      const agent = channel === undefined ? undefined : state.agents.get(channel.agent);
      if (channel === undefined || agent === undefined) throw new NotFoundError(`Channel ${owner.channelId} (removed by a reload?)`);
      try {
        await agent.run(turn, ctx);
      } catch (err) {
        throw explainProviderError(err, () => modelHelp(channel.agent, state.config.agents[channel.agent]!, options.configFile));
      }
    },
    cutoffs: store.cutoffs,
    contextRatio: (key) => agentOfChannel(channelIdOfSessionKey(key))?.contextRatio(key) ?? 0,
    logger: log.child({ component: 'scheduler' }),
  });

  // The tokenizer's ranks cost ~0.5 s and ~90 MB when loaded. Agents count a constant or two while being built;
  // those get the cheap estimate, so the ranks load on the first real turn, not at start (start-to-ready and
  // idle memory stay low for a gateway nobody has talked to yet).
  let building = false;
  const counter: TokenCounter = { count: (text) => (building ? charCounter : tiktokenCounter).count(text) };
  const buildAgents = (cfg: Config): Map<string, Agent> => {
    building = true;
    try {
      return buildAgentsNow(cfg);
    } finally {
      building = false;
    }
  };
  const buildAgentsNow = (cfg: Config): Map<string, Agent> =>
    new Map(
      Object.entries(cfg.agents).map(([name, a]) => [
        name,
        createAgent({
          config: toAgentConfig(a),
          memory: store,
          openReply: (turn, signal) => {
            const owner = turn.messages[0]!;
            const adapter = adapters.get(owner.channelId);
            if (adapter === undefined) throw new NotFoundError(`Channel ${owner.channelId}`);
            return adapter.openReply(replyTargetOf(owner), { runId: turn.id, signal });
          },
          lane: (lane) => scheduler.lane(lane),
          counter,
          observer: metrics,
          logger: log.child({ component: 'agent', agent: name }),
        }),
      ]),
    );
  const buildAccess = (cfg: Config): Map<string, AccessControl> =>
    new Map(cfg.channels.map((c) => [c.id, new AccessControl({ channelId: c.id, policy: c.access, pairings: store, logger: log })]));
  state.agents = buildAgents(config);
  state.access = buildAccess(config);

  const pins = pinCommands(store);
  const commands: Record<string, CommandHandler> = {
    approve: {
      description: 'approve a pairing code (admins)',
      run: async (message, args) => {
        const access = state.access.get(message.channelId);
        if (access === undefined || args.trim() === '') return 'Usage: /approve <code>';
        const approved = await access.approve(args);
        return `Approved ${approved.senderName || approved.senderId}: they can talk to me now.`;
      },
    },
    pin: { description: 'remember something in this chat (/pin <text>, or reply /pin)', run: (m, a) => pins.pin(m, a) },
    unpin: { description: 'forget a pinned memory (/unpin <id>)', run: (m, a) => pins.unpin(m, a) },
    pins: { description: 'list pinned memories', run: (m) => pins.pins(m) },
  };
  const ingress = new Ingress({
    store,
    scheduler,
    channel: (id) => adapters.get(id),
    access: (id) => state.access.get(id),
    commands,
    logger: log,
  });
  const gate = new IntakeGate({
    receive: async (message, signal) => {
      const result = await ingress.receive(message, signal);
      metrics.inboundMessage(message.channelId, result.status);
      return result;
    },
  });

  const factories = options.channelFactories ?? CHANNEL_FACTORIES;
  for (const c of config.channels) {
    adapters.set(
      c.id,
      await createChannelAdapter(c, { ingress: gate, deliveries: store, recentChats: (id, since) => store.recentChats(id, since), history: (key) => store.history(key), metrics, logger: log }, factories),
    );
  }

  const unbindMetrics = bindScheduler(metrics, scheduler);
  const dashboard = new SchedulerDashboardFeed(scheduler, { logger: log });
  const baseAdmin = new SchedulerAdminBackend({
    scheduler,
    store,
    channelIds: config.channels.map((c) => c.id),
    // An operator's stop / stopall is told to the chat, as `/stop` answers in it (never throws).
    onStopped: (sessionKey, event) => void ingress.operatorStopped(sessionKey, event),
  });
  // Approvals go through AccessControl, so codes typed by humans (case, spaces) work and are logged once.
  const admin = Object.assign(Object.create(baseAdmin) as SchedulerAdminBackend<InboundMessage>, {
    approvePairing: async (channelId: string, code: string): Promise<PairingRequest | undefined> => {
      const access = state.access.get(channelId);
      if (access === undefined) throw new NotFoundError(`Channel ${JSON.stringify(channelId)}`);
      try {
        return await access.approve(code);
      } catch (err) {
        if (isSwitchyardError(err, 'E_PAIRING_INVALID')) return undefined;
        throw err;
      }
    },
  });
  const webchat = [...adapters.values()].find((a): a is WebchatChannel => a instanceof WebchatChannel);
  const http = createHttpServer({
    host: config.http.host,
    port: config.http.port,
    adminToken: config.http.adminToken,
    logger: log,
    metrics,
    admin,
    dashboard,
    ...(webchat ? { webchat } : {}),
  });
  // Webhook-mode channels (Telegram) receive updates on the gateway's own HTTP server.
  for (const adapter of adapters.values()) {
    const hook = adapter as Partial<{ webhookPath: string | undefined; webhookFastify: (req: unknown, reply: unknown) => Promise<unknown> }>;
    if (typeof hook.webhookPath === 'string' && typeof hook.webhookFastify === 'function') {
      http.app.post(hook.webhookPath, hook.webhookFastify);
    }
  }
  const maintenance = new Maintenance({ store, pruneTtlMs: config.store.pruneTtlMs, backup: config.store.backup, logger: log });

  const gateway: Gateway = {
    get config() {
      return state.config;
    },
    store,
    scheduler,
    ingress,
    metrics,
    http,
    logger: log,
    get url() {
      return state.url;
    },
    adapter: (id) => adapters.get(id),
    access: (id) => state.access.get(id),
    agent: (name) => state.agents.get(name),

    async start(signal) {
      const t0 = performance.now();
      const { url } = await http.listen();
      state.url = url;
      // Recovery first: the work the last process left is queued before any new message can arrive, so it keeps
      // its place in each session. Then intake opens and the adapters connect. (Starting adapters first would
      // deadlock: an adapter's start may wait for its catch-up messages to be accepted, behind a closed gate.)
      // Replies of recovered runs do not need a connected adapter: REST / Bot API calls work before the gateway.
      if (options.recover !== false) {
        const plan = await store.recover({ maxAttempts: options.maxRunAttempts ?? config.store.maxRunAttempts });
        ingress.resume(plan);
        const resumed = plan.runs.length + plan.pending.length;
        if (resumed > 0 || plan.exhausted.length > 0) log.info({ resumed, exhausted: plan.exhausted.length }, 'recovered unfinished work');
      }
      gate.openGate();
      const results = await Promise.allSettled([...adapters.values()].map((a) => a.start(signal)));
      results.forEach((r, i) => {
        if (r.status === 'rejected') {
          const id = [...adapters.keys()][i];
          log.error({ err: r.reason, channelId: id }, 'channel failed to start; the others keep running');
        }
      });
      maintenance.start();
      http.setReadiness('ready');
      log.info({ url, channels: [...adapters.keys()], startMs: Math.round(performance.now() - t0) }, 'switchyard ready');
      // The tokenizer ranks (~0.3-0.5 s of CPU, 70-90 MB) load on the first turn, not here: an idle gateway
      // stays small (issue 7: idle RSS <= 80 MB). The first turn after a start pays the load once.
      for (const [name, a] of Object.entries(state.config.agents)) {
        void probeModelServer(a.provider.baseUrl, a.provider.apiKey).then((ok) => {
          if (!ok) log.warn({ agent: name, baseUrl: a.provider.baseUrl, model: a.provider.model }, modelHelp(name, a, options.configFile));
        });
      }
      return { url };
    },

    stop(stopOptions = {}) {
      state.stopping ??= (async () => {
        http.setReadiness('draining');
        let result: DrainResult | undefined;
        try {
          result = await scheduler.drain({ deadlineMs: stopOptions.deadlineMs ?? 10_000 });
          // A store refusing writes (disk full) must not hold the shutdown: what is still unwritten after one
          // last try is redone by recovery at the next start.
          ingress.stopRetrying();
          await ingress.flush();
          log.info({ unfinished: result.unfinished.length, aborted: result.aborted.length, leaked: result.leaked }, 'drained');
        } finally {
          ingress.stopRetrying();
          gate.openGate(); // a message waiting at the door is stored (and run after the next start)
          await Promise.allSettled([...adapters.values()].map((a) => a.stop()));
          await ingress.flush();
          unbindMetrics();
          dashboard.close();
          await maintenance.stop();
          await http.close();
          await store.close();
          await Promise.allSettled([...webhooks.values()].map((w) => w.close({ deadlineMs: 2_000 })));
        }
        return result;
      })();
      return state.stopping;
    },

    async reload(next) {
      for (const s of configSecrets(next)) secrets?.add(s);
      const { effective, ...result } = applyReload(state.config, next, { scheduler, log });
      if (result.applied.includes('agents')) state.agents = buildAgents(effective);
      if (result.applied.includes('access')) state.access = buildAccess(effective);
      state.settings = settingsTable(effective);
      state.config = effective;
      log.level = effective.log.level;
      return result;
    },
  };
  return gateway;
}
