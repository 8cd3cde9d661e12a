import { WorkflowNotFoundError } from '@temporalio/client';
import { assertRunId } from '../lib/run';
import { lifecycleWorkflowId } from '../schemas/lifecycle';
import { withClient } from './connection';
import { findServer } from './server';
import { describeServer } from './settings';
import { lifecycleHandle } from './workflows';

/** The typed handle of a run's `runLifecycle` workflow. */
export type LifecycleHandle = ReturnType<typeof lifecycleHandle>;

/**
 * Runs `fn` with the handle of the run's lifecycle workflow on the running server (the configured one or
 * `access-perm dev`'s); a run without one is named in the error, with the server.
 */
export async function withLifecycle<T>(runId: string, fn: (handle: LifecycleHandle) => Promise<T>): Promise<T> {
  const server = await findServer();
  try {
    return await withClient(server, (client) => fn(lifecycleHandle(client, assertRunId(runId))));
  } catch (e) {
    if (e instanceof WorkflowNotFoundError)
      throw new Error(
        `run ${runId} has no lifecycle workflow (${lifecycleWorkflowId(runId)}) on ${describeServer(server)}`,
      );
    throw e;
  }
}
