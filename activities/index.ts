import { Context } from '@temporalio/activity';
import { reproductionWorkflowId, versionBuildWorkflowId } from '../schemas/lifecycle';
import {
  runEndSchema,
  runRefSchema,
  type ArtifactRef,
  type FoldSummary,
  type RunEnd,
  type RunRef,
} from '../schemas/run';
import { authorizeCapability } from '../lib/governance';
import { writeBinningTables } from '../lib/lifecycle/versions';
import { evaluateStep } from '../lib/pipeline/offThread';
import { buildFeatures } from '../lib/pipeline/features';
import { finalizeManifest } from '../lib/pipeline/manifest';
import { writeMonitoringBaseline } from '../lib/pipeline/monitoring';
import { prepareRun } from '../lib/pipeline/prepare';
import { recordRunEnd } from '../lib/pipeline/runEnd';
import { evaluateTestSet } from '../lib/pipeline/testSet';
import { trainFinal, trainFold, type StepControl } from '../lib/pipeline/train';
import { validateRawData } from '../lib/pipeline/validate';
import {
  assertFolderWriter,
  recordStep,
  reportedArtifacts,
  resolveRunFolder,
  startStepRecord,
  verifyStepRecord,
  type RunFolder,
} from '../lib/run';
import { callingWorkflow, type WorkflowType } from './caller';
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

/** The workflow that owns a folder: the run's pipeline, a version's build, a reproduction's test. */
function ownerOf(ref: RunRef): { type: WorkflowType; workflowId: string } {
  if (ref.repro !== undefined)
    return { type: 'reproduceRun', workflowId: reproductionWorkflowId(ref.runId, ref.repro) };
  if (ref.version !== undefined)
    return { type: 'modelVersionPipeline', workflowId: versionBuildWorkflowId(ref.runId, ref.version) };
  return { type: 'trainingPipeline', workflowId: ref.runId };
}

/**
 * Runs a pipeline step on the folder a payload's run reference names (ids only, resolved here), for the one
 * workflow execution that owns the folder and only while it is incomplete; anything else is refused and audited.
 */
function onFolder<T>(ref: RunRef, step: (folder: RunFolder) => Promise<T>): Promise<T> {
  return guarded(async () => {
    const parsed = runRefSchema.parse(ref);
    const owner = ownerOf(parsed);
    const caller = await callingWorkflow([owner.type], (id) => id === owner.workflowId);
    const folder = await resolveRunFolder(parsed);
    await assertFolderWriter(folder.dir, caller);
    await verifyStepRecord(folder.dir);
    const result = await step(folder);
    await recordStep(folder.dir, reportedArtifacts(result));
    return result;
  });
}

/** Activities of the training pipeline: thin adapters over lib/pipeline. */
export function createActivities() {
  return {
    /**
     * Claims the starter's `createRun` capability for this execution (the run's choke point: the acting user comes
     * from it, the role is looked up now), then prepares the run folder this execution owns.
     */
    prepareRun: (input: { runId: string; configPath: string; capability: unknown }) =>
      guarded(async () => {
        const caller = await callingWorkflow(['trainingPipeline'], (id) => id === input.runId);
        const identity = await authorizeCapability(
          input.capability,
          { op: 'createRun', runId: input.runId, request: { configPath: input.configPath } },
          { ...caller, step: 'prepare' },
          'create_run',
          { type: 'run', id: input.runId },
        );
        // The run's folder stays with the worker: the workflow gets ids, hashes and counts.
        const {
          root: _root,
          dir,
          ...prepared
        } = await withHeartbeats(() => prepareRun(input.runId, input.configPath, identity, caller));
        await startStepRecord(dir, prepared.artifacts);
        return prepared;
      }),
    validateData: (ref: RunRef) => onFolder(ref, (f) => withHeartbeats(() => validateRawData(f))),
    buildFeatures: (ref: RunRef) => onFolder(ref, (f) => withHeartbeats(() => buildFeatures(f))),
    trainFold: (ref: RunRef, fold: number) =>
      onFolder(ref, (f) => withHeartbeats((c) => trainFold(f, fold, c), { model: `fold ${fold}` })),
    trainFinalModel: (ref: RunRef) => onFolder(ref, (f) => withHeartbeats((c) => trainFinal(f, c), { model: 'final' })),
    evaluate: (ref: RunRef, folds: FoldSummary[]) =>
      onFolder(ref, (f) => withHeartbeats((c) => evaluateStep(f, folds, c.signal))),
    /** A flat run's hold-out test file scored by the final model; no-op (metrics null) without one. */
    evaluateTestSet: (ref: RunRef) => onFolder(ref, (f) => withHeartbeats(() => evaluateTestSet(f))),
    monitoringBaseline: (ref: RunRef) => onFolder(ref, (f) => withHeartbeats(() => writeMonitoringBaseline(f))),
    /** The binning tables of the run (`binning/tables.json`), written before the manifest. */
    binningTables: (ref: RunRef) => onFolder(ref, (f) => writeBinningTables(f.root, f.dir)),
    writeManifest: (ref: RunRef, artifacts: ArtifactRef[]) =>
      onFolder(ref, (f) => withHeartbeats(() => finalizeManifest(f, artifacts))),
    /** The run failed or was cancelled: audited, and `end.json` in its folder when this execution owns it. */
    recordRunEnd: (ref: RunRef, end: Omit<RunEnd, 'at'>) =>
      guarded(async () => {
        const { runId } = runRefSchema.parse(ref);
        const caller = await callingWorkflow(['trainingPipeline'], (id) => id === runId);
        return recordRunEnd(runId, runEndSchema.omit({ at: true }).parse(end), caller);
      }),
  };
}

export type PipelineActivities = ReturnType<typeof createActivities>;
