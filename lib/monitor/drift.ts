/**
 * Drift of a current window against a reference window, column by column, with Evidently's default
 * test selection (see {@link DEFAULT_DRIFT_OPTIONS}):
 * - reference with ≤ 1,000 non-missing values: numeric → two-sample KS (p < 0.05); categorical, or numeric
 *   with ≤ 5 distinct values → chi-square (p < 0.05), or the two-proportion Z-test when there are ≤ 2 values;
 * - larger reference: numeric → Wasserstein distance normalized by the reference std (≥ 0.1);
 *   categorical / few-valued numeric → Jensen–Shannon distance, natural log as scipy's default (≥ 0.1);
 * - PSI for every column (0.1 / 0.25 bands), new-category rate for every categorical;
 * - dataset drift when the share of drifted features is ≥ 0.5;
 * - target drift (approval rate) and prediction drift (score distribution) when those columns exist.
 *
 * Missing values (null, NaN) are dropped before testing, as Evidently does, and counted in the summaries.
 * The reference can be profiled once ({@link profileReference}) and compared with many windows.
 */
import {
  MIN_EXPECTED_COUNT,
  chiSquareHomogeneity,
  chiSquareTwoSample,
  jensenShannonDistance,
  ksTestSorted,
  normalizedWassersteinSorted,
  populationStd,
  psiBand,
  psiFromShares,
  quantileEdges,
  histogramSorted,
  sortedFinite,
  sturgesEdges,
  toShares,
  twoProportionZTest,
  type KsMode,
  type PsiBand,
} from './stats';

// ---------------------------------------------------------------- inputs

/** Numeric column: NaN or null is missing. */
export type NumericColumn = Float64Array | Float32Array | Int32Array | Uint8Array | readonly (number | null)[];
/** Dictionary-encoded categorical column (code < 0 is missing): the fast path for large windows. */
export interface CodedColumn {
  codes: Int32Array;
  dictionary: readonly string[];
}
/** Categorical column: strings (null/undefined missing) or dictionary codes. */
export type CategoricalColumn = readonly (string | null | undefined)[] | CodedColumn;
export type ColumnData = NumericColumn | CategoricalColumn;
/** A window: columns by name, all of the same length. */
export type DriftTable = Readonly<Record<string, ColumnData>>;

/** Which columns to compare and how to read them. */
export interface DriftSpec {
  numeric: readonly string[];
  categorical: readonly string[];
  /** Binary label (0/1): target drift. Optional; skipped when absent from either window. */
  target?: string;
  /** Model score in [0, 1]: prediction drift. Optional; skipped when absent from either window. */
  prediction?: string;
}

export type DriftTestName = 'ks' | 'wasserstein' | 'chisquare' | 'z' | 'jensenshannon' | 'psi';

export interface DriftOptions {
  /** References with at most this many non-missing values use p-value tests, larger ones distances. Evidently: 1000. */
  smallSampleMaxRows: number;
  /** Numeric columns with at most this many distinct values (reference ∪ current) are tested as categories. Evidently: 5. */
  maxUniqueAsCategorical: number;
  /** Drift when p < this (KS, chi-square, Z). Evidently: 0.05. */
  pValueThreshold: number;
  /** Drift when distance ≥ this (Wasserstein normed, Jensen–Shannon). Evidently: 0.1. */
  distanceThreshold: number;
  /** Drift when PSI ≥ this, if PSI is chosen as a column's test. Evidently: 0.1. */
  psiThreshold: number;
  /** PSI reading bands [moderate from, significant from]. */
  psiBands: readonly [number, number];
  /**
   * Chi-square form for small references. 'homogeneity' (default): the 2 × k test of homogeneity with
   * categories of expected count < 5 pooled (calibrated; a category the reference lacks is just another
   * cell). 'evidently': Evidently's goodness of fit against reference shares, where any category the
   * reference lacks gives p = 0 (so every high-cardinality column "drifts" — measured in tests/drift.test.ts).
   */
  chiSquareForm: 'homogeneity' | 'evidently';
  /** Dataset drift when the share of drifted features is ≥ this. Evidently: 0.5. */
  datasetDriftShare: number;
  /** PSI bins for numeric columns with more than 20 distinct reference values: Evidently's 'sturges' or reference quantiles. */
  psiBinning: 'sturges' | 'quantile';
  /** Number of reference-quantile bins when psiBinning = 'quantile'. */
  psiQuantileBins: number;
  /** Jensen–Shannon logarithm base. Evidently: e (scipy's default; its `jensenshannon` passes no base). */
  jsBase: number;
  /** KS p-value method: scipy's 'auto' (exact up to 10,000 per sample), 'exact' or 'asymp'. */
  ksMode: KsMode;
  /** Per-column test overrides (any column, including target/prediction). */
  tests: Readonly<Record<string, DriftTestName>>;
  /** Per-column threshold overrides. */
  thresholds: Readonly<Record<string, number>>;
  /** Target drift test: 'z' (two-proportion, any size) or 'auto' (the feature rule, as Evidently's target drift). */
  targetTest: 'z' | 'auto';
  /** Categories listed per column in the report summaries. */
  topCategories: number;
  /** New categories listed per column as examples. */
  newCategoryExamples: number;
}

/** Evidently's defaults (legacy `evidently.calculations.stattests`: registry, ks, chisquare, z, jensenshannon, wasserstein_distance_norm, psi). */
export const DEFAULT_DRIFT_OPTIONS: DriftOptions = {
  smallSampleMaxRows: 1000,
  maxUniqueAsCategorical: 5,
  pValueThreshold: 0.05,
  distanceThreshold: 0.1,
  psiThreshold: 0.1,
  psiBands: [0.1, 0.25],
  chiSquareForm: 'homogeneity',
  datasetDriftShare: 0.5,
  psiBinning: 'sturges',
  psiQuantileBins: 10,
  jsBase: Math.E,
  ksMode: 'auto',
  tests: {},
  thresholds: {},
  targetTest: 'z',
  topCategories: 10,
  newCategoryExamples: 5,
};

// ---------------------------------------------------------------- outputs

export interface NumericSummary {
  kind: 'numeric';
  rows: number;
  missing: number;
  mean: number;
  std: number;
  min: number;
  median: number;
  max: number;
}
export interface CategoricalSummary {
  kind: 'categorical';
  rows: number;
  missing: number;
  distinct: number;
}
/** Report-ready distributions: a shared-edge histogram or the top categories with shares. */
export type Distribution =
  | { kind: 'histogram'; edges: number[]; reference: number[]; current: number[] }
  | {
      kind: 'categories';
      values: string[];
      reference: number[];
      current: number[];
      /** Share of the remaining categories. */
      otherReference: number;
      otherCurrent: number;
    };

export interface ColumnDrift {
  column: string;
  type: 'numeric' | 'categorical';
  test: DriftTestName;
  /** What `score` is: a p-value (drift when below threshold) or a distance (drift when at or above). */
  scoreKind: 'p_value' | 'distance';
  /** Evidently's drift score: the p-value or the distance compared with the threshold. */
  score: number;
  /** The raw test statistic: KS D, chi-square, z, or the distance itself; null when infinite (Evidently chi-square, unseen category). */
  statistic: number | null;
  threshold: number;
  drifted: boolean;
  psi: number;
  psiBand: PsiBand;
  reference: NumericSummary | CategoricalSummary;
  current: NumericSummary | CategoricalSummary;
  distribution: Distribution;
}

export interface NewCategoryRate {
  column: string;
  /** Share of current rows (non-missing) whose value never occurs in the reference. */
  rate: number;
  rows: number;
  newValues: number;
  examples: { value: string; rows: number }[];
}

export interface TargetDrift extends ColumnDrift {
  referenceRate: number;
  currentRate: number;
  /** Two-proportion z (reference − current) and its p-value, always reported. */
  z: number;
  zPValue: number;
  jensenShannon: number;
}

export interface PredictionDrift extends ColumnDrift {
  referenceMean: number;
  currentMean: number;
}

export interface DriftReport {
  rows: { reference: number; current: number };
  /** Features, drifted first (then in spec order). */
  features: ColumnDrift[];
  dataset: { columns: number; drifted: number; share: number; threshold: number; drifted_dataset: boolean };
  newCategories: NewCategoryRate[];
  target?: TargetDrift;
  prediction?: PredictionDrift;
  options: DriftOptions;
}

// ---------------------------------------------------------------- reference profile

interface NumericProfile {
  kind: 'numeric';
  rows: number;
  missing: number;
  sorted: Float64Array;
  std: number;
  distinct: number;
}
interface CategoricalProfile {
  kind: 'categorical';
  rows: number;
  missing: number;
  counts: Map<string, number>;
}
type Profile = NumericProfile | CategoricalProfile;

/** A reference window reduced to what comparisons need (sorted numerics, category counts). */
export interface ReferenceProfile {
  spec: DriftSpec;
  rows: number;
  columns: ReadonlyMap<string, Profile>;
}

function isCoded(c: ColumnData): c is CodedColumn {
  return typeof c === 'object' && c !== null && 'codes' in c && 'dictionary' in c;
}

function columnLength(c: ColumnData): number {
  return isCoded(c) ? c.codes.length : c.length;
}

function numericProfile(data: ColumnData, column: string): NumericProfile {
  if (isCoded(data)) throw new TypeError(`${column}: expected a numeric column, got dictionary codes`);
  const values = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as unknown;
    values[i] = v === null || v === undefined ? Number.NaN : typeof v === 'number' ? v : Number(v);
  }
  const sorted = sortedFinite(values);
  let distinct = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) distinct++;
  return {
    kind: 'numeric',
    rows: data.length,
    missing: data.length - sorted.length,
    sorted,
    std: populationStd(sorted),
    distinct,
  };
}

function categoricalProfile(data: ColumnData): CategoricalProfile {
  const counts = new Map<string, number>();
  let missing = 0;
  if (isCoded(data)) {
    const byCode = new Float64Array(data.dictionary.length);
    for (let i = 0; i < data.codes.length; i++) {
      const c = data.codes[i]!;
      if (c < 0) missing++;
      else byCode[c] = byCode[c]! + 1;
    }
    for (let c = 0; c < byCode.length; c++) {
      if (byCode[c]! > 0) {
        const key = data.dictionary[c]!;
        counts.set(key, (counts.get(key) ?? 0) + byCode[c]!);
      }
    }
    return { kind: 'categorical', rows: data.codes.length, missing, counts };
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) missing++;
    else {
      const key = String(v);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return { kind: 'categorical', rows: data.length, missing, counts };
}

function profileColumn(table: DriftTable, column: string, kind: 'numeric' | 'categorical'): Profile {
  const data = table[column];
  if (data === undefined) throw new RangeError(`drift: column ${column} is missing from the window`);
  return kind === 'numeric' ? numericProfile(data, column) : categoricalProfile(data);
}

function tableRows(table: DriftTable, spec: DriftSpec): number {
  const cols = [...spec.numeric, ...spec.categorical];
  const first = cols.length ? table[cols[0]!] : undefined;
  const n = first === undefined ? 0 : columnLength(first);
  for (const c of cols) {
    const d = table[c];
    if (d !== undefined && columnLength(d) !== n) throw new RangeError(`drift: column ${c} has a different length`);
  }
  return n;
}

/** Only the target/prediction columns present in the table stay in the spec. */
function presentSpec(table: DriftTable, spec: DriftSpec): DriftSpec {
  return {
    numeric: spec.numeric,
    categorical: spec.categorical,
    ...(spec.target !== undefined && table[spec.target] !== undefined ? { target: spec.target } : {}),
    ...(spec.prediction !== undefined && table[spec.prediction] !== undefined ? { prediction: spec.prediction } : {}),
  };
}

/** Profiles a reference window once (sorting numerics, counting categories) for repeated comparisons. */
export function profileReference(table: DriftTable, spec: DriftSpec): ReferenceProfile {
  const s = presentSpec(table, spec);
  const columns = new Map<string, Profile>();
  for (const c of s.numeric) columns.set(c, profileColumn(table, c, 'numeric'));
  for (const c of s.categorical) columns.set(c, profileColumn(table, c, 'categorical'));
  if (s.target !== undefined) columns.set(s.target, profileColumn(table, s.target, 'categorical'));
  if (s.prediction !== undefined) columns.set(s.prediction, profileColumn(table, s.prediction, 'numeric'));
  return { spec: s, rows: tableRows(table, s), columns };
}

// ---------------------------------------------------------------- per-column comparison

/**
 * Evidently's default test for a column: by the reference's non-missing size and the number of distinct
 * values in reference ∪ current.
 */
export function defaultDriftTest(
  type: 'numeric' | 'categorical',
  referenceRows: number,
  distinctValues: number,
  options: Pick<DriftOptions, 'smallSampleMaxRows' | 'maxUniqueAsCategorical'> = DEFAULT_DRIFT_OPTIONS,
): DriftTestName {
  const asCategories = type === 'categorical' || distinctValues <= options.maxUniqueAsCategorical;
  if (referenceRows <= options.smallSampleMaxRows) {
    if (!asCategories) return 'ks';
    return distinctValues > 2 ? 'chisquare' : 'z';
  }
  return asCategories ? 'jensenshannon' : 'wasserstein';
}

/** Aligned counts over the union of keys: reference keys first, then keys only the current has. */
function alignCounts(ref: Map<string, number>, cur: Map<string, number>) {
  const keys = [...ref.keys()];
  for (const k of cur.keys()) if (!ref.has(k)) keys.push(k);
  const r = new Float64Array(keys.length);
  const c = new Float64Array(keys.length);
  keys.forEach((k, i) => {
    r[i] = ref.get(k) ?? 0;
    c[i] = cur.get(k) ?? 0;
  });
  return { keys, ref: r, cur: c };
}

function countsOfSorted(sorted: Float64Array): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    m.set(String(sorted[i]), j - i);
    i = j;
  }
  return m;
}

function numericSummary(p: NumericProfile): NumericSummary {
  const s = p.sorted;
  const n = s.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i]!;
  const median = n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return {
    kind: 'numeric',
    rows: p.rows,
    missing: p.missing,
    mean: n ? sum / n : Number.NaN,
    std: p.std,
    min: n ? s[0]! : Number.NaN,
    median,
    max: n ? s[n - 1]! : Number.NaN,
  };
}

function categoricalSummary(p: CategoricalProfile): CategoricalSummary {
  return { kind: 'categorical', rows: p.rows, missing: p.missing, distinct: p.counts.size };
}

function topCategories(keys: string[], ref: Float64Array, cur: Float64Array, k: number): Distribution {
  let nr = 0;
  let nc = 0;
  for (let i = 0; i < keys.length; i++) {
    nr += ref[i]!;
    nc += cur[i]!;
  }
  const rs = toShares(ref, nr || 1);
  const cs = toShares(cur, nc || 1);
  const order = keys.map((_, i) => i).sort((a, b) => Math.max(rs[b]!, cs[b]!) - Math.max(rs[a]!, cs[a]!) || a - b);
  const top = order.slice(0, k);
  let otherR = 1;
  let otherC = 1;
  for (const i of top) {
    otherR -= rs[i]!;
    otherC -= cs[i]!;
  }
  return {
    kind: 'categories',
    values: top.map((i) => keys[i]!),
    reference: top.map((i) => rs[i]!),
    current: top.map((i) => cs[i]!),
    otherReference: Math.max(0, otherR),
    otherCurrent: Math.max(0, otherC),
  };
}

function thresholdFor(column: string, test: DriftTestName, o: DriftOptions): number {
  const t = o.thresholds[column];
  if (t !== undefined) return t;
  if (test === 'psi') return o.psiThreshold;
  return test === 'wasserstein' || test === 'jensenshannon' ? o.distanceThreshold : o.pValueThreshold;
}

/** PSI of a column with Evidently's binning: Sturges/quantile bins for numerics with > 20 distinct reference values, else values. */
function columnPsi(ref: Profile, cur: Profile, o: DriftOptions): number {
  if (ref.kind === 'numeric' && cur.kind === 'numeric') {
    if (ref.distinct > 20) {
      const edges =
        o.psiBinning === 'quantile'
          ? quantileEdges(ref.sorted, cur.sorted, o.psiQuantileBins)
          : sturgesEdges(ref.sorted, cur.sorted);
      return psiFromShares(
        toShares(histogramSorted(ref.sorted, edges), ref.sorted.length),
        toShares(histogramSorted(cur.sorted, edges), cur.sorted.length),
      );
    }
    const a = alignCounts(countsOfSorted(ref.sorted), countsOfSorted(cur.sorted));
    return psiFromShares(toShares(a.ref, ref.sorted.length), toShares(a.cur, cur.sorted.length));
  }
  if (ref.kind === 'categorical' && cur.kind === 'categorical') {
    const a = alignCounts(ref.counts, cur.counts);
    return psiFromShares(toShares(a.ref, ref.rows - ref.missing), toShares(a.cur, cur.rows - cur.missing));
  }
  throw new TypeError('psi: column kinds differ');
}

/** Compares one column of the current window with its reference profile. */
function compareColumn(column: string, ref: Profile, cur: Profile, o: DriftOptions): ColumnDrift {
  const type = ref.kind;
  const refN = ref.kind === 'numeric' ? ref.sorted.length : ref.rows - ref.missing;
  const curN = cur.kind === 'numeric' ? cur.sorted.length : cur.rows - cur.missing;
  if (refN === 0 || curN === 0) throw new RangeError(`drift: ${column} has no non-missing values in one window`);
  // Category view (also for few-valued numerics).
  const refCounts = ref.kind === 'numeric' ? null : ref.counts;
  const curCounts = cur.kind === 'numeric' ? null : cur.counts;
  let aligned: ReturnType<typeof alignCounts> | null = null;
  const categories = () =>
    (aligned ??= alignCounts(
      refCounts ?? countsOfSorted((ref as NumericProfile).sorted),
      curCounts ?? countsOfSorted((cur as NumericProfile).sorted),
    ));
  let distinct: number;
  if (ref.kind === 'numeric' && cur.kind === 'numeric') {
    // More distinct reference values than the cut-off already decide it; otherwise count the union exactly.
    distinct = ref.distinct <= o.maxUniqueAsCategorical ? categories().keys.length : ref.distinct;
  } else distinct = categories().keys.length;
  const test = o.tests[column] ?? defaultDriftTest(type, refN, distinct, o);
  const threshold = thresholdFor(column, test, o);
  const psi = columnPsi(ref, cur, o);
  let score: number;
  let statistic: number;
  let scoreKind: 'p_value' | 'distance' = 'p_value';
  switch (test) {
    case 'ks':
    case 'wasserstein': {
      if (ref.kind !== 'numeric' || cur.kind !== 'numeric')
        throw new TypeError(`${column}: ${test} needs a numeric column`);
      if (test === 'ks') {
        const r = ksTestSorted(ref.sorted, cur.sorted, o.ksMode);
        score = r.pValue;
        statistic = r.statistic;
      } else {
        score = statistic = normalizedWassersteinSorted(ref.sorted, cur.sorted);
        scoreKind = 'distance';
      }
      break;
    }
    case 'chisquare': {
      const a = categories();
      const r =
        o.chiSquareForm === 'evidently'
          ? chiSquareTwoSample(a.ref, a.cur)
          : chiSquareHomogeneity(a.ref, a.cur, MIN_EXPECTED_COUNT);
      score = r.df > 0 ? r.pValue : 1;
      statistic = r.statistic;
      break;
    }
    case 'z': {
      // Evidently: the first of the sorted values is "failure", every other value is "success".
      const a = categories();
      const numericKeys = type === 'numeric';
      const first = [...a.keys].sort((x, y) => (numericKeys ? Number(x) - Number(y) : x < y ? -1 : x > y ? 1 : 0))[0];
      const fi = a.keys.indexOf(first!);
      const r = twoProportionZTest(refN - a.ref[fi]!, refN, curN - a.cur[fi]!, curN);
      score = r.pValue;
      statistic = r.statistic;
      break;
    }
    case 'jensenshannon': {
      const a = categories();
      score = statistic = jensenShannonDistance(a.ref, a.cur, o.jsBase);
      scoreKind = 'distance';
      break;
    }
    case 'psi':
      score = statistic = psi;
      scoreKind = 'distance';
      break;
  }
  const drifted = scoreKind === 'p_value' ? score < threshold : score >= threshold;
  let distribution: Distribution;
  if (ref.kind === 'numeric' && cur.kind === 'numeric' && ref.distinct > 20) {
    const edges = sturgesEdges(ref.sorted, cur.sorted);
    distribution = {
      kind: 'histogram',
      edges: Array.from(edges),
      reference: Array.from(histogramSorted(ref.sorted, edges)),
      current: Array.from(histogramSorted(cur.sorted, edges)),
    };
  } else {
    const a = categories();
    distribution = topCategories(a.keys, a.ref, a.cur, o.topCategories);
  }
  return {
    column,
    type,
    test,
    scoreKind,
    score,
    statistic: Number.isFinite(statistic) ? statistic : null,
    threshold,
    drifted,
    psi,
    psiBand: psiBand(psi, o.psiBands),
    reference: ref.kind === 'numeric' ? numericSummary(ref) : categoricalSummary(ref),
    current: cur.kind === 'numeric' ? numericSummary(cur) : categoricalSummary(cur),
    distribution,
  };
}

function newCategoryRate(column: string, ref: CategoricalProfile, cur: CategoricalProfile, examples: number) {
  let rows = 0;
  const found: { value: string; rows: number }[] = [];
  for (const [value, n] of cur.counts) {
    if (!ref.counts.has(value)) {
      rows += n;
      found.push({ value, rows: n });
    }
  }
  found.sort((a, b) => b.rows - a.rows || (a.value < b.value ? -1 : 1));
  const nonMissing = cur.rows - cur.missing;
  return {
    column,
    rate: nonMissing ? rows / nonMissing : 0,
    rows,
    newValues: found.length,
    examples: found.slice(0, examples),
  };
}

function positiveCount(p: CategoricalProfile): number {
  let n = 0;
  for (const [k, c] of p.counts) {
    const v = Number(k);
    if (v !== 0 && v !== 1) throw new RangeError(`target drift: label values must be 0/1, got ${k}`);
    n += v * c;
  }
  return n;
}

/**
 * Compares a current window with a reference (a table or a {@link profileReference} result).
 *
 * @example
 * const report = computeDrift(refTable, curTable, { numeric: ['seniority'], categorical: ['appId'], target: 'label' });
 * report.dataset.drifted_dataset; report.features[0].drifted;
 */
export function computeDrift(
  reference: ReferenceProfile | DriftTable,
  current: DriftTable,
  spec?: DriftSpec,
  options: Partial<DriftOptions> = {},
): DriftReport {
  const o: DriftOptions = { ...DEFAULT_DRIFT_OPTIONS, ...options };
  const ref = isProfile(reference) ? reference : profileReference(reference, requireSpec(spec));
  const s = presentSpec(current, spec ?? ref.spec);
  const rows = { reference: ref.rows, current: tableRows(current, s) };
  const features: ColumnDrift[] = [];
  const newCategories: NewCategoryRate[] = [];
  for (const [column, kind] of [
    ...s.categorical.map((c) => [c, 'categorical'] as const),
    ...s.numeric.map((c) => [c, 'numeric'] as const),
  ]) {
    const rp = ref.columns.get(column);
    if (!rp || rp.kind !== kind) throw new RangeError(`drift: the reference has no ${kind} column ${column}`);
    const cp = profileColumn(current, column, kind);
    features.push(compareColumn(column, rp, cp, o));
    if (rp.kind === 'categorical' && cp.kind === 'categorical') {
      newCategories.push(newCategoryRate(column, rp, cp, o.newCategoryExamples));
    }
  }
  const driftedCount = features.filter((f) => f.drifted).length;
  const share = features.length ? driftedCount / features.length : 0;
  const ordered = [...features.filter((f) => f.drifted), ...features.filter((f) => !f.drifted)];
  const report: DriftReport = {
    rows,
    features: ordered,
    dataset: {
      columns: features.length,
      drifted: driftedCount,
      share,
      threshold: o.datasetDriftShare,
      drifted_dataset: features.length > 0 && share >= o.datasetDriftShare,
    },
    newCategories,
    options: o,
  };
  const t = s.target !== undefined ? ref.columns.get(s.target) : undefined;
  if (s.target !== undefined && t?.kind === 'categorical') {
    const cp = categoricalProfile(current[s.target]!);
    const tests = o.tests[s.target] ?? (o.targetTest === 'z' ? 'z' : undefined);
    const base = compareColumn(s.target, t, cp, { ...o, tests: tests ? { ...o.tests, [s.target]: tests } : o.tests });
    const refN = t.rows - t.missing;
    const curN = cp.rows - cp.missing;
    const refPos = positiveCount(t);
    const curPos = positiveCount(cp);
    const z = twoProportionZTest(refPos, refN, curPos, curN);
    const a = alignCounts(t.counts, cp.counts);
    report.target = {
      ...base,
      referenceRate: refPos / refN,
      currentRate: curPos / curN,
      z: z.statistic,
      zPValue: z.pValue,
      jensenShannon: jensenShannonDistance(a.ref, a.cur, o.jsBase),
    };
  }
  const p = s.prediction !== undefined ? ref.columns.get(s.prediction) : undefined;
  if (s.prediction !== undefined && p?.kind === 'numeric') {
    const cp = numericProfile(current[s.prediction]!, s.prediction);
    const base = compareColumn(s.prediction, p, cp, o);
    report.prediction = {
      ...base,
      referenceMean: (base.reference as NumericSummary).mean,
      currentMean: (base.current as NumericSummary).mean,
    };
  }
  return report;
}

function isProfile(x: ReferenceProfile | DriftTable): x is ReferenceProfile {
  return (x as ReferenceProfile).columns instanceof Map && 'spec' in x;
}

function requireSpec(spec: DriftSpec | undefined): DriftSpec {
  if (!spec) throw new RangeError('computeDrift: a spec is needed when the reference is a table');
  return spec;
}
