import type {
  Client,
  ScheduleOptionsStartWorkflowAction,
  WorkflowHandle,
  WorkflowStartOptions,
} from '@temporalio/client';
import type { ElevationTimerInput } from '../schemas/governance';
import { elevationWorkflowId } from '../schemas/governance';
import { lifecycleWorkflowId } from '../schemas/lifecycle';
import type { MonitoringInput } from '../schemas/monitoring';
import type { PipelineInput } from '../schemas/run';
import { TASK_QUEUE } from '../workflows/definitions';
import type * as workflows from '../workflows';

/**
 * Typed starts of our workflows: each names its workflow by its export in workflows/index.ts (a typo does not
 * compile) and takes that function's parameters as its arguments. The workflow code itself is imported as types
 * only; the worker registers it from the bundle.
 */

type Workflows = typeof workflows;
/** The workflow types the worker registers: the exports of workflows/index.ts. */
export type WorkflowName = keyof Workflows;

/** Starts the workflow exported as `name` on our task queue, its args checked against that function. */
function start<N extends WorkflowName>(client: Client, name: N, options: WorkflowStartOptions<Workflows[N]>) {
  return client.workflow.start<Workflows[N]>(name, options);
}

/** Starts `trainingPipeline`; the workflow id is the run id. */
export function startTrainingPipeline(client: Client, run: { runId: string; input: PipelineInput }) {
  return start(client, 'trainingPipeline', { taskQueue: TASK_QUEUE, workflowId: run.runId, args: [run.input] });
}

/** Starts `monitoringWorkflow` on one window; the window's outputs are named after `workflowId`. */
export function startMonitoring(client: Client, window: { workflowId: string; input: MonitoringInput }) {
  return start(client, 'monitoringWorkflow', {
    taskQueue: TASK_QUEUE,
    workflowId: window.workflowId,
    args: [window.input],
  });
}

/** Starts the durable expiry timer of one elevation (id `elevation-<user>-<elevation>`). */
export function startElevationExpiry(client: Client, timer: ElevationTimerInput) {
  return start(client, 'elevationExpiry', {
    taskQueue: TASK_QUEUE,
    workflowId: elevationWorkflowId(timer.userId, timer.elevationId),
    args: [timer],
  });
}

/** The handle of a run's `runLifecycle` entity workflow (started by the training pipeline). */
/** The typed handle of a run's `trainingPipeline` workflow (the workflow id is the run id). */
export function pipelineHandle(client: Client, runId: string): WorkflowHandle<Workflows['trainingPipeline']> {
  return client.workflow.getHandle(runId);
}

export function lifecycleHandle(client: Client, runId: string): WorkflowHandle<Workflows['runLifecycle']> {
  return client.workflow.getHandle<Workflows['runLifecycle']>(lifecycleWorkflowId(runId));
}

/** A schedule action starting `monitoringWorkflow` with the given input, typed like {@link startMonitoring}. */
export function monitoringScheduleAction(
  workflowId: string,
  input: MonitoringInput,
): ScheduleOptionsStartWorkflowAction<Workflows['monitoringWorkflow']> {
  const workflowType = 'monitoringWorkflow' satisfies WorkflowName;
  return { type: 'startWorkflow', workflowType, taskQueue: TASK_QUEUE, workflowId, args: [input] };
}
