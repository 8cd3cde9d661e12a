/**
 * Binning tables (seed-3 "binning" mapped onto our features, DESIGN.md): per feature, numeric borders or
 * categorical groups (rare categories merged), with count, approval rate, weight of evidence and information
 * value per bin. Pure functions over columns; `runBinningTables` reads a run's feature table.
 */
import type { FeatureMatrix } from '../../schemas/matrix';
import type { Bin, BinningTable, FeatureBinning, OverrideChange, OverrideSpec } from '../../schemas/lifecycle';
import { InputError } from '../errors';

export { categoryGroups, OTHER_CATEGORY, rewritesFeatures, versionFeatureSql } from './groups';

/** Most bins an auto-generated numeric binning gets. */
export const MAX_NUMERIC_BINS = 5;
/** Label of the bin holding the categories of no group (the rare ones, merged). */
export const OTHER_BIN = '(other: rare categories)';
export const MISSING_BIN = '(missing)';

/** Categories rarer than this share of rows (and at least 30 rows) are merged into the other bin. */
const rareCount = (rows: number): number => Math.max(30, Math.ceil(rows * 0.005));

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+$/, ''));

/** Numeric borders at quantiles of the present values, at most `maxBins` bins (every distinct value when few). */
export function autoNumericBinning(values: Float64Array, maxBins = MAX_NUMERIC_BINS): FeatureBinning {
  const present = Array.from(values)
    .filter((v) => !Number.isNaN(v))
    .sort((a, b) => a - b);
  const distinct = [...new Set(present)];
  if (distinct.length <= 1) return { kind: 'numeric', borders: [distinct[0] ?? 0] };
  if (distinct.length <= maxBins) return { kind: 'numeric', borders: distinct.slice(0, -1) };
  const borders = new Set<number>();
  for (let q = 1; q < maxBins; q++) {
    const v = present[Math.floor((q * present.length) / maxBins)]!;
    if (v < distinct[distinct.length - 1]!) borders.add(v);
  }
  return { kind: 'numeric', borders: [...borders].sort((a, b) => a - b) };
}

/**
 * One group per category with enough rows (largest first): at least `minShare` of the rows, by default
 * max(30 rows, 0.5%); the rest fall into the other bin.
 */
export function autoCategoricalBinning(codes: Int32Array, dictionary: string[], minShare?: number): FeatureBinning {
  const counts = new Float64Array(dictionary.length);
  for (const c of codes) counts[c]!++;
  const min = minShare === undefined ? rareCount(codes.length) : Math.max(1, Math.ceil(codes.length * minShare));
  const frequent = dictionary
    .map((value, code) => ({ value, n: counts[code]! }))
    .filter((x) => x.n >= min)
    .sort((a, b) => b.n - a.n || a.value.localeCompare(b.value));
  // A column where every category is rare still gets one group, so the binning is never empty.
  const groups = frequent.length > 0 ? frequent.map((x) => [x.value]) : [[dictionary[0] ?? '']];
  return { kind: 'categorical', groups };
}

function binStats(label: string, id: number, approvals: number, count: number, totals: { pos: number; neg: number }) {
  // +0.5 smoothing keeps WoE finite for bins without approvals or without denials.
  const posShare = (approvals + 0.5) / (totals.pos + 0.5);
  const negShare = (count - approvals + 0.5) / (totals.neg + 0.5);
  const woe = Math.log(posShare / negShare);
  return {
    id,
    label,
    count,
    approvals,
    approvalRate: count > 0 ? approvals / count : 0,
    woe,
    iv: (posShare - negShare) * woe,
  };
}

/** Bin index of each row under a binning (numeric: interval, then missing; categorical: group, then other). */
export function assignBins(
  binning: FeatureBinning,
  column: { values: Float64Array } | { codes: Int32Array; dictionary: string[] },
): { binOf: Int32Array; labels: string[] } {
  if (binning.kind === 'numeric') {
    if (!('values' in column)) throw new InputError('a numeric binning needs a numeric column');
    const b = binning.borders;
    const labels = [
      `≤ ${fmt(b[0]!)}`,
      ...b.slice(1).map((x, i) => `(${fmt(b[i]!)}, ${fmt(x)}]`),
      `> ${fmt(b[b.length - 1]!)}`,
    ];
    const missing = labels.length;
    const binOf = Int32Array.from(column.values, (v) => {
      if (Number.isNaN(v)) return missing;
      let i = 0;
      while (i < b.length && v > b[i]!) i++;
      return i;
    });
    return { binOf, labels: binOf.includes(missing) ? [...labels, MISSING_BIN] : labels };
  }
  if (!('codes' in column)) throw new InputError('a categorical binning needs a categorical column');
  const groupOf = new Map<string, number>();
  binning.groups.forEach((g, i) => g.forEach((v) => groupOf.set(v, i)));
  const other = binning.groups.length;
  const byCode = column.dictionary.map((v) => groupOf.get(v) ?? other);
  const binOf = Int32Array.from(column.codes, (c) => byCode[c]!);
  const labels = binning.groups.map((g) =>
    g.length <= 4 ? g.join(' | ') : `${g.slice(0, 4).join(' | ')} +${g.length - 4}`,
  );
  return { binOf, labels: binOf.includes(other) ? [...labels, OTHER_BIN] : labels };
}

/** The binning table of one feature: count, approvals, approval rate, WoE and IV per bin. */
export function binningTable(
  feature: string,
  binning: FeatureBinning,
  column: { values: Float64Array } | { codes: Int32Array; dictionary: string[] },
  labels: Uint8Array,
  source: BinningTable['source'],
): BinningTable {
  const { binOf, labels: binLabels } = assignBins(binning, column);
  const counts = new Float64Array(binLabels.length);
  const approvals = new Float64Array(binLabels.length);
  let pos = 0;
  for (let i = 0; i < binOf.length; i++) {
    counts[binOf[i]!]!++;
    approvals[binOf[i]!]! += labels[i]!;
    pos += labels[i]!;
  }
  const totals = { pos, neg: labels.length - pos };
  const bins: Bin[] = binLabels.map((label, id) => binStats(label, id, approvals[id]!, counts[id]!, totals));
  return { feature, kind: binning.kind, binning, source, iv: bins.reduce((s, b) => s + b.iv, 0), bins };
}

type Column =
  | { kind: 'numeric'; column: { values: Float64Array } }
  | { kind: 'categorical'; column: { codes: Int32Array; dictionary: string[] } };

function columnOf(matrix: FeatureMatrix, feature: string): Column {
  const numeric = matrix.numeric.find((c) => c.name === feature);
  if (numeric) return { kind: 'numeric', column: { values: numeric.values } };
  const cat = matrix.categorical.find((c) => c.name === feature);
  if (cat) return { kind: 'categorical', column: { codes: cat.codes, dictionary: cat.dictionary } };
  const names = [...matrix.numeric, ...matrix.categorical].map((c) => c.name).join(', ');
  throw new InputError(`unknown feature ${feature} (features: ${names})`);
}

/** Binning tables of every feature: the spec's binning where an override set one, auto-generated otherwise. */
export function binningTables(
  matrix: FeatureMatrix,
  labels: Uint8Array,
  spec: Pick<OverrideSpec, 'binning'>,
): BinningTable[] {
  return [...matrix.numeric, ...matrix.categorical].map((c) => tableFor(matrix, labels, spec, c.name));
}

export function tableFor(
  matrix: FeatureMatrix,
  labels: Uint8Array,
  spec: Pick<OverrideSpec, 'binning'>,
  feature: string,
): BinningTable {
  const col = columnOf(matrix, feature);
  const given = spec.binning[feature];
  if (given && given.kind !== col.kind)
    throw new InputError(`${feature} is ${col.kind}; its binning must be ${col.kind}`);
  const binning =
    given ??
    (col.kind === 'numeric'
      ? autoNumericBinning(col.column.values)
      : autoCategoricalBinning(col.column.codes, col.column.dictionary));
  return binningTable(feature, binning, col.column, labels, given ? 'override' : 'auto');
}

/** A feature's automatic binning (auto_bins override: the given bin count or rare share, defaults otherwise). */
export function autoBinning(
  matrix: FeatureMatrix,
  feature: string,
  options: { maxBins?: number; minShare?: number } = {},
): FeatureBinning {
  const col = columnOf(matrix, feature);
  if (col.kind === 'numeric') {
    if (options.minShare !== undefined) throw new InputError(`${feature} is numeric: give max_bins, not min_share`);
    return autoNumericBinning(col.column.values, options.maxBins);
  }
  if (options.maxBins !== undefined) throw new InputError(`${feature} is categorical: give min_share, not max_bins`);
  return autoCategoricalBinning(col.column.codes, col.column.dictionary, options.minShare);
}

/** The binning a bin override or a merge leads to, checked against the feature's current binning. */
export function nextBinning(
  matrix: FeatureMatrix,
  current: BinningTable,
  change: Extract<OverrideChange, { kind: 'bin_override' | 'merge_bins' }>,
): FeatureBinning {
  const { kind } = columnOf(matrix, change.feature);
  if (change.kind === 'bin_override') {
    if (change.binning.kind !== kind)
      throw new InputError(`${change.feature} is ${kind}: give ${kind === 'numeric' ? 'borders' : 'groups'}`);
    if (change.binning.kind === 'numeric') {
      const b = change.binning.borders;
      if (b.some((x, i) => i > 0 && x <= b[i - 1]!))
        throw new InputError(`borders of ${change.feature} must be strictly increasing`);
    } else {
      const seen = new Set<string>();
      for (const v of change.binning.groups.flat()) {
        if (seen.has(v)) throw new InputError(`category ${v} of ${change.feature} is in two groups`);
        seen.add(v);
      }
    }
    return change.binning;
  }
  const ids = [...new Set(change.bins)].sort((a, b) => a - b);
  const binning = current.binning;
  for (const id of ids) {
    const bin = current.bins[id];
    if (!bin) throw new InputError(`${change.feature} has no bin ${id} (bins 0..${current.bins.length - 1})`);
    if (bin.label === MISSING_BIN || bin.label === OTHER_BIN)
      throw new InputError(`bin ${id} of ${change.feature} (${bin.label}) cannot be merged`);
  }
  if (binning.kind === 'numeric') {
    if (ids.some((id, i) => i > 0 && id !== ids[i - 1]! + 1))
      throw new InputError(`numeric bins merge only when adjacent; got ${ids.join(', ')}`);
    // Merging bins i..j removes the borders between them (borders i..j-1).
    const borders = binning.borders.filter((_, k) => k < ids[0]! || k >= ids[ids.length - 1]!);
    if (borders.length === 0)
      throw new InputError(`merging ${ids.join(', ')} would leave ${change.feature} with one bin`);
    return { kind: 'numeric', borders };
  }
  const merged = ids.flatMap((id) => binning.groups[id]!);
  const groups = binning.groups.filter((_, k) => !ids.includes(k));
  groups.splice(ids[0]!, 0, merged);
  return { kind: 'categorical', groups };
}
