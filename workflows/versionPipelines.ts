import { proxyActivities } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities';
import type { LifecycleActivities, ReproductionRef } from '../activities/lifecycle';
import type { Actor, ReproducibilityResult } from '../schemas/lifecycle';
import { NON_RETRYABLE_ERROR_TYPES } from '../schemas/errors';
import type { ArtifactRef, MetricsSummary, RunRef } from '../schemas/run';

const retry = { maximumAttempts: 3, initialInterval: '2s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };
// The same limits as the training pipeline: steps heartbeat every 2 s, so a dead worker shows within a minute.
const dataSteps = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry,
});
const trainingSteps = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '4 hours',
  heartbeatTimeout: '1 minute',
  retry: { ...retry, initialInterval: '5s' },
});
const lifecycleSteps = proxyActivities<LifecycleActivities>({ startToCloseTimeout: '10 minutes', retry });

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
  /** The version to build (its folder was prepared by the `fileOverride` activity). */
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
  const ref: RunRef = { runId: input.runId, version: input.version };
  const trained = await trainAndEvaluate(ref, input.nSplits, input.retrain);
  const baseline = await dataSteps.monitoringBaseline(ref);
  await dataSteps.writeManifest(ref, [...input.artifacts, ...trained.artifacts, ...baseline.artifacts]);
  return { metrics: trained.metrics };
}

/** A reproducibility test of one version, named by the lifecycle workflow, on behalf of `by`. */
export interface ReproduceInput extends ReproductionRef {
  by: Actor;
}

/**
 * The reproducibility test: the version's exact config on the same data (hash-checked), from the raw files
 * through features, training and evaluation, then compared with the version (model hash, OOF metrics, OOF scores).
 */
export async function reproduceRun(input: ReproduceInput): Promise<ReproducibilityResult> {
  const reproduction: ReproductionRef = { runId: input.runId, version: input.version, repro: input.repro };
  const { nSplits } = await lifecycleSteps.prepareReproduction(reproduction);
  const ref: RunRef = { runId: input.runId, repro: input.repro };
  await dataSteps.buildFeatures(ref);
  await lifecycleSteps.groupReproducedFeatures(reproduction);
  await trainAndEvaluate(ref, nSplits, true);
  return lifecycleSteps.compareReproduction({ ...reproduction, by: input.by });
}
