import { join } from 'node:path';
import { evaluateRun } from '../lib/pipeline/evaluate';
import { buildFeatures } from '../lib/pipeline/features';
import { finalizeManifest } from '../lib/pipeline/manifest';
import { prepareRun } from '../lib/pipeline/run';
import { trainFinal, trainFold } from '../lib/pipeline/train';
import { validateRawData } from '../lib/pipeline/validate';
import type { FoldSummary } from '../schemas/run';
import { runCreator, smallConfig, smallDataset, writeConfig } from './helpers';

/**
 * A small completed run (manifest, scoring spec with threshold, ONNX model) in the current data directory,
 * produced by calling the pipeline steps directly (no Temporal server): 1,500 interactions, 20 trees, 2 folds.
 * Returns its id and the folder of its input data.
 */
export async function trainedRun(root: string, runId: string): Promise<{ runId: string; dataDir: string }> {
  const dataDir = await smallDataset(join(root, 'data'), 1500);
  const config = smallConfig(dataDir, (c) => {
    c.model.catboost.iterations = 20;
    c.validation.n_splits = 2;
  });
  const prepared = await prepareRun(
    runId,
    await writeConfig(root, `${runId}.yaml`, config),
    (await runCreator()).identity,
  );
  const ref = { runId, runDir: prepared.runDir };
  const artifacts = [...prepared.artifacts];
  artifacts.push(...(await validateRawData(ref)).artifacts);
  artifacts.push(...(await buildFeatures(ref)).artifacts);
  const folds: FoldSummary[] = [];
  for (let f = 0; f < prepared.nSplits; f++) {
    const r = await trainFold(ref, f);
    folds.push(r.summary);
    artifacts.push(...r.artifacts);
  }
  artifacts.push(...(await trainFinal(ref)).artifacts);
  artifacts.push(...(await evaluateRun(ref, folds)).artifacts);
  await finalizeManifest(ref, artifacts);
  return { runId, dataDir };
}
