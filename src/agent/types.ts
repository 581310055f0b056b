/**
 * The narrow dependencies of the agent runtime, so it can run on any `Store` (or a test double of just these
 * methods) and on any lane that can schedule a background job.
 */
import type { Store } from '../store/index.js';

/** The part of the store the agent uses: history, summaries, pins. */
export type AgentMemory = Pick<Store, 'history' | 'appendHistory' | 'applySummary' | 'listPins' | 'addPin' | 'removePin'>;

/** Options of a background job (the Scheduler's `Lane.schedule` options). */
export interface BackgroundJobOptions {
  model?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Where background jobs run: the Scheduler's `background` lane (`scheduler.lane('background')`). */
export interface BackgroundLane {
  schedule<T>(key: string, job: (signal: AbortSignal) => Promise<T> | T, options?: BackgroundJobOptions): Promise<T>;
}
