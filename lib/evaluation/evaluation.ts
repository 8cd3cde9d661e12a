import type { ThresholdStrategy } from '../../schemas/config';
import type { ThresholdOptions } from '../metrics';
import { bootstrapCi, type BootstrapResult } from './bootstrap';
import { calibrationReport, type CalibrationReport } from './calibration';
import { foldMetrics, type FoldConsistency } from './folds';
import { segmentMetrics, type SegmentReport } from './segments';
import { thresholdTable, type ThresholdRow } from './thresholds';

export interface EvaluationInputs {
  labels: ArrayLike<number>;
  scores: ArrayLike<number>;
  folds: ArrayLike<number>;
  /** Cluster id per row for the bootstrap (the CV group, userId). */
  groups?: ArrayLike<number>;
  /** Segment columns (dimension → value per row). */
  segments: Record<string, ArrayLike<string>>;
  strategy: ThresholdStrategy;
  options: ThresholdOptions;
  /** The operating threshold chosen by `strategy`. */
  threshold: number;
  bootstrapIterations?: number;
  seed?: number;
}

export interface Evaluation {
  foldMetrics: FoldConsistency;
  costs: { falseApprove: number; falseDeny: number };
  thresholds: ThresholdRow[];
  ci: BootstrapResult;
  calibration: CalibrationReport;
  segments: SegmentReport;
}

/** Bootstrap resamples: 1000, fewer on very large inputs so the step stays within minutes (at least 200). */
export function bootstrapIterationsFor(rows: number): number {
  return Math.max(200, Math.min(1000, Math.floor(2e8 / Math.max(1, rows))));
}

/**
 * Everything the report adds to the headline metrics, computed from the out-of-fold scores. At ten million rows
 * this computes for minutes; the pipeline then runs it on a thread of its own (lib/pipeline/offThread.ts).
 */
export function evaluateScores(input: EvaluationInputs): Evaluation {
  const { labels, scores, folds, threshold } = input;
  const folded = foldMetrics(labels, scores, folds, threshold);
  const thresholds = thresholdTable(labels, scores, input.strategy, input.options);
  const ci = bootstrapCi(labels, scores, {
    threshold,
    groups: input.groups,
    iterations: input.bootstrapIterations ?? bootstrapIterationsFor(labels.length),
    seed: input.seed,
  });
  const calibration = calibrationReport(labels, scores, folds);
  const segments = segmentMetrics(labels, scores, input.segments, { threshold });
  return {
    foldMetrics: folded,
    costs: { falseApprove: input.options.costFalseApprove, falseDeny: input.options.costFalseDeny },
    thresholds,
    ci,
    calibration,
    segments,
  };
}
