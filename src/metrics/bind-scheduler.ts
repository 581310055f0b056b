/**
 * Feeds a `Metrics` from a scheduler's events, and makes the scheduler the source of the scrape-time lane and
 * queue gauges. Kept apart from `Metrics` so the metrics class has no dependency on the scheduler's event API.
 */
import type { OutcomeRecord, RunEndEvent, LaneWaitWarning, SchedulableMessage, Scheduler, Turn } from '../scheduler/index.js';
import type { Metrics } from './metrics.js';

/**
 * Lane facts of a started run. The scheduler's `Turn` object is its internal run record, which carries the lane
 * and the enqueue / start times; they are read defensively here (a missing field means "unknown", not a crash)
 * until the scheduler exposes them on the `run:start` payload.
 */
function laneFacts(turn: Turn<SchedulableMessage>): { lane: string; waitMs: number | undefined } {
  const run = turn as Turn<SchedulableMessage> & { lane?: { name?: unknown }; enqueuedAt?: unknown; startedAt?: unknown };
  const lane = typeof run.lane?.name === 'string' ? run.lane.name : 'unknown';
  const waitMs =
    typeof run.enqueuedAt === 'number' && typeof run.startedAt === 'number' && run.startedAt >= run.enqueuedAt
      ? run.startedAt - run.enqueuedAt
      : undefined;
  return { lane, waitMs };
}

/**
 * Subscribes `metrics` to `scheduler`'s `outcome`, `run:start`, `run:end`, `lane:wait` and `run:leaked` events
 * and sets it as the gauge source. Returns a function that undoes both (for reloads and tests).
 */
export function bindScheduler<M extends SchedulableMessage>(metrics: Metrics, scheduler: Scheduler<M>): () => void {
  const onOutcome = (o: OutcomeRecord): void => metrics.outcome(o.outcome, o.reason);
  const onStart = (turn: Turn<M>): void => {
    const { lane, waitMs } = laneFacts(turn);
    if (waitMs !== undefined) metrics.laneWaited(lane, waitMs);
  };
  const onEnd = (e: RunEndEvent<M>): void => {
    if (e.durationMs <= 0) return; // never started (cancelled while waiting): not a run duration
    metrics.runFinished(laneFacts(e.turn).lane, e.outcome ?? 'none', e.durationMs);
  };
  const onWait = (w: LaneWaitWarning): void => metrics.laneWaitWarning(w.lane);
  const onLeak = (): void => metrics.runLeaked();
  scheduler.on('outcome', onOutcome);
  scheduler.on('run:start', onStart);
  scheduler.on('run:end', onEnd);
  scheduler.on('lane:wait', onWait);
  scheduler.on('run:leaked', onLeak);
  metrics.setSource(scheduler);
  return () => {
    scheduler.off('outcome', onOutcome);
    scheduler.off('run:start', onStart);
    scheduler.off('run:end', onEnd);
    scheduler.off('lane:wait', onWait);
    scheduler.off('run:leaked', onLeak);
    metrics.setSource(undefined);
  };
}
