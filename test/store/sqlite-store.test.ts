import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteStore } from '../../src/store/index.js';
import { describeStoreContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'swyd-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describeStoreContract('SqliteStore (file)', async (opts) => new SqliteStore({ path: join(dir, `c${++n}.db`), ...opts }));
describeStoreContract('SqliteStore (:memory:)', async (opts) => new SqliteStore({ path: ':memory:', ...opts }));
