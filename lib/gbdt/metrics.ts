/** Metrics the trainer reports and early-stops on. */
import { rocAuc as exactRocAuc } from '../metrics';

/** Mean binary log loss of raw scores (log-odds), computed stably. */
export function loglossFromRaw(raw: Float64Array, labels: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < raw.length; i++) {
    const z = raw[i]!;
    // -log(sigmoid(z)) = softplus(-z); -log(1 - sigmoid(z)) = softplus(z)
    const t = labels[i] ? -z : z;
    s += t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
  }
  return raw.length > 0 ? s / raw.length : 0;
}

/** ROC-AUC for early stopping (lib/metrics' exact-tie AUC); 0.5 when one class is absent, so comparisons stay defined. */
export function rocAuc(scores: ArrayLike<number>, labels: Uint8Array): number {
  const auc = exactRocAuc(labels, scores);
  return Number.isNaN(auc) ? 0.5 : auc;
}

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
