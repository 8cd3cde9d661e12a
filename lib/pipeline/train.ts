import type { ArtifactRef, FoldSummary } from '../../schemas/run';
import { writeArtifact } from '../artifacts';
import { selectRows } from '../features/matrix';
import { logloss, rocAuc } from '../metrics';
import { MODEL_FILE, oofFile, readFeatures, readRunConfig, type RunFolder } from '../run';
import { trainInThread } from '../training/pool';
import type { TrainProgress } from '../training/types';

export interface StepControl {
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
}

/** Out-of-fold scores stored as little-endian float64, in row order of the fold's rows. */
function encodeScores(scores: Float64Array): Uint8Array {
  const buf = Buffer.alloc(scores.length * 8);
  scores.forEach((v, i) => buf.writeDoubleLE(v, i * 8));
  return buf;
}

export interface FoldResult {
  summary: FoldSummary;
  artifacts: ArtifactRef[];
}

/** Trains on every fold but `fold`, scores the held-out users, and stores those out-of-fold scores. */
export async function trainFold(ref: RunFolder, fold: number, control: StepControl = {}): Promise<FoldResult> {
  const config = await readRunConfig(ref.dir);
  const all = await readFeatures(ref.dir);
  const train = selectRows(all, (i) => all.folds[i] !== fold);
  const valid = selectRows(all, (i) => all.folds[i] === fold);
  if (valid.matrix.rowCount === 0) throw new Error(`fold ${fold} has no rows`);
  const outcome = await trainInThread(
    {
      train: train.matrix,
      labels: train.labels,
      params: config.model.catboost,
      fitThreads: config.model.fit_threads,
      predict: valid.matrix,
      returnModel: false,
      transfer: true,
    },
    control.onProgress,
    control.signal,
  );
  const scores = outcome.predictions!;
  const artifact = await writeArtifact(ref.dir, oofFile(fold), encodeScores(scores), 'oof-scores');
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
  ref: RunFolder,
  control: StepControl = {},
): Promise<{ artifacts: ArtifactRef[]; bestIteration: number }> {
  const config = await readRunConfig(ref.dir);
  const all = await readFeatures(ref.dir);
  const outcome = await trainInThread(
    { train: all.matrix, labels: all.labels, params: config.model.catboost, fitThreads: config.model.fit_threads },
    control.onProgress,
    control.signal,
  );
  const artifact = await writeArtifact(ref.dir, MODEL_FILE, outcome.modelJson, 'model');
  return { artifacts: [artifact], bestIteration: outcome.bestIteration };
}
