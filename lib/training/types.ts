import type { CatBoostParams } from '../../schemas/gbdt';
import type { FeatureMatrix } from '../../schemas/matrix';

/** One training job for a thread: fit on `train`, optionally score `predict` with the fitted model. */
export interface TrainJob {
  train: FeatureMatrix;
  labels: Uint8Array;
  params: CatBoostParams;
  predict?: FeatureMatrix;
  /**
   * false: the model is not sent back (a CV fold needs only its predictions). Serializing a model of a million rows
   * (~60 MB of JSON) took ~300 MB in the thread, and its copy crossed to the caller, at the end of every fold.
   */
  returnModel?: boolean;
  /**
   * true: the typed arrays of `train`, `labels` and `predict` move to the thread instead of being copied, and are
   * unusable (empty) here afterwards; for per-fold copies the caller does not read again (~65 MB a fold at 1M rows).
   */
  transfer?: boolean;
  /**
   * Threads the fit uses (1, the default, or 2: a helper thread builds half of each tree level's histograms; the model
   * is the same). The pool counts them against the job's `thread_count` and the process's cores, so on two cores
   * `fitThreads: 2` trains one fit at a time on both. A one-thread fit is lent a second thread while a core is idle.
   */
  fitThreads?: number;
}

/**
 * A job whose data is read only once it may start (`trainInThread`), so that a fold waiting for a thread or for memory
 * holds no copy of the data: at ten million rows six waiting jobs held ~7 GB.
 */
export interface DeferredTrainJob {
  params: CatBoostParams;
  fitThreads?: number;
  /** Training rows, for the memory estimate. */
  rows: number;
  returnModel?: boolean;
  load: () => Promise<Omit<TrainJob, 'params' | 'returnModel' | 'fitThreads'>>;
}

/** A job as the pool sends it to a training thread: with `grant`, an Int32 the fit reads its thread count from. */
export type ThreadJob = TrainJob & { grant: SharedArrayBuffer };

export type ThreadMessage =
  | { type: 'progress'; iteration: number; iterations: number; trainLoss: number }
  | {
      type: 'done';
      modelFile?: Uint8Array;
      bestIteration: number;
      fitSeconds: number;
      thread: number;
      fitThreads: number;
      predictions?: Float64Array;
    }
  | { type: 'error'; name: string; message: string };

export interface TrainOutcome {
  /** The fitted model's file: its JSON, UTF-8 (absent when the job said `returnModel: false`). */
  modelFile?: Uint8Array;
  bestIteration: number;
  /** Time inside the trainer (excludes waiting for a thread and scoring). */
  fitSeconds: number;
  /** The worker thread that trained it (threads are kept for later jobs). */
  thread: number;
  /** The most threads a tree of the fit used (2 when it had or was lent a second thread). */
  fitThreads: number;
  predictions?: Float64Array;
}

export type TrainProgress = Extract<ThreadMessage, { type: 'progress' }>;
