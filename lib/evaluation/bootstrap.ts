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

/**
 * Weighted ROC-AUC of rows already in descending score order (`positive`, `w` in that order) with tie-block
 * boundaries. Every sum but the last is of whole numbers (resample counts), so it is exact in any order.
 */
function weightedAuc(blockEnd: Uint32Array, positive: Uint8Array, w: Float64Array): number {
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < w.length; i++) {
    if (positive[i] === 1) pos += w[i]!;
    else neg += w[i]!;
  }
  if (pos === 0 || neg === 0) return Number.NaN;
  let auc = 0;
  let negAbove = 0;
  for (let i = 0; i < w.length;) {
    const end = blockEnd[i]!;
    let p = 0;
    let n = 0;
    for (let j = i; j < end; j++) {
      if (positive[j] === 1) p += w[j]!;
      else n += w[j]!;
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
  // Rows are kept in score order from here on: each resample then reads its weights, labels and correctness in
  // sequence (at ten million rows, reading them in row order through `order` missed the caches on every row and
  // took 200 s for 200 resamples).
  const positive = new Uint8Array(n);
  const correct = new Uint8Array(n);
  let correctTotal = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    positive[k] = labels[i] === 1 ? 1 : 0;
    correct[k] = (scores[i]! >= options.threshold ? 1 : 0) === positive[k] ? 1 : 0;
    correctTotal += correct[k]!;
  }
  // Group index per row in score order (0..g-1) when clustering; else each row's place in score order.
  let groupOf: Uint32Array | null = null;
  let nGroups = n;
  if (options.groups) {
    const ids = new Map<number, number>();
    const groupOfRow = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const g = options.groups[i]!;
      let k = ids.get(g);
      if (k === undefined) {
        k = ids.size;
        ids.set(g, k);
      }
      groupOfRow[i] = k;
    }
    nGroups = ids.size;
    groupOf = new Uint32Array(n);
    for (let k = 0; k < n; k++) groupOf[k] = groupOfRow[order[k]!]!;
  }
  const placeOf = groupOf ? null : new Uint32Array(n);
  if (placeOf) for (let k = 0; k < n; k++) placeOf[order[k]!] = k;
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
      for (let k = 0; k < n; k++) w[k] = gw[groupOf[k]!]!;
    } else {
      w.fill(0);
      for (let k = 0; k < n; k++) {
        const r = placeOf![rng.int(n)]!;
        w[r] = w[r]! + 1;
      }
    }
    let total = 0;
    let right = 0;
    for (let k = 0; k < n; k++) {
      total += w[k]!;
      right += w[k]! * correct[k]!;
    }
    const auc = weightedAuc(blockEnd, positive, w);
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
    rocAuc: interval(aucs, weightedAuc(blockEnd, positive, ones)),
    accuracy: interval(accs, correctTotal / n),
  };
}
