import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { evaluateRun } from '../lib/pipeline/evaluate';
import { buildFeatures } from '../lib/pipeline/features';
import { finalizeManifest } from '../lib/pipeline/manifest';
import { writeMonitoringBaseline } from '../lib/pipeline/monitoring';
import { prepareRun } from '../lib/pipeline/prepare';
import { trainFinal, trainFold } from '../lib/pipeline/train';
import { validateRawData } from '../lib/pipeline/validate';
import type { RunFolder } from '../lib/run';
import type { ArtifactRef, FoldSummary } from '../schemas/run';
import { runCreator, smallConfig, smallDataset, testExecution, writeConfig } from './helpers';

/**
 * A small completed run (manifest, scoring spec with threshold, ONNX model) in the current data directory,
 * produced by calling the pipeline steps directly (no Temporal server): 1,500 interactions, 20 trees, 2 folds.
 * Returns its id and the folder of its input data.
 */
export async function trainedRun(
  root: string,
  runId: string,
  /** Where the run's config comes from, given its YAML: default a file `<root>/<runId>.yaml`. */
  place: (yaml: string) => Promise<string> = (yaml) => writeConfig(root, `${runId}.yaml`, parse(yaml) as object),
): Promise<{ runId: string; dataDir: string }> {
  const dataDir = await smallDataset(join(root, 'data'), 1500);
  const config = smallConfig(dataDir, (c) => {
    c.model.catboost.iterations = 20;
    c.validation.n_splits = 2;
    // Scoring and serving find a run below a non-default artifacts.dir by its id.
    c.artifacts = { dir: 'scored-runs' };
  });
  const prepared = await prepareRun(
    runId,
    await place(stringify(config)),
    (await runCreator()).identity,
    testExecution(runId),
  );
  const ref = prepared;
  const artifacts = [...prepared.artifacts];
  artifacts.push(...(await validateRawData(ref)).artifacts);
  artifacts.push(...(await buildFeatures(ref)).artifacts);
  await trainAndFinalize(ref, prepared.nSplits, artifacts);
  return { runId, dataDir };
}

/**
 * The training steps of a run or model version whose folder holds its config and feature table: folds, final
 * model, evaluation, monitoring baseline, then the manifest listing `artifacts` plus what the steps wrote
 * (sequential, no server; the order of `modelVersionPipeline`).
 */
export async function trainAndFinalize(ref: RunFolder, nSplits: number, artifacts: ArtifactRef[]): Promise<void> {
  const all = [...artifacts];
  const folds: FoldSummary[] = [];
  for (let f = 0; f < nSplits; f++) {
    const r = await trainFold(ref, f);
    folds.push(r.summary);
    all.push(...r.artifacts);
  }
  all.push(...(await trainFinal(ref)).artifacts);
  all.push(...(await evaluateRun(ref, folds)).artifacts);
  all.push(...(await writeMonitoringBaseline(ref)).artifacts);
  await finalizeManifest(ref, all);
}
