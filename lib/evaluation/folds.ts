import { averagePrecision, logloss, metricsAtThreshold, rocAuc } from '../metrics';

export interface FoldMetrics {
  fold: number;
  rows: number;
  positiveRate: number;
  rocAuc: number;
  prAuc: number;
  logloss: number;
  /** At the run's (global) threshold. */
  accuracy: number;
}

export interface FoldConsistency {
  folds: FoldMetrics[];
  rocAuc: { mean: number; std: number; min: number; max: number };
}

/** Metrics of each GroupKFold fold's held-out rows, and the spread of ROC-AUC across folds. */
export function foldMetrics(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  folds: ArrayLike<number>,
  threshold: number,
): FoldConsistency {
  const ids = [...new Set(Array.from(folds))].sort((a, b) => a - b);
  const out = ids.map((fold): FoldMetrics => {
    const y: number[] = [];
    const p: number[] = [];
    for (let i = 0; i < labels.length; i++) {
      if (folds[i] === fold) {
        y.push(labels[i]!);
        p.push(scores[i]!);
      }
    }
    return {
      fold,
      rows: y.length,
      positiveRate: y.reduce((s, v) => s + v, 0) / y.length,
      rocAuc: rocAuc(y, p),
      prAuc: averagePrecision(y, p),
      logloss: logloss(y, p),
      accuracy: metricsAtThreshold(y, p, threshold).accuracy,
    };
  });
  const aucs = out.map((f) => f.rocAuc);
  const mean = aucs.reduce((s, v) => s + v, 0) / aucs.length;
  const std = aucs.length > 1 ? Math.sqrt(aucs.reduce((s, v) => s + (v - mean) ** 2, 0) / (aucs.length - 1)) : 0;
  return { folds: out, rocAuc: { mean, std, min: Math.min(...aucs), max: Math.max(...aucs) } };
}
