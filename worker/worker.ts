import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { TASK_QUEUE } from '../workflows/definitions';

const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface PipelineWorkerOptions {
  address: string;
  namespace?: string;
  taskQueue?: string;
  /** Extra worker options (tests use e.g. a shorter shutdown grace time). */
  overrides?: Partial<WorkerOptions>;
}

/** A worker polling the access-perm task queue with every workflow and activity registered. */
export async function createPipelineWorker(options: PipelineWorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  const connection = await NativeConnection.connect({ address: options.address });
  const worker = await Worker.create({
    connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowsPath: WORKFLOWS_PATH,
    activities: createActivities(),
    // Training runs in threads; more concurrent activities than cores only queue inside the pool.
    maxConcurrentActivityTaskExecutions: 8,
    shutdownGraceTime: '10s',
    ...options.overrides,
  });
  return { worker, connection };
}
