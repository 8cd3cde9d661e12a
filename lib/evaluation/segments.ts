import { averagePrecision, rocAuc } from '../metrics';

/** Metrics of one segment (e.g. one app) at the run's threshold. */
export interface SegmentRow {
  dimension: string;
  value: string;
  count: number;
  approvalRate: number;
  meanScore: number;
  accuracy: number;
  /** Defined only when the segment holds both classes. */
  rocAuc: number | null;
  prAuc: number | null;
  /** Global accuracy minus this segment's. */
  shortfall: number;
  /** Accuracy well below the global one: by more than `flagMargin` and by more than two binomial standard errors. */
  flagged: boolean;
}

export interface SegmentOptions {
  threshold: number;
  /** Segments smaller than this are skipped (seed: 100). */
  minCount?: number;
  /** Largest segments kept per dimension. */
  top?: number;
  /** Accuracy shortfall that counts as "well below" (default 0.05). */
  flagMargin?: number;
}

export interface SegmentReport {
  minCount: number;
  top: number;
  flagMargin: number;
  globalAccuracy: number;
  rows: SegmentRow[];
}

/**
 * Per-segment coverage for each dimension (top apps, departments, manager departments in the seed): count,
 * approval rate, mean score, accuracy, ROC-AUC when both classes exist, and a flag for weak segments.
 */
export function segmentMetrics(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  dimensions: Record<string, ArrayLike<string>>,
  options: SegmentOptions,
): SegmentReport {
  const minCount = options.minCount ?? 100;
  const top = options.top ?? 10;
  const flagMargin = options.flagMargin ?? 0.05;
  const n = labels.length;
  const correct = (i: number): boolean => (scores[i]! >= options.threshold ? 1 : 0) === (labels[i] === 1 ? 1 : 0);
  let right = 0;
  for (let i = 0; i < n; i++) if (correct(i)) right++;
  const globalAccuracy = n === 0 ? 0 : right / n;
  const rows: SegmentRow[] = [];
  for (const [dimension, values] of Object.entries(dimensions)) {
    if (values.length !== n) throw new Error(`segment column ${dimension} has ${values.length} rows, expected ${n}`);
    const members = new Map<string, number[]>();
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      const list = members.get(v);
      if (list) list.push(i);
      else members.set(v, [i]);
    }
    const largest = [...members.entries()]
      .filter(([, idx]) => idx.length >= minCount)
      .sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))
      .slice(0, top);
    for (const [value, idx] of largest) {
      const y = idx.map((i) => labels[i]!);
      const p = idx.map((i) => scores[i]!);
      const pos = y.reduce((s, v) => s + (v === 1 ? 1 : 0), 0);
      const accuracy = idx.filter(correct).length / idx.length;
      const both = pos > 0 && pos < idx.length;
      const shortfall = globalAccuracy - accuracy;
      const se = Math.sqrt((globalAccuracy * (1 - globalAccuracy)) / idx.length);
      rows.push({
        dimension,
        value,
        count: idx.length,
        approvalRate: pos / idx.length,
        meanScore: p.reduce((s, v) => s + v, 0) / idx.length,
        accuracy,
        rocAuc: both ? rocAuc(y, p) : null,
        prAuc: both ? averagePrecision(y, p) : null,
        shortfall,
        flagged: shortfall > flagMargin && shortfall > 2 * se,
      });
    }
  }
  return { minCount, top, flagMargin, globalAccuracy, rows };
}
