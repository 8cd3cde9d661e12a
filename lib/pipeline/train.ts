import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactRef, FoldSummary } from '../../schemas/run';
import { writeArtifact } from '../artifacts';
import { sqlString, withDuckDb } from '../data/duck';
import { readLabelledMatrix, selectRows, type LabelledMatrix } from '../data/matrix';
import { featureSpec } from '../features';
import { logloss, rocAuc } from '../metrics';
import { trainInThread } from '../training/pool';
import type { TrainProgress } from '../training/types';
import { FEATURES_FILE } from './features';
import { readRunConfig, type RunRef } from './run';

export const MODEL_FILE = 'model/model.json';
/** The scoring graph of model.json, exported when evaluation has stamped its threshold and calibrator. */
export const ONNX_FILE = 'model/model.onnx';
export const oofFile = (fold: number): string => `folds/fold-${fold}.oof.f64`;

export interface StepControl {
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
}

/** The run's feature table as a labelled matrix, with the columns of the run config's feature spec. */
export async function readFeatures(ref: RunRef): Promise<LabelledMatrix> {
  const spec = featureSpec(await readRunConfig(ref));
  return withDuckDb((conn) =>
    readLabelledMatrix(conn, `read_parquet(${sqlString(join(ref.runDir, FEATURES_FILE))})`, spec),
  );
}

/** Out-of-fold scores stored as little-endian float64, in row order of the fold's rows. */
function encodeScores(scores: Float64Array): Uint8Array {
  const buf = Buffer.alloc(scores.length * 8);
  scores.forEach((v, i) => buf.writeDoubleLE(v, i * 8));
  return buf;
}

export async function readOofScores(ref: RunRef, fold: number): Promise<Float64Array> {
  const buf = await readFile(join(ref.runDir, oofFile(fold)));
  const out = new Float64Array(buf.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = buf.readDoubleLE(i * 8);
  return out;
}

export interface FoldResult {
  summary: FoldSummary;
  artifacts: ArtifactRef[];
}

/** Trains on every fold but `fold`, scores the held-out users, and stores those out-of-fold scores. */
export async function trainFold(ref: RunRef, fold: number, control: StepControl = {}): Promise<FoldResult> {
  const config = await readRunConfig(ref);
  const all = await readFeatures(ref);
  const train = selectRows(all, (i) => all.folds[i] !== fold);
  const valid = selectRows(all, (i) => all.folds[i] === fold);
  if (valid.matrix.rowCount === 0) throw new Error(`fold ${fold} has no rows`);
  const outcome = await trainInThread(
    { train: train.matrix, labels: train.labels, params: config.model.catboost, predict: valid.matrix },
    control.onProgress,
    control.signal,
  );
  const scores = outcome.predictions!;
  const artifact = await writeArtifact(ref.runDir, oofFile(fold), encodeScores(scores), 'oof-scores');
  return {
    summary: {
      fold,
      trainRows: train.matrix.rowCount,
      validRows: valid.matrix.rowCount,
      rocAuc: rocAuc(valid.labels, scores),
      logloss: logloss(valid.labels, scores),
      bestIteration: outcome.bestIteration,
      seconds: outcome.fitSeconds,
    },
    artifacts: [artifact],
  };
}

/** Trains the final model on all rows; the threshold is stamped in by the evaluation step. */
export async function trainFinal(
  ref: RunRef,
  control: StepControl = {},
): Promise<{ artifacts: ArtifactRef[]; bestIteration: number }> {
  const config = await readRunConfig(ref);
  const all = await readFeatures(ref);
  const outcome = await trainInThread(
    { train: all.matrix, labels: all.labels, params: config.model.catboost },
    control.onProgress,
    control.signal,
  );
  const artifact = await writeArtifact(ref.runDir, MODEL_FILE, outcome.modelJson, 'model');
  return { artifacts: [artifact], bestIteration: outcome.bestIteration };
}
