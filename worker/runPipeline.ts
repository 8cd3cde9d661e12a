import { resolve } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { loadConfig } from '../lib/config';
import { assertRunId, newRunId } from '../lib/paths';
import type { PipelineProgress, PipelineResult } from '../schemas/run';
import { progressQuery, TASK_QUEUE } from '../workflows/definitions';
import { resolveServer } from './environment';
import { createPipelineWorker } from './worker';

export interface RunPipelineOptions {
  configPath: string;
  runId?: string;
  /** The caller's access-perm token; the workflow checks it for `create_run`. */
  token: string;
  /** Start a worker in this process (default). Off when workers already poll the server's task queue. */
  startWorker?: boolean;
  onProgress?: (p: PipelineProgress) => void;
  log?: (line: string) => void;
}

/** The innermost cause's message of a failed workflow (the activity's ApplicationFailure), for one-line errors. */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(err);
}

/**
 * Runs `trainingPipeline` to completion: finds or starts a server, runs a worker unless told not to,
 * polls the `progress` query while waiting, and cleans up whatever it started.
 */
export async function runPipeline(options: RunPipelineOptions): Promise<PipelineResult> {
  const log = options.log ?? (() => {});
  const runId = assertRunId(options.runId ?? newRunId());
  // A bad config fails here, before a server or worker is started (the workflow checks it again).
  await loadConfig(options.configPath);
  const server = await resolveServer(log);
  let stopWorker: (() => Promise<void>) | null = null;
  let connection: Connection | null = null;
  try {
    if (options.startWorker !== false) {
      const { worker, connection: native } = await createPipelineWorker({ address: server.address });
      const running = worker.run();
      stopWorker = async () => {
        worker.shutdown();
        await running;
        await native.close();
      };
    }
    connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    log(`run ${runId} on ${server.address} (${server.source})`);
    const handle = await client.workflow.start('trainingPipeline', {
      taskQueue: TASK_QUEUE,
      workflowId: runId,
      args: [{ configPath: resolve(options.configPath), token: options.token }],
    });
    const poll = setInterval(() => {
      handle
        .query(progressQuery)
        .then((p) => options.onProgress?.(p))
        .catch(() => {});
    }, 1000);
    try {
      return (await handle.result()) as PipelineResult;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const p = await handle.query(progressQuery).catch(() => null);
        throw new Error(`run ${runId} failed${p ? ` at step ${p.step}` : ''}: ${failureMessage(err)}`);
      }
      throw err;
    } finally {
      clearInterval(poll);
    }
  } finally {
    await connection?.close();
    await stopWorker?.();
    await server.release();
  }
}
