import { Context } from '@temporalio/activity';
import { runRefSchema, type ArtifactRef, type FoldSummary, type RunRef } from '../schemas/run';
import { evaluateTestSet } from '../lib/pipeline/testSet';
import { evaluateRun } from '../lib/pipeline/evaluate';
import { buildFeatures } from '../lib/pipeline/features';
import { finalizeManifest } from '../lib/pipeline/manifest';
import { writeMonitoringBaseline } from '../lib/pipeline/monitoring';
import { prepareRun } from '../lib/pipeline/prepare';
import { trainFinal, trainFold, type StepControl } from '../lib/pipeline/train';
import { validateRawData } from '../lib/pipeline/validate';
import { authorize } from '../lib/governance/authorize';
import { resolveRunFolder, type RunFolder } from '../lib/run';
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

/** Runs a pipeline step on the folder a payload's run reference names (checked: ids only, resolved here). */
function onFolder<T>(ref: RunRef, step: (folder: RunFolder) => Promise<T>): Promise<T> {
  return guarded(async () => step(await resolveRunFolder(runRefSchema.parse(ref))));
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
        // The run's folder stays with the worker: the workflow gets ids, hashes and counts.
        const {
          root: _root,
          dir: _dir,
          ...prepared
        } = await withHeartbeats(() => prepareRun(input.runId, input.configPath, identity));
        return prepared;
      }),
    validateData: (ref: RunRef) => onFolder(ref, (f) => withHeartbeats(() => validateRawData(f))),
    buildFeatures: (ref: RunRef) => onFolder(ref, (f) => withHeartbeats(() => buildFeatures(f))),
    trainFold: (ref: RunRef, fold: number) =>
      onFolder(ref, (f) => withHeartbeats((c) => trainFold(f, fold, c), { model: `fold ${fold}` })),
    trainFinalModel: (ref: RunRef) => onFolder(ref, (f) => withHeartbeats((c) => trainFinal(f, c), { model: 'final' })),
    evaluate: (ref: RunRef, folds: FoldSummary[]) => onFolder(ref, (f) => withHeartbeats(() => evaluateRun(f, folds))),
    /** A flat run's hold-out test file scored by the final model; no-op (metrics null) without one. */
    evaluateTestSet: (ref: RunRef) => onFolder(ref, (f) => withHeartbeats(() => evaluateTestSet(f))),
    monitoringBaseline: (ref: RunRef) => onFolder(ref, (f) => withHeartbeats(() => writeMonitoringBaseline(f))),
    writeManifest: (ref: RunRef, artifacts: ArtifactRef[]) =>
      onFolder(ref, (f) => withHeartbeats(() => finalizeManifest(f, artifacts))),
  };
}

export type PipelineActivities = ReturnType<typeof createActivities>;
