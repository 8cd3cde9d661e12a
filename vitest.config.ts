import { availableParallelism } from 'node:os';
import { defaultExclude, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: defaultExclude,
    // The Temporal worker's native bridge is unstable in worker threads; forks are safe.
    pool: 'forks',
    // Most test files wait on servers and CLI processes more than they compute: two files at a time even on two
    // cores (vitest's default would be one).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['tests/global-setup.ts'],
    reporters: ['default', './tests/summary-reporter.ts'],
  },
});
