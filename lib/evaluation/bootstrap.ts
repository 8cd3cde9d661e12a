import { Rng } from '../rng';

/** A point estimate with a percentile bootstrap interval. */
export interface Interval {
  estimate: number;
  lower: number;
  upper: number;
}

export interface BootstrapOptions {
  /** Resamples (default 1000). */
  iterations?: number;
  /** Two-sided level (default 0.95). */
  level?: number;
  seed?: number;
  /** Threshold for accuracy (approve when score >= threshold). */
  threshold: number;
  /**
   * Cluster ids (e.g. the user of each row): whole clusters are resampled, matching GroupKFold's unit of
   * generalisation. Without them, rows are resampled.
   */
  groups?: ArrayLike<number>;
}

export interface BootstrapResult {
  iterations: number;
  level: number;
  unit: 'rows' | 'groups';
  rocAuc: Interval;
  accuracy: Interval;
}

/** numpy-style linear-interpolated quantile of sorted values. */
function quantileSorted(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Weighted ROC-AUC over rows pre-sorted by score (descending) with tie-block boundaries. */
function weightedAuc(order: Uint32Array, blockEnd: Uint32Array, labels: ArrayLike<number>, w: Float64Array): number {
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < order.length; i++) {
    const r = order[i]!;
    if (labels[r] === 1) pos += w[r]!;
    else neg += w[r]!;
  }
  if (pos === 0 || neg === 0) return Number.NaN;
  let auc = 0;
  let negAbove = 0;
  for (let i = 0; i < order.length;) {
    const end = blockEnd[i]!;
    let p = 0;
    let n = 0;
    for (let j = i; j < end; j++) {
      const r = order[j]!;
      if (labels[r] === 1) p += w[r]!;
      else n += w[r]!;
    }
    auc += p * (neg - negAbove - n) + 0.5 * p * n;
    negAbove += n;
    i = end;
  }
  return auc / (pos * neg);
}

/**
 * Percentile bootstrap intervals for ROC-AUC and accuracy. Each resample is a vector of multiplicities
 * (rows or whole groups drawn with replacement), so one sort serves every resample: O(rows) per iteration.
 * Example: `bootstrapCi(labels, scores, { threshold: 0.54, groups: userCodes })`.
 */
export function bootstrapCi(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  options: BootstrapOptions,
): BootstrapResult {
  const n = labels.length;
  if (n !== scores.length || n === 0) throw new Error('bootstrap needs equal, non-empty labels and scores');
  const iterations = options.iterations ?? 1000;
  const level = options.level ?? 0.95;
  const rng = new Rng(options.seed ?? 20261123);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  const blockEnd = new Uint32Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j < n && scores[order[j]!] === scores[order[i]!]) j++;
    for (let k = i; k < j; k++) blockEnd[k] = j;
    i = j;
  }
  const correct = new Uint8Array(n);
  let correctTotal = 0;
  for (let i = 0; i < n; i++) {
    correct[i] = (scores[i]! >= options.threshold ? 1 : 0) === (labels[i] === 1 ? 1 : 0) ? 1 : 0;
    correctTotal += correct[i]!;
  }
  // Group index per row (0..g-1) when clustering.
  let groupOf: Uint32Array | null = null;
  let nGroups = n;
  if (options.groups) {
    const ids = new Map<number, number>();
    groupOf = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const g = options.groups[i]!;
      let k = ids.get(g);
      if (k === undefined) {
        k = ids.size;
        ids.set(g, k);
      }
      groupOf[i] = k;
    }
    nGroups = ids.size;
  }
  const aucs = new Float64Array(iterations);
  const accs = new Float64Array(iterations);
  const w = new Float64Array(n);
  const gw = new Float64Array(nGroups);
  let valid = 0;
  for (let it = 0; it < iterations; it++) {
    if (groupOf) {
      gw.fill(0);
      for (let k = 0; k < nGroups; k++) {
        const g = rng.int(nGroups);
        gw[g] = gw[g]! + 1;
      }
      for (let i = 0; i < n; i++) w[i] = gw[groupOf[i]!]!;
    } else {
      w.fill(0);
      for (let k = 0; k < n; k++) {
        const r = rng.int(n);
        w[r] = w[r]! + 1;
      }
    }
    let total = 0;
    let right = 0;
    for (let i = 0; i < n; i++) {
      total += w[i]!;
      right += w[i]! * correct[i]!;
    }
    const auc = weightedAuc(order, blockEnd, labels, w);
    if (Number.isNaN(auc) || total === 0) continue;
    aucs[valid] = auc;
    accs[valid] = right / total;
    valid++;
  }
  const alpha = (1 - level) / 2;
  const interval = (values: Float64Array, estimate: number): Interval => {
    const sorted = values.slice(0, valid).sort();
    return { estimate, lower: quantileSorted(sorted, alpha), upper: quantileSorted(sorted, 1 - alpha) };
  };
  const ones = new Float64Array(n).fill(1);
  return {
    iterations: valid,
    level,
    unit: groupOf ? 'groups' : 'rows',
    rocAuc: interval(aucs, weightedAuc(order, blockEnd, labels, ones)),
    accuracy: interval(accs, correctTotal / n),
  };
}
