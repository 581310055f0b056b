/**
 * Public surface of `src/webchat`: the browser chat channel, its wire protocol, the dashboard feed, and the
 * static pages both are served from.
 */
export { WebchatChannel, type WebchatChannelOptions } from './channel.js';
export { ClientFrameSchema, type ClientFrame, type ServerFrame } from './protocol.js';
export {
  SchedulerDashboardFeed,
  type DashboardFeed,
  type DashboardEvent,
  type DashboardSnapshot,
  type DashboardSession,
  type DashboardOutcome,
  type ThroughputBucket,
  type SchedulerDashboardFeedOptions,
} from './dashboard-feed.js';
export { loadWebAssets, PUBLIC_DIR, type WebAsset } from './assets.js';
