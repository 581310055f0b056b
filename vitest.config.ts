import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: forks keep native modules (better-sqlite3) out of shared worker threads.
    pool: 'forks',
  },
});
