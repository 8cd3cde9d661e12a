/**
 * Categorical target statistics (CTRs), as CatBoost computes them for a binary target.
 * - 'Borders' (probability-style): (countInClass + prior) / (totalCount + 1).
 * - 'Counter' (frequency): (totalCount + prior) / (maxCount + 1), maxCount = largest totalCount.
 * During training a row's Borders CTR uses only the rows before it in a random permutation (ordered target
 * statistics), so the first occurrence of a value gets prior / 1. At apply time the statistics over all
 * training rows are used; an unseen value has countInClass = totalCount = 0.
 */
import type { CategoricalColumn } from '../../schemas/matrix';

/** CatBoost's default CTR set for Logloss: Borders with priors 0, 0.5, 1, and Counter with prior 0. */
export const DEFAULT_CTRS: ReadonlyArray<{ type: 'Borders' | 'Counter'; prior: number }> = [
  { type: 'Borders', prior: 0 },
  { type: 'Borders', prior: 0.5 },
  { type: 'Borders', prior: 1 },
  { type: 'Counter', prior: 0 },
];

export function ctrValue(
  type: 'Borders' | 'Counter',
  prior: number,
  positives: number,
  total: number,
  maxCount: number,
): number {
  return type === 'Borders' ? (positives + prior) / (total + 1) : (total + prior) / (maxCount + 1);
}

/** A training column re-indexed to the values that occur in it, sorted by string, with their statistics. */
export interface CategoryIndex {
  /** Distinct values present in the training rows, sorted (code-unit order). */
  values: string[];
  /** Per row: index into `values`. */
  valueOf: Int32Array;
  positives: Int32Array;
  totals: Int32Array;
  maxCount: number;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function indexCategories(col: CategoricalColumn, labels: Uint8Array): CategoryIndex {
  const n = col.codes.length;
  const dict = col.dictionary;
  const used = new Uint8Array(dict.length);
  for (let i = 0; i < n; i++) used[col.codes[i]!] = 1;
  const present = new Set<string>();
  for (let c = 0; c < dict.length; c++) if (used[c]) present.add(dict[c]!);
  const values = [...present].sort(byCodeUnit);
  const pos = new Map<string, number>();
  values.forEach((v, i) => pos.set(v, i));
  const codeToValue = new Int32Array(dict.length).fill(-1);
  for (let c = 0; c < dict.length; c++) if (used[c]) codeToValue[c] = pos.get(dict[c]!)!;
  const valueOf = new Int32Array(n);
  const positives = new Int32Array(values.length);
  const totals = new Int32Array(values.length);
  for (let i = 0; i < n; i++) {
    const v = codeToValue[col.codes[i]!]!;
    valueOf[i] = v;
    totals[v]!++;
    positives[v]! += labels[i]!;
  }
  let maxCount = 0;
  for (let v = 0; v < values.length; v++) if (totals[v]! > maxCount) maxCount = totals[v]!;
  return { values, valueOf, positives, totals, maxCount };
}

/**
 * Ordered Borders CTRs of one column under one permutation, for several priors at once.
 * Row perm[0] sees no history; row perm[t] sees rows perm[0..t-1].
 */
export function orderedBordersCtrs(
  valueOf: Int32Array,
  valueCount: number,
  labels: Uint8Array,
  perm: Uint32Array,
  priors: number[],
): Float64Array[] {
  const n = valueOf.length;
  const pos = new Int32Array(valueCount);
  const tot = new Int32Array(valueCount);
  const out = priors.map(() => new Float64Array(n));
  for (let t = 0; t < n; t++) {
    const i = perm[t]!;
    const v = valueOf[i]!;
    const p = pos[v]!;
    const c = tot[v]!;
    for (let k = 0; k < priors.length; k++) out[k]![i] = (p + priors[k]!) / (c + 1);
    pos[v] = p + labels[i]!;
    tot[v] = c + 1;
  }
  return out;
}

/**
 * Each row's ordered history under one permutation, the counts `orderedBordersCtrs` divides:
 * history[2i] = positives and history[2i + 1] = rows with row i's value before it. `labelledValue[i]` is
 * 2 · value + label, so the pass over the rows in permutation order (random access, the cost at a million rows)
 * reads one array and writes one.
 */
export function orderedHistory(
  labelledValue: Int32Array,
  valueCount: number,
  perm: Uint32Array,
  history: Int32Array,
): void {
  // Per value, interleaved: positives so far, rows so far.
  const seen = new Int32Array(2 * valueCount);
  for (let t = 0; t < labelledValue.length; t++) {
    const i = perm[t]!;
    const lv = labelledValue[i]!;
    const at = (lv >> 1) << 1;
    const p = seen[at]!;
    const c = seen[at + 1]!;
    history[2 * i] = p;
    history[2 * i + 1] = c;
    seen[at] = p + (lv & 1);
    seen[at + 1] = c + 1;
  }
}

/**
 * Maps a scoring column (its own dictionary) onto a training value list by string: per row the index into
 * `values`, or -1 for a value unseen in training.
 */
export function mapToTrainValues(col: CategoricalColumn, values: string[]): Int32Array {
  const pos = new Map<string, number>();
  values.forEach((v, i) => pos.set(v, i));
  const codeMap = new Int32Array(col.dictionary.length);
  for (let c = 0; c < col.dictionary.length; c++) codeMap[c] = pos.get(col.dictionary[c]!) ?? -1;
  const out = new Int32Array(col.codes.length);
  for (let i = 0; i < out.length; i++) {
    const code = col.codes[i]!;
    out[i] = code >= 0 && code < codeMap.length ? codeMap[code]! : -1;
  }
  return out;
}
