import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  ApproveDeploymentRequest,
  FileOverrideRequest,
  LifecycleState,
  LockRequest,
  ReproduceRequest,
  ReviewRequest,
  Verdict,
} from '../schemas/lifecycle';

/**
 * The run lifecycle's messages, declared once for the workflow and its clients (our CLI, tests). Every operation
 * exists as a signal (fire and forget; the outcome lands in `state.events` / `state.denials`) and as an update of
 * the same name that returns the verdict.
 */
export const stateQuery = defineQuery<LifecycleState>('state');

export const LIFECYCLE_OPERATIONS = [
  'fileOverride',
  'reviewOverride',
  'runReproducibility',
  'lockRun',
  'approveDeployment',
] as const;
export type LifecycleOperation = (typeof LIFECYCLE_OPERATIONS)[number];

export const fileOverrideSignal = defineSignal<[FileOverrideRequest]>('fileOverride');
export const reviewOverrideSignal = defineSignal<[ReviewRequest]>('reviewOverride');
export const runReproducibilitySignal = defineSignal<[ReproduceRequest]>('runReproducibility');
export const lockRunSignal = defineSignal<[LockRequest]>('lockRun');
export const approveDeploymentSignal = defineSignal<[ApproveDeploymentRequest]>('approveDeployment');

export const fileOverrideUpdate = defineUpdate<Verdict, [FileOverrideRequest]>('fileOverride');
export const reviewOverrideUpdate = defineUpdate<Verdict, [ReviewRequest]>('reviewOverride');
export const runReproducibilityUpdate = defineUpdate<Verdict, [ReproduceRequest]>('runReproducibility');
export const lockRunUpdate = defineUpdate<Verdict, [LockRequest]>('lockRun');
export const approveDeploymentUpdate = defineUpdate<Verdict, [ApproveDeploymentRequest]>('approveDeployment');
