import { availableParallelism } from 'node:os';
import { defaultExclude, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: defaultExclude,
    // The Temporal worker's native bridge is unstable in worker threads; forks are safe.
    pool: 'forks',
    // Most test files wait on servers and CLI processes more than they compute: three files at a time on two cores
    // keeps both busy (measured: 226 s against 290 s with two, on the idle 2-core machine).
    maxWorkers: Math.max(3, availableParallelism() + 1),
    // A worker keeps its modules from one file to the next: DuckDB, onnxruntime and the Temporal SDK load once per
    // worker, not once per file (import time 13 s instead of 53 s). Files set their own data directory and keyring
    // (useTempDataDir); no module keeps state of another file's.
    isolate: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['tests/global-setup.ts'],
    reporters: ['default', './tests/summary-reporter.ts'],
  },
});
