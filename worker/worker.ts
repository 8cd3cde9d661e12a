import {
  DefaultLogger,
  Runtime,
  Worker,
  type LogLevel,
  type NativeConnection,
  type WorkerOptions,
} from '@temporalio/worker';
import { createActivities } from '../activities';
import { createGovernanceActivities } from '../activities/governance';
import { createLifecycleActivities } from '../activities/lifecycle';
import { createMonitoringActivities } from '../activities/monitoring';
import { readSettings } from '../lib/settings';
import { TASK_QUEUE } from '../workflows/definitions';
import { workflowBundle } from './bundle';

export interface PipelineWorkerOptions {
  /** The worker's connection, opened by client/ (`connectWorker`) from the Temporal settings. */
  connection: NativeConnection;
  namespace: string;
  taskQueue?: string;
  /** Extra worker options (tests use e.g. a shorter shutdown grace time). */
  overrides?: Partial<WorkerOptions>;
  /** Hears of a workflow bundle rebuilt because it was stale. */
  log?: (line: string) => void;
}

let runtimeInstalled = false;

/**
 * Sets how chatty the SDK's own logging is, once per process, before the first worker or connection:
 * `pipeline run` keeps only errors (it prints its own progress), `dev` and `worker` show INFO.
 */
export function installWorkerLogging(level: LogLevel): void {
  if (runtimeInstalled) return;
  // No SDK signal handlers: each command handles Ctrl-C itself (`dev`/`worker` drain, `pipeline run` cancels its run).
  Runtime.install({ logger: new DefaultLogger(level), shutdownSignals: [] });
  runtimeInstalled = true;
}

/** Every activity the workflows call, by name. */
export function pipelineActivities() {
  return {
    ...createActivities(),
    ...createGovernanceActivities(),
    ...createMonitoringActivities(),
    ...createLifecycleActivities(),
  };
}

/**
 * A worker polling the access-perm task queue of `namespace` with every workflow and activity registered; the
 * workflows come from the prebuilt bundle (rebuilt first when stale). The caller owns and closes the connection.
 */
export async function createPipelineWorker(options: PipelineWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    workflowBundle: await workflowBundle(options.log),
    activities: pipelineActivities(),
    // System setting worker.max_concurrent_activities (8): training runs in threads, so more activities than
    // cores only queue inside the pool.
    maxConcurrentActivityTaskExecutions: (await readSettings()).worker.max_concurrent_activities,
    shutdownGraceTime: '10s',
    // Heartbeat details reach the server at least every 10 s, so `pipeline run` can show training iterations.
    maxHeartbeatThrottleInterval: '10s',
    ...options.overrides,
  });
}
