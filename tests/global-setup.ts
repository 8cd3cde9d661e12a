import { findTemporalCli } from '../client/temporalCli';
import { buildPrograms, freshBuildDir } from '../lib/prebuilt.mjs';
import { workflowBundle } from '../worker/bundle';

/**
 * Fails fast, with the fix, when the Temporal CLI that server tests need is missing; builds the workflow bundle and
 * the prebuilt CLI and thread programs once when the sources changed, so the test files' workers, threads and CLI
 * processes load prebuilt code instead of bundling or compiling each time.
 */
export default async function setup(): Promise<void> {
  findTemporalCli();
  await workflowBundle((line) => process.stderr.write(`${line}\n`));
  if (!freshBuildDir()) await buildPrograms();
}
