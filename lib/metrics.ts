import type { ThresholdStrategy } from '../schemas/config';

/** Binary classification metrics at a threshold (predict approve when p >= threshold). */
export interface ThresholdMetrics {
  threshold: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  tpr: number;
  fpr: number;
  confusion: { tp: number; fp: number; tn: number; fn: number };
}

export interface ClassificationMetrics extends ThresholdMetrics {
  rows: number;
  positiveRate: number;
  rocAuc: number;
  prAuc: number;
  logloss: number;
  brier: number;
}

function checkInputs(labels: ArrayLike<number>, scores: ArrayLike<number>): void {
  if (labels.length !== scores.length)
    throw new Error(`labels (${labels.length}) and scores (${scores.length}) differ in length`);
  if (labels.length === 0) throw new Error('metrics need at least one row');
}

/** Row indices sorted by score, descending (ties in index order, which never affects tie-aware metrics). */
function orderByScoreDesc(scores: ArrayLike<number>): Uint32Array {
  const order = new Uint32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** ROC-AUC as the Mann–Whitney statistic with tied scores counted one half, i.e. exact under ties. */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  checkInputs(labels, scores);
  const order = orderByScoreDesc(scores);
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === 1) pos++;
    else neg++;
  }
  if (pos === 0 || neg === 0) return Number.NaN;
  // Walk tie blocks from the top: each negative in a block beats the positives below (counted later).
  let auc = 0;
  let negAbove = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    let p = 0;
    let n = 0;
    while (j < order.length && scores[order[j]!] === scores[order[i]!]) {
      if (labels[order[j]!] === 1) p++;
      else n++;
      j++;
    }
    // positives in this block rank above all negatives below: count pairs (pos, neg) with pos score > neg score.
    auc += p * (neg - negAbove - n) + 0.5 * p * n;
    negAbove += n;
    i = j;
  }
  return auc / (pos * neg);
}

/** Average precision (area under the precision–recall step curve), as scikit-learn defines it. */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  checkInputs(labels, scores);
  const order = orderByScoreDesc(scores);
  let totalPos = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) totalPos++;
  if (totalPos === 0) return Number.NaN;
  let tp = 0;
  let fp = 0;
  let prevRecall = 0;
  let ap = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j < order.length && scores[order[j]!] === scores[order[i]!]) {
      if (labels[order[j]!] === 1) tp++;
      else fp++;
      j++;
    }
    const recall = tp / totalPos;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
    i = j;
  }
  return ap;
}

export function logloss(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  checkInputs(labels, scores);
  const eps = 1e-15;
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - eps, Math.max(eps, scores[i]!));
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / labels.length;
}

export function brier(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  checkInputs(labels, scores);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum += (scores[i]! - labels[i]!) ** 2;
  return sum / labels.length;
}

function fromConfusion(threshold: number, tp: number, fp: number, tn: number, fn: number): ThresholdMetrics {
  const safe = (a: number, b: number): number => (b === 0 ? 0 : a / b);
  const precision = safe(tp, tp + fp);
  const recall = safe(tp, tp + fn);
  return {
    threshold,
    accuracy: safe(tp + tn, tp + fp + tn + fn),
    precision,
    recall,
    f1: safe(2 * precision * recall, precision + recall),
    tpr: recall,
    fpr: safe(fp, fp + tn),
    confusion: { tp, fp, tn, fn },
  };
}

export function metricsAtThreshold(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  threshold: number,
): ThresholdMetrics {
  checkInputs(labels, scores);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const approve = scores[i]! >= threshold;
    if (labels[i] === 1) {
      if (approve) tp++;
      else fn++;
    } else if (approve) fp++;
    else tn++;
  }
  return fromConfusion(threshold, tp, fp, tn, fn);
}

export interface ThresholdOptions {
  fixedThreshold: number;
  costFalseApprove: number;
  costFalseDeny: number;
}

/**
 * Picks the operating threshold among the observed scores: max accuracy (the seed's choice), max F1,
 * a fixed value, or the minimum expected cost. Ties keep the higher threshold (fewer approvals).
 */
export function chooseThreshold(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  strategy: ThresholdStrategy,
  options: ThresholdOptions,
): ThresholdMetrics {
  checkInputs(labels, scores);
  if (strategy === 'fixed') return metricsAtThreshold(labels, scores, options.fixedThreshold);
  const { thresholds, tps, fps } = cumulativeCounts(labels, scores);
  const totalPos = tps.at(-1) ?? 0;
  const totalNeg = labels.length - totalPos;
  const value = (tp: number, fp: number): number => {
    const fn = totalPos - tp;
    const tn = totalNeg - fp;
    if (strategy === 'max_accuracy') return tp + tn;
    if (strategy === 'max_f1') return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
    return -(fp * options.costFalseApprove + fn * options.costFalseDeny);
  };
  // A threshold above every probability approves nobody (kept finite so it survives JSON).
  let best = { threshold: 1 + 1e-9, v: value(0, 0), tp: 0, fp: 0 };
  for (let k = 0; k < thresholds.length; k++) {
    const v = value(tps[k]!, fps[k]!);
    if (v > best.v) best = { threshold: thresholds[k]!, v, tp: tps[k]!, fp: fps[k]! };
  }
  return fromConfusion(best.threshold, best.tp, best.fp, totalNeg - best.fp, totalPos - best.tp);
}

/** Every metric of the evaluation step at the chosen threshold. */
export function classificationMetrics(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  strategy: ThresholdStrategy,
  options: ThresholdOptions,
): ClassificationMetrics {
  let pos = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) pos++;
  return {
    rows: labels.length,
    positiveRate: pos / labels.length,
    rocAuc: rocAuc(labels, scores),
    prAuc: averagePrecision(labels, scores),
    logloss: logloss(labels, scores),
    brier: brier(labels, scores),
    ...chooseThreshold(labels, scores, strategy, options),
  };
}

/** One point of a ROC curve: predicting approve when score >= threshold gives (fpr, tpr). */
export interface RocPoint {
  threshold: number;
  fpr: number;
  tpr: number;
}

/** One point of a precision–recall curve at `threshold`. */
export interface PrPoint {
  threshold: number;
  precision: number;
  recall: number;
}

/** Cumulative (tp, fp) at every distinct score, highest score first (scikit-learn's `_binary_clf_curve`). */
function cumulativeCounts(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
): { thresholds: number[]; tps: number[]; fps: number[] } {
  checkInputs(labels, scores);
  const order = orderByScoreDesc(scores);
  const thresholds: number[] = [];
  const tps: number[] = [];
  const fps: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length;) {
    const t = scores[order[i]!]!;
    let j = i;
    while (j < order.length && scores[order[j]!] === t) {
      if (labels[order[j]!] === 1) tp++;
      else fp++;
      j++;
    }
    thresholds.push(t);
    tps.push(tp);
    fps.push(fp);
    i = j;
  }
  return { thresholds, tps, fps };
}

/**
 * The full ROC curve: (0, 0) at threshold +∞, then one point per distinct score, highest first —
 * scikit-learn's `roc_curve(..., drop_intermediate=False)`. NaN rates when a class is absent.
 */
export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): RocPoint[] {
  const { thresholds, tps, fps } = cumulativeCounts(labels, scores);
  const pos = tps[tps.length - 1]!;
  const neg = fps[fps.length - 1]!;
  const points: RocPoint[] = [{ threshold: Number.POSITIVE_INFINITY, fpr: 0, tpr: 0 }];
  for (let k = 0; k < thresholds.length; k++)
    points.push({ threshold: thresholds[k]!, fpr: fps[k]! / neg, tpr: tps[k]! / pos });
  return points;
}

/**
 * The precision–recall curve as scikit-learn's `precision_recall_curve`: one point per distinct score in
 * increasing threshold order, then the end point (precision 1, recall 0) with threshold +∞.
 */
export function precisionRecallCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): PrPoint[] {
  const { thresholds, tps, fps } = cumulativeCounts(labels, scores);
  const pos = tps[tps.length - 1]!;
  const points: PrPoint[] = [];
  for (let k = thresholds.length - 1; k >= 0; k--) {
    const predicted = tps[k]! + fps[k]!;
    points.push({
      threshold: thresholds[k]!,
      precision: predicted === 0 ? 1 : tps[k]! / predicted,
      recall: tps[k]! / pos,
    });
  }
  points.push({ threshold: Number.POSITIVE_INFINITY, precision: 1, recall: 0 });
  return points;
}

/** Expected cost per request at a threshold: (false approvals · cost + false denials · cost) / rows. */
export function expectedCost(
  m: ThresholdMetrics,
  options: Pick<ThresholdOptions, 'costFalseApprove' | 'costFalseDeny'>,
): number {
  const { tp, fp, tn, fn } = m.confusion;
  const n = tp + fp + tn + fn;
  return n === 0 ? 0 : (fp * options.costFalseApprove + fn * options.costFalseDeny) / n;
}
