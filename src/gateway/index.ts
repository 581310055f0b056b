/**
 * Public surface of `src/gateway`: the composition root (`createGateway`), what `switchyard start` runs
 * (`startGateway`), and the parts it is made of that tools reuse (store opening, logger, maintenance, reload).
 */
export { createGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { startGateway, type StartGatewayOptions } from './start.js';
export { openStore, type OpenStoreOptions } from './store.js';
export { createGatewayLogger, scrub, type GatewayLoggerOptions } from './logger.js';
export { Maintenance, msUntilHour, type MaintenanceOptions } from './maintenance.js';
export { applyReload, type ReloadResult } from './reload.js';
export { createChannelAdapter, CHANNEL_FACTORIES, type ChannelFactory, type ChannelDeps } from './channels.js';
export { toAgentConfig, modelHelp, ModelUnreachableError, probeModelServer } from './agents.js';
