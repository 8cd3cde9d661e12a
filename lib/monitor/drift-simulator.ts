/**
 * Drift simulator: monitoring windows with known, injected shifts, deterministic by seed.
 *
 * Faithfulness: the population is the synthetic generator's world passed through the pipeline's own
 * feature SQL (writeSyntheticDataset → DuckDB `buildFeatureTable`), so every window has exactly the
 * feature-table shape of `monitoring/reference.parquet` (features + label [+ score]). Windows are i.i.d.
 * draws of population rows, with replacement, under row weights that encode the shift:
 * - none: uniform weights, so reference and current windows come from the same distribution (the null holds exactly);
 * - app_mix / department_mix (covariate shift): weight ∝ exp(strength · z_v) with z_v ~ N(0, 1) per app /
 *   per department_filled value, drawn from the window's seed — P(x) moves, P(y | x) is untouched;
 * - label (label shift): positives weighted (π + strength)/π, negatives (1 − π − strength)/(1 − π), so the
 *   approval rate moves by `strength` while P(x | y) is untouched;
 * - new_categories: a uniform window in which exactly round(rate · rows) rows (a seeded choice) get a value
 *   never seen in the population in each listed feature (default appId: brand-new apps).
 *
 * The population's `score` is a stand-in for a model's out-of-fold score (leave-one-out, smoothed approval rate of
 * the row's app), so prediction drift can be exercised without training; windows from a run's real reference
 * table keep its real scores ({@link populationFromTable}).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CATEGORICAL_FEATURES, NUMERIC_FEATURES, buildFeatureTable } from '../features';
import type { CodedColumn, DriftTable } from './drift';
import { Rng } from '../rng';
import { queryColumns, withDuckDb } from '../data/duck';
import { writeSyntheticDataset } from '../data/generate';
import { loadCsvAsText } from '../data/raw';

/** A feature table held as columns: coded categoricals, Float64 numerics (NaN missing), label 0/1, score. */
export interface FeatureWindow {
  rows: number;
  categorical: Record<string, CodedColumn>;
  numeric: Record<string, Float64Array>;
  label: Uint8Array;
  score?: Float64Array;
}

export type Shift =
  | { kind: 'none' }
  | { kind: 'app_mix'; strength: number }
  | { kind: 'department_mix'; strength: number }
  | { kind: 'label'; strength: number }
  | { kind: 'new_categories'; rate: number; features?: readonly string[] };

/**
 * "Moderate" strengths: each moves its target in the PSI 0.1–0.25 band ("moderate shift") on the default
 * population (measured in tests/drift.test.ts), except label shift, a 5-point drop in approval rate.
 */
export const MODERATE_SHIFT = {
  app_mix: { kind: 'app_mix', strength: 0.4 },
  department_mix: { kind: 'department_mix', strength: 0.52 },
  label: { kind: 'label', strength: -0.05 },
  new_categories: { kind: 'new_categories', rate: 0.05 },
} as const satisfies Record<string, Shift>;

export interface SyntheticPopulationOptions {
  seed: number;
  /** Labelled requests in the generated world (the population windows are drawn from). */
  interactions: number;
  sentinel?: string;
}

const SCORE_PRIOR_WEIGHT = 10;

/** Dictionary-encodes a string column. */
function encode(values: readonly unknown[]): CodedColumn {
  const index = new Map<string, number>();
  const dictionary: string[] = [];
  const codes = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      codes[i] = -1;
      continue;
    }
    const key = String(v);
    let c = index.get(key);
    if (c === undefined) {
      c = dictionary.length;
      index.set(key, c);
      dictionary.push(key);
    }
    codes[i] = c;
  }
  return { codes, dictionary };
}

/** Leave-one-out smoothed approval rate of the row's app: an honest (label-free for the row itself) stand-in score. */
function proxyScore(app: CodedColumn, label: Uint8Array): Float64Array {
  const k = app.dictionary.length;
  const n = new Float64Array(k);
  const pos = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < label.length; i++) {
    const c = app.codes[i]!;
    n[c] = n[c]! + 1;
    pos[c] = pos[c]! + label[i]!;
    total += label[i]!;
  }
  const prior = total / label.length;
  const score = new Float64Array(label.length);
  for (let i = 0; i < label.length; i++) {
    const c = app.codes[i]!;
    score[i] = (pos[c]! - label[i]! + SCORE_PRIOR_WEIGHT * prior) / (n[c]! - 1 + SCORE_PRIOR_WEIGHT);
  }
  return score;
}

/** Builds a population from columns read out of a feature table (e.g. a run's reference.parquet). */
export function populationFromTable(cols: Record<string, readonly unknown[]>, scoreColumn = 'score'): FeatureWindow {
  const label = cols.label;
  if (!label) throw new RangeError('population: the feature table needs a label column');
  const rows = label.length;
  const categorical: Record<string, CodedColumn> = {};
  for (const c of CATEGORICAL_FEATURES) categorical[c] = encode(cols[c] ?? []);
  const numeric: Record<string, Float64Array> = {};
  for (const c of NUMERIC_FEATURES) {
    numeric[c] = Float64Array.from(cols[c] ?? [], (v) => (v === null || v === undefined ? Number.NaN : Number(v)));
  }
  const labels = Uint8Array.from(label, (v) => Number(v));
  const scores = cols[scoreColumn];
  return {
    rows,
    categorical,
    numeric,
    label: labels,
    score: scores
      ? Float64Array.from(scores, (v) => Number(v))
      : proxyScore(categorical.appId ?? encode(new Array(rows).fill('')), labels),
  };
}

/**
 * Generates a synthetic world (a temp directory, removed afterwards) and engineers its features with the
 * pipeline's SQL: the population every simulated window is drawn from.
 */
export async function syntheticPopulation(options: SyntheticPopulationOptions): Promise<FeatureWindow> {
  const dir = await mkdtemp(join(tmpdir(), 'access-perm-drift-'));
  try {
    const summary = await writeSyntheticDataset(dir, {
      seed: options.seed,
      interactions: options.interactions,
      submissions: 0,
    });
    const cols = await withDuckDb(async (conn) => {
      await loadCsvAsText(conn, 'users', summary.files.users);
      await loadCsvAsText(conn, 'apps', summary.files.apps);
      await loadCsvAsText(conn, 'interactions', summary.files.interactions);
      await buildFeatureTable(
        conn,
        'interactions',
        { sentinel: options.sentinel ?? '__UNKNOWN__', managerBackfill: true },
        true,
      );
      const select = [...CATEGORICAL_FEATURES, ...NUMERIC_FEATURES, 'label'].map((c) => `"${c}"`).join(', ');
      return queryColumns(conn, `SELECT ${select} FROM features ORDER BY row_idx`);
    });
    return populationFromTable(cols);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function tiltWeights(rng: Rng, column: CodedColumn, strength: number): Float64Array {
  const z = new Float64Array(column.dictionary.length);
  for (let i = 0; i < z.length; i++) z[i] = Math.exp(strength * rng.normal());
  const w = new Float64Array(column.codes.length);
  for (let i = 0; i < w.length; i++) w[i] = z[column.codes[i]!] ?? 1;
  return w;
}

function rowWeights(pop: FeatureWindow, shift: Shift, rng: Rng): Float64Array | null {
  switch (shift.kind) {
    case 'none':
    case 'new_categories':
      return null;
    case 'app_mix':
      return tiltWeights(rng, pop.categorical.appId!, shift.strength);
    case 'department_mix':
      return tiltWeights(rng, pop.categorical.department_filled!, shift.strength);
    case 'label': {
      let pos = 0;
      for (let i = 0; i < pop.rows; i++) pos += pop.label[i]!;
      const pi = pos / pop.rows;
      const target = pi + shift.strength;
      if (!(target > 0 && target < 1)) throw new RangeError(`label shift: approval rate ${target} is outside (0, 1)`);
      const w1 = target / pi;
      const w0 = (1 - target) / (1 - pi);
      const w = new Float64Array(pop.rows);
      for (let i = 0; i < pop.rows; i++) w[i] = pop.label[i] ? w1 : w0;
      return w;
    }
  }
}

/** Row indices drawn with replacement, uniformly or proportionally to weights (cumulative sums + binary search). */
function drawRows(rng: Rng, n: number, rows: number, weights: Float64Array | null): Uint32Array {
  const out = new Uint32Array(rows);
  if (!weights) {
    for (let i = 0; i < rows; i++) out[i] = rng.int(n);
    return out;
  }
  const cum = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) cum[i] = s += weights[i]!;
  for (let k = 0; k < rows; k++) {
    const u = rng.next() * s;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    out[k] = lo;
  }
  return out;
}

/**
 * Draws one window of `rows` rows from the population under a shift. Same population, options and seed
 * give the same window.
 */
export function sampleWindow(
  pop: FeatureWindow,
  options: { rows: number; seed: number; shift?: Shift },
): FeatureWindow {
  const shift = options.shift ?? { kind: 'none' };
  const rng = new Rng(options.seed);
  const weights = rowWeights(pop, shift, rng.fork(1));
  const idx = drawRows(rng.fork(2), pop.rows, options.rows, weights);
  const categorical: Record<string, CodedColumn> = {};
  for (const [name, col] of Object.entries(pop.categorical)) {
    const codes = new Int32Array(idx.length);
    for (let i = 0; i < idx.length; i++) codes[i] = col.codes[idx[i]!]!;
    categorical[name] = { codes, dictionary: col.dictionary };
  }
  const numeric: Record<string, Float64Array> = {};
  for (const [name, col] of Object.entries(pop.numeric)) {
    const v = new Float64Array(idx.length);
    for (let i = 0; i < idx.length; i++) v[i] = col[idx[i]!]!;
    numeric[name] = v;
  }
  const label = new Uint8Array(idx.length);
  for (let i = 0; i < idx.length; i++) label[i] = pop.label[idx[i]!]!;
  let score: Float64Array | undefined;
  if (pop.score) {
    score = new Float64Array(idx.length);
    for (let i = 0; i < idx.length; i++) score[i] = pop.score[idx[i]!]!;
  }
  if (shift.kind === 'new_categories') injectNewCategories(rng.fork(3), categorical, shift, options.rows);
  return { rows: options.rows, categorical, numeric, label, ...(score ? { score } : {}) };
}

/** Replaces exactly round(rate · rows) rows' values with fresh tokens `__new_<feature>_<k>` (≈ √count new values). */
function injectNewCategories(
  rng: Rng,
  categorical: Record<string, CodedColumn>,
  shift: Extract<Shift, { kind: 'new_categories' }>,
  rows: number,
): void {
  if (!(shift.rate >= 0 && shift.rate <= 1)) throw new RangeError('new_categories: rate must be in [0, 1]');
  const count = Math.round(shift.rate * rows);
  const fresh = Math.max(1, Math.round(Math.sqrt(count)));
  for (const feature of shift.features ?? ['appId']) {
    const col = categorical[feature];
    if (!col) throw new RangeError(`new_categories: unknown categorical feature ${feature}`);
    const base = col.dictionary.length;
    const dictionary = [...col.dictionary];
    for (let k = 0; k < fresh; k++) dictionary.push(`__new_${feature}_${k}`);
    const codes = Int32Array.from(col.codes);
    const order = rng.permutation(rows);
    for (let i = 0; i < count; i++) codes[order[i]!] = base + rng.int(fresh);
    categorical[feature] = { codes, dictionary };
  }
}

/** The window as a drift table for lib/monitor (label and score included). */
export function windowTable(w: FeatureWindow): DriftTable {
  return { ...w.categorical, ...w.numeric, label: w.label, ...(w.score ? { score: w.score } : {}) };
}
