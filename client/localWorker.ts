import type { Worker, WorkerOptions } from '@temporalio/worker';
import { keepAuditCheckpointed } from '../lib/governance';
import { createPipelineWorker } from '../worker/worker';
import { connectWorker } from './connection';
import type { TemporalServer } from './settings';

/** A pipeline worker running in this process. */
export interface LocalWorker {
  worker: Worker;
  /** Settles when the worker has stopped polling and drained (after `worker.shutdown()`); rejects if it failed. */
  done: Promise<void>;
  /** Shuts the worker down if it still runs, waits for the drain and closes its connection. */
  stop(): Promise<void>;
}

/**
 * Starts a pipeline worker on the server's namespace, on a `NativeConnection` with the server's settings.
 *
 * @example
 * const local = await startLocalWorker(server);
 * try { … } finally { await local.stop() }
 */
export async function startLocalWorker(
  server: TemporalServer,
  options: { overrides?: Partial<WorkerOptions>; log?: (line: string) => void } = {},
): Promise<LocalWorker> {
  const connection = await connectWorker(server);
  let worker: Worker;
  try {
    worker = await createPipelineWorker({ connection, namespace: server.namespace, ...options });
  } catch (e) {
    await connection.close();
    throw e;
  }
  const done = worker.run();
  // The worker holds the keyring: it keeps the audit log's signed checkpoints fresh while it runs.
  const stopCheckpoints = keepAuditCheckpointed();
  return {
    worker,
    done,
    stop: async () => {
      stopCheckpoints();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      try {
        await done;
      } finally {
        await connection.close();
      }
    },
  };
}
