/**
 * `startGateway`: what `switchyard start` runs: the root logger (with the config's secrets scrubbed), the
 * gateway, and `start()`. Kept apart from the CLI so the CLI's other commands do not load the whole gateway.
 */
import type { Config, ConfigEnv } from '../config/index.js';
import { createGateway, type Gateway, type GatewayOptions } from './gateway.js';
import { createGatewayLogger } from './logger.js';

/** Options of `startGateway`. */
export interface StartGatewayOptions extends Omit<GatewayOptions, 'logger' | 'secrets'> {
  env?: ConfigEnv;
  /** Where log lines go. Default stdout. */
  logDestination?: { write(line: string): unknown };
}

/** Builds the logger and the gateway, starts it, and resolves with the running gateway. */
export async function startGateway(config: Config, options: StartGatewayOptions = {}): Promise<Gateway> {
  const secrets = new Set<string>();
  const logger = createGatewayLogger({
    level: config.log.level,
    pretty: config.log.pretty,
    secrets,
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  });
  const gateway = await createGateway(config, { ...options, logger, secrets });
  try {
    await gateway.start();
  } catch (err) {
    logger.fatal({ err }, 'start failed');
    await gateway.stop({ deadlineMs: 0 }).catch(() => undefined);
    throw err;
  }
  return gateway;
}
