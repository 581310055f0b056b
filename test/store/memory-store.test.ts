import { MemoryStore } from '../../src/store/index.js';
import { describeStoreContract } from './contract.js';

describeStoreContract('MemoryStore', async (opts) => new MemoryStore(opts));
