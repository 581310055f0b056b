/**
 * Opening the configured store: the SQLite file (its folder is created), or `:memory:` for throwaway runs.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Config } from '../config/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { SqliteStore, type RunTransitionListener } from '../store/index.js';

/** Options of `openStore`. */
export interface OpenStoreOptions {
  logger?: Logger;
  onRunTransition?: RunTransitionListener;
}

/** Opens `config.store.path` (relative paths resolve against the working directory). Throws `E_STORE_*`. */
export async function openStore(config: Config, options: OpenStoreOptions = {}): Promise<SqliteStore> {
  const path = config.store.path === ':memory:' ? ':memory:' : resolve(config.store.path);
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  return new SqliteStore({ path, logger: options.logger ?? silentLogger, onRunTransition: options.onRunTransition });
}
