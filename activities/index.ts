import { Context } from '@temporalio/activity';
import type { ArtifactRef, FoldSummary } from '../schemas/run';
import { evaluateTestSet } from '../lib/evaluation/testSet';
import { evaluateRun } from '../lib/pipeline/evaluate';
import { buildFeatures } from '../lib/pipeline/features';
import { finalizeManifest } from '../lib/pipeline/manifest';
import { writeMonitoringBaseline } from '../lib/pipeline/monitoring';
import { prepareRun, type RunRef } from '../lib/pipeline/run';
import { trainFinal, trainFold, type StepControl } from '../lib/pipeline/train';
import { validateRawData } from '../lib/pipeline/validate';
import { authorize } from '../lib/governance/authorize';
import { guarded } from './failures';

/**
 * Heartbeats every 2 s while the step runs (with `tag` and the latest training progress when there is one), so a
 * dead worker is noticed within the heartbeat timeout and `pipeline run` can show iterations; passes cancellation on.
 */
export async function withHeartbeats<T>(fn: (control: StepControl) => Promise<T>, tag: object = {}): Promise<T> {
  const ctx = Context.current();
  let latest: unknown = { ...tag, phase: 'starting' };
  ctx.heartbeat(latest);
  const timer = setInterval(() => ctx.heartbeat(latest), 2000);
  try {
    return await fn({ onProgress: (p) => (latest = { ...tag, ...p }), signal: ctx.cancellationSignal });
  } finally {
    clearInterval(timer);
  }
}

/** Activities of the training pipeline: thin adapters over lib/pipeline. */
export function createActivities() {
  return {
    /** Authorizes `create_run` with the caller's token (the run's choke point), then prepares the run. */
    prepareRun: (input: { runId: string; configPath: string; token: string }) =>
      guarded(async () => {
        const identity = await authorize({ token: input.token, source: 'workflow' }, 'create_run', {
          type: 'run',
          id: input.runId,
        });
        return withHeartbeats(() => prepareRun(input.runId, input.configPath, identity));
      }),
    validateData: (ref: RunRef) => guarded(() => withHeartbeats(() => validateRawData(ref))),
    buildFeatures: (ref: RunRef) => guarded(() => withHeartbeats(() => buildFeatures(ref))),
    trainFold: (ref: RunRef, fold: number) =>
      guarded(() => withHeartbeats((c) => trainFold(ref, fold, c), { model: `fold ${fold}` })),
    trainFinalModel: (ref: RunRef) => guarded(() => withHeartbeats((c) => trainFinal(ref, c), { model: 'final' })),
    evaluate: (ref: RunRef, folds: FoldSummary[]) => guarded(() => withHeartbeats(() => evaluateRun(ref, folds))),
    /** A flat run's hold-out test file scored by the final model; no-op (metrics null) without one. */
    evaluateTestSet: (ref: RunRef) => guarded(() => withHeartbeats(() => evaluateTestSet(ref))),
    monitoringBaseline: (ref: RunRef) => guarded(() => withHeartbeats(() => writeMonitoringBaseline(ref))),
    writeManifest: (ref: RunRef, artifacts: ArtifactRef[]) =>
      guarded(() => withHeartbeats(() => finalizeManifest(ref, artifacts))),
  };
}

export type PipelineActivities = ReturnType<typeof createActivities>;
