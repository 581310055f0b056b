/**
 * Prometheus metrics of one gateway, on its own prom-client `Registry` (never the global one: two gateways in
 * one process, or two tests, never share or reset each other's counters).
 *
 * Event-driven series (outcomes, durations, tokens, errors) are updated by typed methods that other areas call;
 * point-in-time series (lane active / pending, queue depth) are read from a `MetricsSource` only when
 * Prometheus scrapes, so they cost nothing between scrapes.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { COMPACTION_STATUSES, type AgentObserver, type CompactionStatus, type TokenCounts } from '../agent/observer.js';
import type { LaneStats, Outcome, OutcomeReason, SessionSnapshot } from '../scheduler/index.js';

/** Prefix of every series name. */
export const METRIC_PREFIX = 'switchyard_';

/** Results a compaction job can end with: the agent's `COMPACTION_STATUSES` (one source of truth). */
export const COMPACTION_RESULTS = COMPACTION_STATUSES;
/** How one compaction job ended (see `CompactionStatus` in src/agent/observer.ts). */
export type CompactionResult = CompactionStatus;

/** Where scrape-time gauges come from; the scheduler satisfies it (`bindScheduler` wires it). */
export interface MetricsSource {
  snapshot(): { lanes: readonly LaneStats[]; sessions: readonly SessionSnapshot[] };
}

/** Options of `Metrics`. */
export interface MetricsOptions {
  /** Also export Node process metrics (CPU, RSS, event-loop lag, GC) with the same prefix. Default true. */
  processMetrics?: boolean;
  /** Labels added to every series (e.g. `{ instance: 'a' }`). Default none. */
  defaultLabels?: Record<string, string>;
}

/** Run durations: from 50 ms to 10 min, LLM turns are long-tailed. Seconds. */
const RUN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
/** Lane waits: a healthy lane waits ~0; a saturated one waits for runs (seconds to minutes). Seconds. */
const WAIT_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

/**
 * The gateway's metrics. Construct one per gateway; areas receive it (or a narrower interface of it) and call
 * the typed methods. Label values are bounded sets (outcomes, lanes, channel ids, error codes): never session
 * keys or user ids, which would explode cardinality.
 */
export class Metrics implements AgentObserver {
  /** The registry `/metrics` serializes. */
  readonly registry: Registry;
  private source: MetricsSource | undefined;
  private readonly messages: Counter<'outcome' | 'reason'>;
  private readonly laneWait: Histogram<'lane'>;
  private readonly runDuration: Histogram<'lane' | 'outcome'>;
  private readonly laneWaitWarnings: Counter<'lane'>;
  private readonly runsLeaked: Counter;
  private readonly tokenCounter: Counter<'model' | 'kind'>;
  private readonly providerErrors: Counter<'code' | 'model' | 'retried'>;
  private readonly compactions: Counter<'result'>;
  private readonly outbound429: Counter<'channel'>;
  private readonly inbound: Counter<'channel' | 'status'>;

  constructor(options: MetricsOptions = {}) {
    this.registry = new Registry();
    if (options.defaultLabels !== undefined) this.registry.setDefaultLabels(options.defaultLabels);
    const registers = [this.registry];
    const p = METRIC_PREFIX;

    this.messages = new Counter({
      name: `${p}messages_total`,
      help: 'Admitted messages by final outcome (exactly one outcome per message) and reason.',
      labelNames: ['outcome', 'reason'],
      registers,
    });
    this.inbound = new Counter({
      name: `${p}inbound_messages_total`,
      help: 'Messages handed to ingress, by channel and ingress status (accepted, duplicate, command, denied, ignored).',
      labelNames: ['channel', 'status'],
      registers,
    });
    this.laneWait = new Histogram({
      name: `${p}lane_wait_seconds`,
      help: 'Time a run waited for a lane slot before it started.',
      labelNames: ['lane'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.runDuration = new Histogram({
      name: `${p}run_duration_seconds`,
      help: 'Run duration from lane start to end, by lane and owner outcome (none: decided before the end, e.g. abort).',
      labelNames: ['lane', 'outcome'],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.laneWaitWarnings = new Counter({
      name: `${p}lane_wait_warnings_total`,
      help: 'Times a task waited longer than its lane warning threshold.',
      labelNames: ['lane'],
      registers,
    });
    this.runsLeaked = new Counter({
      name: `${p}runs_leaked_total`,
      help: 'Aborted runs that did not unwind within their grace period (their slot was freed anyway).',
      registers,
    });
    this.tokenCounter = new Counter({
      name: `${p}tokens_total`,
      help: 'Tokens used, by model and kind (prompt, completion).',
      labelNames: ['model', 'kind'],
      registers,
    });
    this.providerErrors = new Counter({
      name: `${p}provider_errors_total`,
      help: 'Failed model provider attempts by catalog code (E_PROVIDER_*, E_CONTEXT_OVERFLOW) and model; retried="true" when another attempt followed, "false" for the final error of a request.',
      labelNames: ['code', 'model', 'retried'],
      registers,
    });
    this.compactions = new Counter({
      name: `${p}compactions_total`,
      help: 'Context compaction jobs by result (applied, discarded, nothing, failed, timeout, aborted; skipped: refused by the quota).',
      labelNames: ['result'],
      registers,
    });
    // Every result exported from the start at 0, so `rate()` and alerts see the first one.
    for (const result of COMPACTION_RESULTS) this.compactions.inc({ result }, 0);
    this.outbound429 = new Counter({
      name: `${p}outbound_rate_limited_total`,
      help: 'HTTP 429 answers from a platform API when sending, by channel id.',
      labelNames: ['channel'],
      registers,
    });

    // Scrape-time gauges: computed from one snapshot per scrape, nothing on the hot path.
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client calls collect() with the gauge as `this`
    const self = this;
    const laneGauge = (name: string, help: string, pick: (l: LaneStats) => number): void => {
      new Gauge({
        name: `${p}${name}`,
        help,
        labelNames: ['lane'],
        registers,
        collect() {
          this.reset();
          for (const lane of self.source?.snapshot().lanes ?? []) this.set({ lane: lane.name }, pick(lane));
        },
      });
    };
    laneGauge('lane_active', 'Runs and jobs holding a lane slot now.', (l) => l.active);
    laneGauge('lane_pending', 'Runs and jobs waiting for a lane slot now.', (l) => l.pending);
    laneGauge('lane_concurrency', 'Lane concurrency cap.', (l) => l.concurrency);
    laneGauge('lane_oldest_wait_seconds', 'How long the longest-waiting task of the lane has waited.', (l) => l.oldestWaitMs / 1000);
    new Gauge({
      name: `${p}queue_depth`,
      help: 'Messages pending in session queues (not yet running), summed over sessions.',
      registers,
      collect() {
        let depth = 0;
        for (const s of self.source?.snapshot().sessions ?? []) depth += s.pending;
        this.set(depth);
      },
    });
    new Gauge({
      name: `${p}sessions_busy`,
      help: 'Sessions holding work (active or pending); idle sessions are not kept in memory.',
      registers,
      collect() {
        this.set(self.source?.snapshot().sessions.length ?? 0);
      },
    });

    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: p });
  }

  /** Sets where lane and queue gauges are read from at scrape time (usually the scheduler). */
  setSource(source: MetricsSource | undefined): void {
    this.source = source;
  }

  /** Counts one message's final outcome. */
  outcome(outcome: Outcome, reason?: OutcomeReason): void {
    this.messages.inc({ outcome, reason: reason ?? '' });
  }

  /** Counts one message handed to ingress by a channel, with what ingress decided. */
  inboundMessage(channelId: string, status: string): void {
    this.inbound.inc({ channel: channelId, status });
  }

  /** Records how long a run waited for its lane (ms). */
  laneWaited(lane: string, waitMs: number): void {
    this.laneWait.observe({ lane }, Math.max(0, waitMs) / 1000);
  }

  /** Records a finished run's duration (ms) and owner outcome (`none` when decided before the end). */
  runFinished(lane: string, outcome: Outcome | 'none', durationMs: number): void {
    this.runDuration.observe({ lane, outcome }, Math.max(0, durationMs) / 1000);
  }

  /** Counts a lane wait above the lane's warning threshold. */
  laneWaitWarning(lane: string): void {
    this.laneWaitWarnings.inc({ lane });
  }

  /** Counts an aborted run that did not unwind in time. */
  runLeaked(): void {
    this.runsLeaked.inc();
  }

  /** Counts tokens a model call used (provider-reported usage when available, else the estimate). */
  tokens(model: string, usage: Partial<TokenCounts>): void {
    if (usage.prompt !== undefined && usage.prompt > 0) this.tokenCounter.inc({ model, kind: 'prompt' }, usage.prompt);
    if (usage.completion !== undefined && usage.completion > 0) {
      this.tokenCounter.inc({ model, kind: 'completion' }, usage.completion);
    }
  }

  /**
   * Counts one failed provider attempt by its catalog code (`E_PROVIDER_RATE_LIMITED`, ...) and model.
   * `retried`: another attempt followed (the user never saw it); false: the request's final error.
   */
  providerError(code: string, model = '', retried = false): void {
    this.providerErrors.inc({ code, model, retried: retried ? 'true' : 'false' });
  }

  /** Counts one compaction job by how it ended. */
  compaction(result: CompactionResult): void {
    this.compactions.inc({ result });
  }

  /** Counts one 429 a platform API answered a send with. */
  outboundRateLimited(channelId: string): void {
    this.outbound429.inc({ channel: channelId });
  }

  /** The exposition text and its content type, for `/metrics`. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
