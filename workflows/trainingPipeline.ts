import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { PipelineActivities } from '../activities';
import { lifecycleWorkflowId } from '../schemas/lifecycle';
import {
  PIPELINE_STEPS,
  pipelineInputSchema,
  type ArtifactRef,
  type FoldSummary,
  type PipelineProgress,
  type PipelineResult,
  type PipelineInput,
  type PipelineStep,
  type RunRef,
} from '../schemas/run';
import { NON_RETRYABLE_ERROR_TYPES } from '../schemas/errors';
import { progressQuery, TRAINING_STEP_OPTIONS } from './definitions';
import { runLifecycle } from './lifecycle';

const dataSteps = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '30 minutes',
  // Every step heartbeats every 2 s, so a dead worker shows within a minute even on 10M-row inputs (evaluate, which
  // computes for minutes there, runs on a thread of its own).
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '2s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

const trainingSteps = proxyActivities<PipelineActivities>(TRAINING_STEP_OPTIONS);

/**
 * The training pipeline: prepare → validate → features → train (GroupKFold folds in parallel with the
 * final model) → evaluate → monitoring baseline → manifest. The workflow id is the run id. The input is typed for
 * our clients and checked again here (the `temporal` CLI sends any JSON).
 */
export async function trainingPipeline(rawInput: PipelineInput): Promise<PipelineResult> {
  const parsed = pipelineInputSchema.safeParse(rawInput);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
    throw ApplicationFailure.nonRetryable(`invalid trainingPipeline input — ${problems}`, 'InvalidInput');
  }
  const input = parsed.data;
  const runId = workflowInfo().workflowId;
  const progress: PipelineProgress = {
    runId,
    status: 'running',
    step: 'prepare',
    stepIndex: 0,
    steps: PIPELINE_STEPS,
    folds: { done: 0, total: 0 },
    message: 'loading config',
  };
  setHandler(progressQuery, () => progress);
  const enter = (step: PipelineStep, message: string): void => {
    progress.step = step;
    progress.stepIndex = PIPELINE_STEPS.indexOf(step);
    progress.message = message;
  };

  try {
    const prepared = await dataSteps.prepareRun({ runId, configPath: input.configPath, capability: input.capability });
    const ref: RunRef = { runId };
    const artifacts: ArtifactRef[] = [...prepared.artifacts];

    enter('validate', 'checking the raw data contracts');
    artifacts.push(...(await dataSteps.validateData(ref)).artifacts);

    enter('features', 'engineering features and assigning folds');
    const features = await dataSteps.buildFeatures(ref);
    artifacts.push(...features.artifacts);

    enter('train', `training ${prepared.nSplits} folds and the final model`);
    progress.folds = { done: 0, total: prepared.nSplits };
    const foldRuns = Array.from({ length: prepared.nSplits }, async (_, fold) => {
      const result = await trainingSteps.trainFold(ref, fold);
      progress.folds.done++;
      return result;
    });
    const [foldResults, finalModel] = await Promise.all([Promise.all(foldRuns), trainingSteps.trainFinalModel(ref)]);
    const folds: FoldSummary[] = foldResults.map((r) => r.summary);
    for (const r of foldResults) artifacts.push(...r.artifacts);
    artifacts.push(...finalModel.artifacts);

    enter('evaluate', 'computing out-of-fold metrics and the operating threshold');
    const evaluation = await dataSteps.evaluate(ref, folds);
    artifacts.push(...evaluation.artifacts);
    // patched: histories recorded before this step existed replay without it.
    if (patched('flat-test-set')) {
      progress.message = 'scoring the hold-out test file with the final model (flat mode with data.test)';
      artifacts.push(...(await dataSteps.evaluateTestSet(ref)).artifacts);
    }

    enter('monitoringBaseline', 'saving the monitoring reference window');
    artifacts.push(...(await dataSteps.monitoringBaseline(ref)).artifacts);

    enter('manifest', 'writing the run manifest');
    artifacts.push(await dataSteps.binningTables(ref));
    await dataSteps.writeManifest(ref, artifacts);
    // The run's lifecycle (overrides, reviews, lock) outlives this workflow: an abandoned child, started once,
    // its start recorded in this history, so a replay or retry never starts a second one.
    await startChild(runLifecycle, {
      workflowId: lifecycleWorkflowId(runId),
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [{ runId }],
    }).catch((err: unknown) => {
      // A run id used again on this server keeps the lifecycle (and its reviews) it already has.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    });

    progress.status = 'completed';
    progress.message = `ROC-AUC ${evaluation.metrics.rocAuc.toFixed(4)}, accuracy ${evaluation.metrics.accuracy.toFixed(4)}`;
    return { runId, metrics: evaluation.metrics, folds, rows: features.rows };
  } catch (err) {
    const cancelled = isCancellation(err);
    progress.status = cancelled ? 'cancelled' : 'failed';
    progress.error = cancelled
      ? `cancelled during ${progress.step}: ${progress.message}`
      : err instanceof Error
        ? err.cause instanceof Error
          ? err.cause.message
          : err.message
        : String(err);
    // patched: histories recorded before runs recorded their end replay without this step.
    if (patched('record-run-end')) {
      const end = { state: progress.status, step: progress.step, error: progress.error.slice(0, 2000) } as const;
      // Not cancellable: a cancelled run still records that it was cancelled. Failing to record it must not hide
      // why the run ended, so the run's own error is what the workflow reports.
      await CancellationScope.nonCancellable(() => dataSteps.recordRunEnd({ runId }, end)).catch(() => undefined);
    }
    throw err;
  }
}
