import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTemporalCli } from '../client/temporalCli';
import { buildPrograms, freshBuildDir } from '../lib/prebuilt.mjs';
import { workflowBundle } from '../worker/bundle';

/**
 * Fails fast, with the fix, when the Temporal CLI that server tests need is missing; builds the workflow bundle and
 * the prebuilt CLI and thread programs once when the sources changed, so the test files' workers, threads and CLI
 * processes load prebuilt code instead of bundling or compiling each time.
 *
 * Every temporary folder of the run (data directories, keyrings, servers' databases, browser profiles) goes into one
 * folder that is removed at the end: the test processes, and every process they start, inherit its TMPDIR.
 */
export default async function setup(): Promise<() => Promise<void>> {
  findTemporalCli();
  await workflowBundle((line) => process.stderr.write(`${line}\n`));
  if (!freshBuildDir()) await buildPrograms();
  const scratch = mkdtempSync(join(tmpdir(), 'access-perm-tests-'));
  process.env.TMPDIR = scratch;
  return () => rm(scratch, { recursive: true, force: true, maxRetries: 3 });
}
