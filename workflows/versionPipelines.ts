import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities';
import type { GovernanceActivities } from '../activities/governance';
import type { LifecycleActivities, ReproductionRef } from '../activities/lifecycle';
import { lifecycleWorkflowId, type ReproducibilityResult } from '../schemas/lifecycle';
import { NON_RETRYABLE_ERROR_TYPES } from '../schemas/errors';
import { TRAINING_STEP_OPTIONS } from './definitions';
import type { ArtifactRef, MetricsSummary, RunRef } from '../schemas/run';

const retry = { maximumAttempts: 3, initialInterval: '2s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };
// The same limits as the training pipeline: steps heartbeat every 2 s, so a dead worker shows within a minute.
const dataSteps = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry,
});
const trainingSteps = proxyActivities<PipelineActivities>(TRAINING_STEP_OPTIONS);
const lifecycleSteps = proxyActivities<LifecycleActivities>({ startToCloseTimeout: '10 minutes', retry });
const governance = proxyActivities<GovernanceActivities>({ startToCloseTimeout: '1 minute', retry });

/**
 * Refuses (audited) a child workflow that its run's lifecycle did not start: started by hand, or by another
 * workflow. Its steps would refuse on their own (they write only folders this child owns); this says so at once.
 */
async function requireLifecycleParent(runId: string): Promise<void> {
  const expected = lifecycleWorkflowId(runId);
  const { parent, workflowType, workflowId } = workflowInfo();
  if (parent?.workflowId === expected) return;
  const reason = `${workflowType} ${workflowId} runs only as a child of ${expected}; it was started ${parent ? `by ${parent.workflowId}` : 'directly'}`;
  await governance.auditRefusedStart();
  throw ApplicationFailure.nonRetryable(reason, 'CallerRefusedError');
}

/** Folds in parallel with the final model, then the evaluation (threshold, metrics, report, model card). */
async function trainAndEvaluate(ref: RunRef, nSplits: number, retrain: boolean) {
  const artifacts: ArtifactRef[] = [];
  if (retrain) {
    const folds = Array.from({ length: nSplits }, (_, fold) => trainingSteps.trainFold(ref, fold));
    const [foldResults, finalModel] = await Promise.all([Promise.all(folds), trainingSteps.trainFinalModel(ref)]);
    for (const r of foldResults) artifacts.push(...r.artifacts);
    artifacts.push(...finalModel.artifacts);
    const evaluation = await dataSteps.evaluate(
      ref,
      foldResults.map((r) => r.summary),
    );
    return { artifacts: [...artifacts, ...evaluation.artifacts], metrics: evaluation.metrics };
  }
  // Only the threshold changed: the previous version's scores and model are re-evaluated at the new cut.
  const evaluation = await dataSteps.evaluate(ref, []);
  return { artifacts: evaluation.artifacts, metrics: evaluation.metrics };
}

export interface ModelVersionInput {
  runId: string;
  /** The version to build (its folder and records were prepared by the `fileOverride` activity). */
  version: number;
  nSplits: number;
  retrain: boolean;
  /** Artifacts the preparation wrote (config, spec, features, binning tables, copied scores). */
  artifacts: ArtifactRef[];
}

/**
 * A new model version of a run after an override: re-runs the affected steps (training unless only the
 * threshold changed, then evaluation, monitoring baseline, manifest) in the version's folder.
 */
export async function modelVersionPipeline(input: ModelVersionInput): Promise<{ metrics: MetricsSummary }> {
  await requireLifecycleParent(input.runId);
  const ref: RunRef = { runId: input.runId, version: input.version };
  const trained = await trainAndEvaluate(ref, input.nSplits, input.retrain);
  const baseline = await dataSteps.monitoringBaseline(ref);
  await dataSteps.writeManifest(ref, [...input.artifacts, ...trained.artifacts, ...baseline.artifacts]);
  return { metrics: trained.metrics };
}

/**
 * The reproducibility test: the version's exact config on the same data (hash-checked), from the raw files
 * through features, training and evaluation, then compared with the version (model hash, OOF metrics, OOF scores).
 * Which version and who asked are in the reproduction's records, written by the lifecycle.
 */
export async function reproduceRun(input: ReproductionRef): Promise<ReproducibilityResult> {
  await requireLifecycleParent(input.runId);
  const reproduction: ReproductionRef = { runId: input.runId, repro: input.repro };
  const { nSplits } = await lifecycleSteps.prepareReproduction(reproduction);
  const ref: RunRef = { runId: input.runId, repro: input.repro };
  await dataSteps.buildFeatures(ref);
  await lifecycleSteps.groupReproducedFeatures(reproduction);
  await trainAndEvaluate(ref, nSplits, true);
  return lifecycleSteps.compareReproduction(reproduction);
}
