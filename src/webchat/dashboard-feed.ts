/**
 * What the live dashboard shows, as a feed: a `snapshot()` (lanes, busy sessions, recent outcomes, throughput)
 * plus a stream of events. `SchedulerDashboardFeed` builds it from a scheduler's events; the HTTP server
 * streams it to the page as Server-Sent Events.
 *
 * Costs nothing per message beyond two counters when nobody watches: snapshots are built on demand, and the
 * periodic snapshot timer runs only while a subscriber is attached (and is `unref()`'d).
 */
import type { Logger } from 'pino';
import { silentLogger } from '../log/index.js';
import type {
  LaneStats,
  Outcome,
  OutcomeRecord,
  RunEndEvent,
  SchedulableMessage,
  Scheduler,
  SessionSnapshot,
  Turn,
} from '../scheduler/index.js';

/** A session as the dashboard shows it. */
export interface DashboardSession {
  key: string;
  mode: string;
  lane: string;
  /** `running`: a run holds a lane slot; `waiting`: a run waits for its lane; `queued`: only pending messages. */
  state: 'running' | 'waiting' | 'queued';
  active: number;
  /** Pending messages (the queue depth). */
  depth: number;
  maxConcurrent: number;
  effectiveMaxConcurrent: number;
}

/** One recent outcome. */
export interface DashboardOutcome {
  at: number;
  messageId: string;
  sessionKey: string;
  outcome: Outcome;
  reason?: string | undefined;
  runId?: string | undefined;
  error?: string | undefined;
}

/** Outcomes in one second. */
export interface ThroughputBucket {
  /** Start of the second (ms epoch). */
  t: number;
  answered: number;
  failed: number;
  /** Every other outcome (merged, dropped, stale, cancelled, superseded). */
  other: number;
}

/** Everything the dashboard draws, at one instant. */
export interface DashboardSnapshot {
  at: number;
  draining: boolean;
  lanes: LaneStats[];
  sessions: DashboardSession[];
  /** Newest first. */
  recent: DashboardOutcome[];
  /** Oldest first, one bucket per second, gaps filled with zeros. */
  throughput: ThroughputBucket[];
}

/** Live changes between snapshots. */
export type DashboardEvent =
  | { type: 'snapshot'; snapshot: DashboardSnapshot }
  | { type: 'outcome'; outcome: DashboardOutcome }
  | { type: 'run:start'; at: number; runId: string; sessionKey: string }
  | { type: 'run:end'; at: number; runId: string; sessionKey: string; outcome: Outcome | undefined; durationMs: number };

/** The dashboard's data source. */
export interface DashboardFeed {
  snapshot(): DashboardSnapshot;
  /** Calls `listener` for each event until the returned function is called. */
  subscribe(listener: (event: DashboardEvent) => void): () => void;
}

/** Options of `SchedulerDashboardFeed`. */
export interface SchedulerDashboardFeedOptions {
  /** Recent outcomes kept. Default 50. */
  recentSize?: number;
  /** Seconds of throughput history. Default 120. */
  throughputSeconds?: number;
  /** Period of pushed snapshots while someone watches (ms). Default 1000. */
  snapshotIntervalMs?: number;
  now?: () => number;
  logger?: Logger;
}

/** Maps a scheduler session snapshot to the dashboard's view. Internal. */
function toDashboardSession(s: SessionSnapshot): DashboardSession {
  const running = s.active.filter((r) => r.state !== 'waiting').length;
  return {
    key: s.key,
    mode: s.mode,
    lane: s.lane,
    state: running > 0 ? 'running' : s.active.length > 0 ? 'waiting' : 'queued',
    active: s.active.length,
    depth: s.pending,
    maxConcurrent: s.maxConcurrent,
    effectiveMaxConcurrent: s.effectiveMaxConcurrent,
  };
}

/** A `DashboardFeed` over a scheduler's events and snapshots. Call `close()` to detach. */
export class SchedulerDashboardFeed<M extends SchedulableMessage> implements DashboardFeed {
  private readonly recent: DashboardOutcome[] = [];
  private readonly recentSize: number;
  private readonly seconds: number;
  /** Ring of per-second buckets, indexed by second % seconds. */
  private readonly ring: ThroughputBucket[];
  private readonly listeners = new Set<(event: DashboardEvent) => void>();
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly detach: () => void;

  constructor(
    private readonly scheduler: Scheduler<M>,
    options: SchedulerDashboardFeedOptions = {},
  ) {
    this.recentSize = options.recentSize ?? 50;
    this.seconds = options.throughputSeconds ?? 120;
    this.intervalMs = options.snapshotIntervalMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.log = (options.logger ?? silentLogger).child({ component: 'dashboard' });
    this.ring = Array.from({ length: this.seconds }, () => ({ t: -1, answered: 0, failed: 0, other: 0 }));

    const onOutcome = (o: OutcomeRecord): void => this.onOutcome(o);
    const onStart = (turn: Turn<M>): void => {
      if (this.listeners.size > 0) this.emit({ type: 'run:start', at: this.now(), runId: turn.id, sessionKey: turn.sessionKey });
    };
    const onEnd = (e: RunEndEvent<M>): void => {
      if (this.listeners.size === 0) return;
      this.emit({ type: 'run:end', at: this.now(), runId: e.turn.id, sessionKey: e.turn.sessionKey, outcome: e.outcome, durationMs: e.durationMs });
    };
    scheduler.on('outcome', onOutcome);
    scheduler.on('run:start', onStart);
    scheduler.on('run:end', onEnd);
    this.detach = () => {
      scheduler.off('outcome', onOutcome);
      scheduler.off('run:start', onStart);
      scheduler.off('run:end', onEnd);
    };
  }

  snapshot(): DashboardSnapshot {
    const s = this.scheduler.snapshot();
    const now = this.now();
    return {
      at: now,
      draining: s.draining,
      lanes: s.lanes,
      sessions: s.sessions.map(toDashboardSession),
      recent: this.recent.slice().reverse(),
      throughput: this.throughput(now),
    };
  }

  subscribe(listener: (event: DashboardEvent) => void): () => void {
    this.listeners.add(listener);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.emit({ type: 'snapshot', snapshot: this.snapshot() }), this.intervalMs);
      this.timer.unref?.();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** Detaches from the scheduler and drops every subscriber. */
  close(): void {
    this.detach();
    this.listeners.clear();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private onOutcome(o: OutcomeRecord): void {
    const at = this.now();
    const entry: DashboardOutcome = {
      at,
      messageId: o.messageId,
      sessionKey: o.sessionKey,
      outcome: o.outcome,
      reason: o.reason,
      runId: o.runId,
      error: o.error?.message,
    };
    this.recent.push(entry);
    if (this.recent.length > this.recentSize) this.recent.shift();
    const bucket = this.bucketAt(at);
    if (o.outcome === 'answered') bucket.answered += 1;
    else if (o.outcome === 'failed') bucket.failed += 1;
    else bucket.other += 1;
    if (this.listeners.size > 0) this.emit({ type: 'outcome', outcome: entry });
  }

  private bucketAt(at: number): ThroughputBucket {
    const second = Math.floor(at / 1000);
    const bucket = this.ring[second % this.seconds]!;
    if (bucket.t !== second * 1000) {
      bucket.t = second * 1000;
      bucket.answered = bucket.failed = bucket.other = 0;
    }
    return bucket;
  }

  private throughput(now: number): ThroughputBucket[] {
    const last = Math.floor(now / 1000);
    const out: ThroughputBucket[] = [];
    for (let sec = last - this.seconds + 1; sec <= last; sec += 1) {
      const b = this.ring[((sec % this.seconds) + this.seconds) % this.seconds]!;
      out.push(b.t === sec * 1000 ? { ...b } : { t: sec * 1000, answered: 0, failed: 0, other: 0 });
    }
    return out;
  }

  private emit(event: DashboardEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ err }, 'dashboard listener threw');
      }
    }
  }
}
