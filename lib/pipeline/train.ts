import type { ArtifactRef, FoldSummary } from '../../schemas/run';
import { writeArtifact } from '../artifacts';
import { selectRows } from '../features/matrix';
import { logloss, rocAuc } from '../metrics';
import { countFeatureRows, MODEL_FILE, oofFile, readFeatures, readRunConfig, type RunFolder } from '../run';
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
  let trainRows = 0;
  let validLabels: Uint8Array = new Uint8Array(0);
  const outcome = await trainInThread(
    {
      params: config.model.catboost,
      fitThreads: config.model.fit_threads,
      rows: await countFeatureRows(ref.dir, `fold <> ${fold}`),
      returnModel: false,
      // Read once the fit may start: a fold waiting in line holds no copy of the data.
      load: async () => {
        const all = await readFeatures(ref.dir);
        const train = selectRows(all, (i) => all.folds[i] !== fold);
        const valid = selectRows(all, (i) => all.folds[i] === fold);
        if (valid.matrix.rowCount === 0) throw new Error(`fold ${fold} has no rows`);
        trainRows = train.matrix.rowCount;
        validLabels = valid.labels;
        return { train: train.matrix, labels: train.labels, predict: valid.matrix, transfer: true };
      },
    },
    control.onProgress,
    control.signal,
  );
  const scores = outcome.predictions!;
  const artifact = await writeArtifact(ref.dir, oofFile(fold), encodeScores(scores), 'oof-scores');
  return {
    summary: {
      fold,
      trainRows,
      validRows: validLabels.length,
      rocAuc: rocAuc(validLabels, scores),
      logloss: logloss(validLabels, scores),
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
  const outcome = await trainInThread(
    {
      params: config.model.catboost,
      fitThreads: config.model.fit_threads,
      rows: await countFeatureRows(ref.dir),
      // The arrays move to the thread: held here too, they doubled the fit's data for all of its hour at ten million rows.
      load: async () => {
        const all = await readFeatures(ref.dir);
        return { train: all.matrix, labels: all.labels, transfer: true };
      },
    },
    control.onProgress,
    control.signal,
  );
  const artifact = await writeArtifact(ref.dir, MODEL_FILE, outcome.modelFile, 'model');
  return { artifacts: [artifact], bestIteration: outcome.bestIteration };
}
