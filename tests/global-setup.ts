import { findTemporalCli } from '../client/temporalCli';
import { workflowBundle } from '../worker/bundle';

/**
 * Fails fast, with the fix, when the Temporal CLI that server tests need is missing; builds the workflow bundle once
 * when the sources changed, so the test files' workers all load the prebuilt one instead of bundling each time.
 */
export default async function setup(): Promise<void> {
  findTemporalCli();
  await workflowBundle((line) => process.stderr.write(`${line}\n`));
}
