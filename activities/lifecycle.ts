import { Context } from '@temporalio/activity';
import { ScheduleNotFoundError } from '@temporalio/client';
import {
  lifecycleWorkflowId,
  reproductionWorkflowId,
  type ApproveDeploymentRequest,
  type FileOverrideRequest,
  type LockRequest,
  type ReviewRequest,
} from '../schemas/lifecycle';
import {
  currentLifecycle,
  deploymentOperation,
  fileOverrideOperation,
  lockOperation,
  reproductionFailed,
  reproductionOperation,
  resumeLifecycle,
  reviewOverrideOperation,
  versionBuilt,
  versionFailed,
  type OperationContext,
} from '../lib/lifecycle/operations';
import { compareReproduction, groupReproducedFeatures, prepareReproduction } from '../lib/lifecycle/reproduce';
import { assertRunId, resolveRunDir } from '../lib/run';
import { callingWorkflow } from './caller';
import { guarded } from './failures';

/** A reproducibility test of a run, as the lifecycle named it (its version and requester are in its records). */
export interface ReproductionRef {
  runId: string;
  repro: string;
}

/** The request of an operation without its capability: what the capability was issued for. */
const requestOf = <T extends { capability: unknown }>(req: T): Omit<T, 'capability'> => {
  const { capability: _capability, ...request } = req;
  return request;
};

/**
 * An operation of run `runId`'s lifecycle, for its `runLifecycle` workflow only (the server says who calls; a
 * standalone start or another workflow is refused and audited), as step `step` of that execution.
 */
async function lifecycleContext(runId: string, step: string): Promise<OperationContext> {
  const caller = await callingWorkflow(['runLifecycle'], (id) => id === lifecycleWorkflowId(assertRunId(runId)));
  return { runId, execution: caller, step, scheduleOnServer };
}

/** Whether the worker's Temporal server holds schedule `scheduleId` (a lock needs the nightly monitoring one). */
async function scheduleOnServer(scheduleId: string): Promise<boolean> {
  return Context.current()
    .client.schedule.getHandle(scheduleId)
    .describe()
    .then(
      () => true,
      (e: unknown) => {
        if (e instanceof ScheduleNotFoundError) return false;
        throw e;
      },
    );
}

/** A step of reproduction `repro` of run `runId`, for its own `reproduceRun` child only. */
async function reproductionCaller(ref: ReproductionRef) {
  return callingWorkflow(['reproduceRun'], (id) => id === reproductionWorkflowId(assertRunId(ref.runId), ref.repro));
}

/**
 * Activities of the run lifecycle: thin adapters over lib/lifecycle. Each operation carries the request and its
 * capability; lib authorizes the capability for this workflow execution and step, re-reads the run's records and
 * decides; nothing else in the payload is trusted.
 */
export function createLifecycleActivities() {
  return {
    /** The lifecycle's state from the run's records, when its workflow (re)starts. */
    resumeLifecycle: (input: { runId: string }) =>
      guarded(async () => {
        await lifecycleContext(input.runId, 'resume');
        return resumeLifecycle(input.runId);
      }),
    /** The lifecycle's state as the records say now (after a child workflow ended). */
    currentLifecycle: (input: { runId: string }) =>
      guarded(async () => {
        await lifecycleContext(input.runId, 'read');
        return currentLifecycle(input.runId);
      }),
    fileOverride: (input: { runId: string; step: string; request: FileOverrideRequest }) =>
      guarded(async () =>
        fileOverrideOperation(
          await lifecycleContext(input.runId, input.step),
          input.request.capability,
          requestOf(input.request),
        ),
      ),
    versionBuilt: (input: { runId: string; version: number }) =>
      guarded(async () => {
        await lifecycleContext(input.runId, 'build');
        return versionBuilt(input.runId, input.version);
      }),
    versionFailed: (input: { runId: string; version: number; error: string }) =>
      guarded(async () => {
        await lifecycleContext(input.runId, 'build');
        return versionFailed(input.runId, input.version, input.error);
      }),
    reviewOverride: (input: { runId: string; step: string; request: ReviewRequest }) =>
      guarded(async () =>
        reviewOverrideOperation(
          await lifecycleContext(input.runId, input.step),
          input.request.capability,
          requestOf(input.request),
        ),
      ),
    requestReproduction: (input: { runId: string; step: string; request: { capability: unknown } }) =>
      guarded(async () =>
        reproductionOperation(await lifecycleContext(input.runId, input.step), input.request.capability, {}),
      ),
    lockRun: (input: { runId: string; step: string; request: LockRequest }) =>
      guarded(async () =>
        lockOperation(
          await lifecycleContext(input.runId, input.step),
          input.request.capability,
          requestOf(input.request),
        ),
      ),
    approveDeployment: (input: { runId: string; step: string; request: ApproveDeploymentRequest }) =>
      guarded(async () =>
        deploymentOperation(
          await lifecycleContext(input.runId, input.step),
          input.request.capability,
          requestOf(input.request),
        ),
      ),
    reproductionFailed: (input: { runId: string; repro: string; error: string }) =>
      guarded(async () => {
        await lifecycleContext(input.runId, 'reproduce');
        return reproductionFailed(input.runId, input.repro, input.error);
      }),
    prepareReproduction: (ref: ReproductionRef) =>
      guarded(async () =>
        prepareReproduction(await resolveRunDir(ref.runId), ref.repro, await reproductionCaller(ref)),
      ),
    groupReproducedFeatures: (ref: ReproductionRef) =>
      guarded(async () =>
        groupReproducedFeatures(await resolveRunDir(ref.runId), ref.repro, await reproductionCaller(ref)),
      ),
    compareReproduction: (ref: ReproductionRef) =>
      guarded(async () =>
        compareReproduction(ref.runId, await resolveRunDir(ref.runId), ref.repro, await reproductionCaller(ref)),
      ),
  };
}

export type LifecycleActivities = ReturnType<typeof createLifecycleActivities>;
