/**
 * Public surface of `src/metrics`: the gateway's Prometheus metrics on their own registry, and the binding that
 * feeds them from the scheduler.
 */
export {
  Metrics,
  METRIC_PREFIX,
  COMPACTION_RESULTS,
  type CompactionResult,
  type MetricsOptions,
  type MetricsSource,
} from './metrics.js';
export { bindScheduler } from './bind-scheduler.js';
