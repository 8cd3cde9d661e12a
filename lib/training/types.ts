import type { CatBoostParams } from '../../schemas/gbdt';
import type { FeatureMatrix } from '../../schemas/matrix';

/** One training job for a thread: fit on `train`, optionally score `predict` with the fitted model. */
export interface TrainJob {
  train: FeatureMatrix;
  labels: Uint8Array;
  params: CatBoostParams;
  predict?: FeatureMatrix;
}

export type ThreadMessage =
  | { type: 'progress'; iteration: number; iterations: number; trainLoss: number }
  | {
      type: 'done';
      modelJson: string;
      bestIteration: number;
      fitSeconds: number;
      thread: number;
      predictions?: Float64Array;
    }
  | { type: 'error'; name: string; message: string };

export interface TrainOutcome {
  modelJson: string;
  bestIteration: number;
  /** Time inside the trainer (excludes waiting for a thread and scoring). */
  fitSeconds: number;
  /** The worker thread that trained it (threads are kept for later jobs). */
  thread: number;
  predictions?: Float64Array;
}

export type TrainProgress = Extract<ThreadMessage, { type: 'progress' }>;
