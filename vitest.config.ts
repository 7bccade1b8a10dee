import { defineConfig } from 'vitest/config';

// chdb holds one data directory per process and locks it against other processes, so every test
// file runs in its own forked process (vitest's default isolation) and makes its own directory.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.tmp/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
  },
});
