import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MODERATE_SHIFT,
  sampleWindow,
  syntheticPopulation,
  windowTable,
  type FeatureWindow,
  type Shift,
} from '../lib/monitor/drift-simulator';
import {
  FEATURE_DRIFT_SPEC,
  chiSquareHomogeneity,
  chiSquareTest,
  chiSquareTwoSample,
  computeDrift,
  defaultDriftTest,
  gammaQ,
  histogramSorted,
  jensenShannonDistance,
  kolmogorovSf,
  ksExactPValue,
  ksTest,
  profileReference,
  psiFromShares,
  quantileEdges,
  readDriftWindow,
  sturgesEdges,
  twoProportionZTest,
  wassersteinDistance,
  type DriftOptions,
  type DriftReport,
} from '../lib/monitor';
import { normalizedWassersteinSorted } from '../lib/monitor/stats';
import { Rng } from '../lib/rng';

// Computed by scipy/numpy: bench/golden_drift.py.
const golden = JSON.parse(readFileSync(new URL('./golden/drift.json', import.meta.url), 'utf8')) as {
  ks: {
    name: string;
    reference: Sample<number>;
    current: Sample<number>;
    statistic: number;
    p_value: number;
    p_limit: number;
  }[];
  wasserstein: { name: string; reference: number[]; current: number[]; distance: number; normed: number }[];
  chisquare: { name: string; reference: number[]; current: number[]; statistic: number; p_value: number }[];
  homogeneity: {
    name: string;
    reference: number[];
    current: number[];
    pooled: boolean;
    statistic: number;
    p_value: number;
    df: number;
  }[];
  ztest: { name: string; s1: number; n1: number; s2: number; n2: number; z: number; p_value: number }[];
  jensenshannon: { name: string; p: number[]; q: number[]; base: number; distance: number }[];
  psi: {
    name: string;
    kind: 'numeric' | 'categorical';
    binning: 'sturges' | 'quantile';
    bins: number;
    reference: Sample<number | string>;
    current: Sample<number | string>;
    psi: number;
  }[];
  gammaincc: { a: number; x: number; q: number }[];
  kstwobign: { x: number; sf: number }[];
};

type Sample<T> = T[] | { runs: [T, number][] };
/** Large tie-heavy golden samples are stored as [value, count] runs. */
function expand<T>(s: Sample<T>): T[] {
  return Array.isArray(s) ? s : s.runs.flatMap(([v, n]) => new Array<T>(n).fill(v));
}

/** |ours − theirs| ≤ 1e-9, and for tiny values also relatively (p-values far in the tail). */
function expectClose(ours: number, theirs: number, tol = 1e-9): void {
  if (theirs === Infinity) return void expect(ours).toBe(Infinity);
  expect(Math.abs(ours - theirs)).toBeLessThanOrEqual(tol);
  if (Math.abs(theirs) < 1e-3 && theirs !== 0) expect(Math.abs(ours - theirs) / Math.abs(theirs)).toBeLessThan(tol);
}

describe('statistics match scipy/numpy golden values (1e-9)', () => {
  it.each(golden.ks)('KS two-sample: $name', (c) => {
    const a = Float64Array.from(expand(c.reference));
    const b = Float64Array.from(expand(c.current));
    const r = ksTest(a, b);
    expectClose(r.statistic, c.statistic);
    if (r.method === 'exact') expectClose(r.pValue, c.p_value);
    else {
      // scipy's 'asymp' uses the finite-n kstwo(round(en)); ours is the Kolmogorov limit (documented in stats.ts).
      expectClose(r.pValue, c.p_limit);
      expect(Math.abs(r.pValue - c.p_value) / c.p_value).toBeLessThan(0.02);
    }
    // The limit distribution is also available on every case.
    expectClose(ksTest(a, b, 'asymp').pValue, c.p_limit);
  });

  it.each(golden.wasserstein)('Wasserstein-1 and Evidently normalization: $name', (c) => {
    expectClose(wassersteinDistance(c.reference, c.current), c.distance);
    const sorted = (v: number[]) => Float64Array.from(v).sort();
    expectClose(normalizedWassersteinSorted(sorted(c.reference), sorted(c.current)), c.normed);
  });

  it.each(golden.chisquare)('chi-square (Evidently two-sample form): $name', (c) => {
    const r = chiSquareTwoSample(c.reference, c.current);
    expect(Math.abs(r.statistic - c.statistic) / Math.max(1, c.statistic)).toBeLessThan(1e-9);
    expectClose(r.pValue, c.p_value);
  });

  it.each(golden.homogeneity)(
    'chi-square test of homogeneity (chi2_contingency, sparse categories pooled): $name',
    (c) => {
      const r = chiSquareHomogeneity(c.reference, c.current, c.pooled ? 5 : 0);
      expect(r.df).toBe(c.df);
      expect(Math.abs(r.statistic - c.statistic) / Math.max(1, c.statistic)).toBeLessThan(1e-9);
      expectClose(r.pValue, c.p_value);
    },
  );

  it.each(golden.ztest)('two-proportion Z-test: $name', (c) => {
    const r = twoProportionZTest(c.s1, c.n1, c.s2, c.n2);
    expectClose(r.statistic, c.z);
    expectClose(r.pValue, c.p_value);
  });

  it.each(golden.jensenshannon)('Jensen–Shannon distance: $name', (c) => {
    expectClose(jensenShannonDistance(c.p, c.q, c.base), c.distance);
  });

  it.each(golden.psi)('PSI with Evidently binning and epsilon: $name', (c) => {
    const report = computeDrift(
      { x: expand(c.reference) as never },
      { x: expand(c.current) as never },
      c.kind === 'numeric' ? { numeric: ['x'], categorical: [] } : { numeric: [], categorical: ['x'] },
      { psiBinning: c.binning, psiQuantileBins: c.bins },
    );
    expectClose(report.features[0]!.psi, c.psi);
  });

  it('regularized upper incomplete gamma and the Kolmogorov limit', () => {
    for (const c of golden.gammaincc) expectClose(gammaQ(c.a, c.x), c.q);
    for (const c of golden.kstwobign) expectClose(kolmogorovSf(c.x), c.sf);
  });
});

describe('statistics: independent checks', () => {
  it('exact KS p-value equals brute-force enumeration of all orderings', () => {
    // Every arrangement of n1 reference and n2 current values is equally likely under H0.
    for (const [n1, n2] of [
      [4, 5],
      [3, 7],
      [6, 6],
    ] as const) {
      const n = n1 + n2;
      const stats: number[] = [];
      for (let mask = 0; mask < 1 << n; mask++) {
        let ones = 0;
        for (let b = 0; b < n; b++) ones += (mask >> b) & 1;
        if (ones !== n1) continue;
        let i = 0;
        let j = 0;
        let best = 0;
        for (let b = 0; b < n; b++) {
          if ((mask >> b) & 1) i++;
          else j++;
          best = Math.max(best, Math.abs(i * n2 - j * n1));
        }
        stats.push(best);
      }
      const g = n1 === 6 ? 6 : 1;
      for (const h of new Set(stats.map((s) => s / g))) {
        const expected = stats.filter((s) => s >= h * g).length / stats.length;
        expect(Math.abs(ksExactPValue(n1, n2, h) - expected)).toBeLessThan(1e-12);
      }
    }
  });

  it('KS rejects about 5% of continuous null samples at p < 0.05', () => {
    const rng = new Rng(11);
    let rejected = 0;
    for (let t = 0; t < 400; t++) {
      const a = Float64Array.from({ length: 40 }, () => rng.normal());
      const b = Float64Array.from({ length: 60 }, () => rng.normal());
      if (ksTest(a, b).pValue < 0.05) rejected++;
    }
    expect(rejected / 400).toBeGreaterThan(0.02);
    expect(rejected / 400).toBeLessThan(0.08);
  });

  it('chi-square: a category absent from the reference gives p = 0; edges and histograms follow numpy', () => {
    expect(chiSquareTest([5, 5, 1], [5.5, 5.5, 0]).pValue).toBe(0);
    expect(Array.from(sturgesEdges(Float64Array.of(1, 2), Float64Array.of(3, 4)))).toEqual([1, 2, 3, 4]);
    expect(Array.from(histogramSorted(Float64Array.of(1, 2, 2, 3, 4), Float64Array.of(1, 2, 3, 4)))).toEqual([1, 2, 2]);
    expect(quantileEdges(Float64Array.of(0, 1, 2, 3, 4), Float64Array.of(-1, 9), 2)).toEqual(Float64Array.of(-1, 2, 9));
    // Evidently's fill: zero shares become 1e-4 (or min/1e6 when the smallest share is ≤ 1e-4).
    expect(psiFromShares([0.5, 0.5, 0], [0.5, 0.5, 0])).toBe(0);
  });

  it('default test selection follows Evidently', () => {
    expect(defaultDriftTest('numeric', 1000, 50)).toBe('ks');
    expect(defaultDriftTest('numeric', 1000, 4)).toBe('chisquare');
    expect(defaultDriftTest('numeric', 1000, 2)).toBe('z');
    expect(defaultDriftTest('categorical', 1000, 3)).toBe('chisquare');
    expect(defaultDriftTest('categorical', 500, 2)).toBe('z');
    expect(defaultDriftTest('numeric', 1001, 50)).toBe('wasserstein');
    expect(defaultDriftTest('numeric', 1001, 5)).toBe('jensenshannon');
    expect(defaultDriftTest('categorical', 1001, 200)).toBe('jensenshannon');
  });
});

describe('computeDrift', () => {
  it('reports per-column tests, drifted first, new categories, target and prediction drift', () => {
    const rng = new Rng(3);
    const n = 400;
    const pick = (values: string[], p: number[]) => {
      const u = rng.next();
      let s = 0;
      for (let i = 0; i < values.length; i++) if (u < (s += p[i]!)) return values[i]!;
      return values[values.length - 1]!;
    };
    const ref = {
      app: Array.from({ length: n }, () => pick(['a', 'b', 'c'], [0.5, 0.3, 0.2])),
      dept: Array.from({ length: n }, () => (rng.next() < 0.1 ? null : pick(['x', 'y'], [0.5, 0.5]))),
      seniority: Float64Array.from({ length: n }, () => 1 + rng.int(10)),
      label: Uint8Array.from({ length: n }, () => (rng.next() < 0.5 ? 1 : 0)),
      score: Float64Array.from({ length: n }, () => rng.next()),
    };
    const cur = {
      app: Array.from({ length: n }, () => pick(['a', 'b', 'new1', 'new2'], [0.2, 0.3, 0.3, 0.2])),
      dept: Array.from({ length: n }, () => pick(['x', 'y'], [0.5, 0.5])),
      seniority: Float64Array.from({ length: n }, () => 1 + rng.int(10)),
      label: Uint8Array.from({ length: n }, () => (rng.next() < 0.3 ? 1 : 0)),
      score: Float64Array.from({ length: n }, () => rng.next() ** 2),
    };
    const spec = { numeric: ['seniority'], categorical: ['dept', 'app'], target: 'label', prediction: 'score' };
    const r = computeDrift(ref, cur, spec);
    expect(r.features.map((f) => [f.column, f.test, f.drifted])).toEqual([
      ['app', 'chisquare', true],
      ['dept', 'z', false],
      ['seniority', 'ks', false],
    ]);
    // Evidently's goodness-of-fit form: a category the reference lacks has expected count 0, so p = 0.
    const evidently = computeDrift(ref, cur, spec, { chiSquareForm: 'evidently' }).features[0]!;
    expect([evidently.score, evidently.statistic]).toEqual([0, null]);
    expect(r.features[1]!.reference).toMatchObject({
      kind: 'categorical',
      missing: ref.dept.filter((d) => d === null).length,
    });
    expect(r.dataset).toMatchObject({ columns: 3, drifted: 1, drifted_dataset: false });
    const app = r.newCategories.find((c) => c.column === 'app')!;
    expect(app.rate).toBeCloseTo(cur.app.filter((a) => a.startsWith('new')).length / n, 12);
    expect(app.newValues).toBe(2);
    expect(r.target).toMatchObject({ test: 'z', drifted: true });
    expect(r.target!.currentRate).toBeLessThan(r.target!.referenceRate);
    expect(r.prediction).toMatchObject({ test: 'ks', drifted: true });
    expect(JSON.parse(JSON.stringify(r))).toEqual(r); // plain JSON: ready for the report and the payload
    // Large references switch to distances; thresholds are configurable.
    const big = computeDrift(
      Object.fromEntries(Object.entries(ref).map(([k, v]) => [k, [...v, ...v, ...v]])) as never,
      cur,
      spec,
      { thresholds: { seniority: 0.5 } },
    );
    expect(Object.fromEntries(big.features.map((f) => [f.column, f.test]))).toEqual({
      app: 'jensenshannon',
      dept: 'jensenshannon',
      seniority: 'wasserstein',
    });
    expect(big.features.find((f) => f.column === 'seniority')!.threshold).toBe(0.5);
  });

  it('reads a window from CSV with DuckDB', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drift-io-'));
    try {
      const path = join(dir, 'w.csv');
      await writeFile(path, 'appId,seniority,label\nA,3,1\nB,,0\nA,5,1\n');
      const w = await readDriftWindow(path, {
        numeric: ['seniority'],
        categorical: ['appId'],
        target: 'label',
        prediction: 'score',
      });
      expect(w.spec).toEqual({ numeric: ['seniority'], categorical: ['appId'], target: 'label' });
      expect(w.rows).toBe(3);
      expect(Array.from(w.table.seniority as Float64Array)).toEqual([3, Number.NaN, 5]);
      expect(w.table.appId).toEqual(['A', 'B', 'A']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('drift simulator: false alarms and detection over 100 seeded trials', () => {
  const TRIALS = 100;
  const REF_ROWS = 20_000;
  const CUR_ROWS = 20_000;
  let pop: FeatureWindow;

  beforeAll(async () => {
    pop = await syntheticPopulation({ seed: 7, interactions: 60_000 });
  });

  /**
   * Each trial draws its own reference and current window: a p-value is calibrated over both samples, and
   * one fixed reference would make all trials share its luck.
   */
  // Trial t's reference is the same sample in every scenario: profiled once.
  const references = new Map<string, ReturnType<typeof profileReference>>();
  const referenceOf = (t: number, refRows: number) => {
    const key = `${refRows}:${t}`;
    if (!references.has(key))
      references.set(
        key,
        profileReference(windowTable(sampleWindow(pop, { rows: refRows, seed: 20_000 + t })), FEATURE_DRIFT_SPEC),
      );
    return references.get(key)!;
  };
  function trials(
    shift: Shift,
    rows = CUR_ROWS,
    refRows = REF_ROWS,
    options: Partial<DriftOptions> = {},
  ): DriftReport[] {
    return Array.from({ length: TRIALS }, (_, t) =>
      computeDrift(
        referenceOf(t, refRows),
        windowTable(sampleWindow(pop, { rows, seed: 10_000 + t, shift })),
        undefined,
        options,
      ),
    );
  }
  const rate = (reports: DriftReport[], hit: (r: DriftReport) => boolean) =>
    reports.filter(hit).length / reports.length;
  const featureRate = (reports: DriftReport[], column: string) =>
    rate(reports, (r) => r.features.some((f) => f.column === column && f.drifted));
  const meanPsi = (reports: DriftReport[], column: string) =>
    reports.reduce((s, r) => s + r.features.find((f) => f.column === column)!.psi, 0) / reports.length;

  it('windows are deterministic, in the reference feature-table shape', () => {
    const a = sampleWindow(pop, { rows: 500, seed: 5, shift: MODERATE_SHIFT.app_mix });
    const b = sampleWindow(pop, { rows: 500, seed: 5, shift: MODERATE_SHIFT.app_mix });
    expect(a).toEqual(b);
    expect(Object.keys(windowTable(a)).sort()).toEqual(
      [...FEATURE_DRIFT_SPEC.categorical, ...FEATURE_DRIFT_SPEC.numeric, 'label', 'score'].sort(),
    );
    expect(pop.categorical.department_filled!.dictionary).toContain('__UNKNOWN__');
  });

  it('no shift: dataset drift in ≤ 5% of trials (large reference: Wasserstein / Jensen–Shannon)', () => {
    const reports = trials({ kind: 'none' });
    const perFeature = Object.fromEntries(FEATURE_DRIFT_SPEC.categorical.map((c) => [c, featureRate(reports, c)]));
    console.info(
      'no-shift, 20k/20k: dataset drift',
      rate(reports, (r) => r.dataset.drifted_dataset),
      'per feature',
      perFeature,
      'target',
      rate(reports, (r) => !!r.target?.drifted),
    );
    expect(rate(reports, (r) => r.dataset.drifted_dataset)).toBeLessThanOrEqual(0.05);
    expect(rate(reports, (r) => !!r.target?.drifted)).toBeLessThanOrEqual(0.1);
  });

  it('no shift: dataset drift in ≤ 5% of trials (small reference: KS / chi-square / Z)', () => {
    const reports = trials({ kind: 'none' }, 1000, 1000);
    expect(reports[0]!.features.find((f) => f.column === 'seniority')!.test).toBe('ks');
    const perFeature = Object.fromEntries(reports[0]!.features.map((f) => [f.column, featureRate(reports, f.column)]));
    console.info(
      'no-shift, 1k/1k: dataset drift',
      rate(reports, (r) => r.dataset.drifted_dataset),
      'per feature',
      perFeature,
    );
    expect(rate(reports, (r) => r.dataset.drifted_dataset)).toBeLessThanOrEqual(0.05);
    for (const [column, r] of Object.entries(perFeature)) expect(r, column).toBeLessThanOrEqual(0.1);
    // Evidently's goodness-of-fit chi-square flags every high-cardinality column (unseen categories ⇒ p = 0).
    const evidently = trials({ kind: 'none' }, 1000, 1000, { chiSquareForm: 'evidently' });
    console.info(
      'no-shift, 1k/1k, Evidently chi-square form: dataset drift',
      rate(evidently, (r) => r.dataset.drifted_dataset),
      'appId',
      featureRate(evidently, 'appId'),
    );
    expect(featureRate(evidently, 'appId')).toBe(1);
  });

  it('moderate app-mix shift: appId flagged in ≥ 95% of trials', () => {
    const reports = trials(MODERATE_SHIFT.app_mix);
    console.info('app mix: appId flagged', featureRate(reports, 'appId'), 'mean PSI', meanPsi(reports, 'appId'));
    expect(featureRate(reports, 'appId')).toBeGreaterThanOrEqual(0.95);
    expect(meanPsi(reports, 'appId')).toBeGreaterThanOrEqual(0.1);
    expect(meanPsi(reports, 'appId')).toBeLessThan(0.25);
  });

  it('moderate department-mix shift: department flagged in ≥ 95% of trials', () => {
    const reports = trials(MODERATE_SHIFT.department_mix);
    console.info(
      'department mix: flagged',
      featureRate(reports, 'department_filled'),
      'mean PSI',
      meanPsi(reports, 'department_filled'),
    );
    expect(featureRate(reports, 'department_filled')).toBeGreaterThanOrEqual(0.95);
    expect(meanPsi(reports, 'department_filled')).toBeGreaterThanOrEqual(0.1);
    expect(meanPsi(reports, 'department_filled')).toBeLessThan(0.25);
  });

  it('moderate label shift (approval rate −5 points): target drift in ≥ 95% of trials', () => {
    const reports = trials(MODERATE_SHIFT.label);
    const drop = reports.reduce((s, r) => s + r.target!.currentRate - r.target!.referenceRate, 0) / TRIALS;
    console.info(
      'label shift: target flagged',
      rate(reports, (r) => !!r.target?.drifted),
      'mean rate change',
      drop,
    );
    expect(rate(reports, (r) => !!r.target?.drifted)).toBeGreaterThanOrEqual(0.95);
    expect(drop).toBeCloseTo(-0.05, 2);
  });

  it('new categories (5% of rows, unseen apps): reported at the injected rate and flagged in ≥ 95%', () => {
    const baseline = trials({ kind: 'none' }).map((r) => r.newCategories.find((c) => c.column === 'appId')!.rate);
    const reports = trials(MODERATE_SHIFT.new_categories);
    const rates = reports.map((r) => r.newCategories.find((c) => c.column === 'appId')!);
    console.info(
      'new categories: appId flagged',
      featureRate(reports, 'appId'),
      'mean reported rate',
      rates.reduce((s, c) => s + c.rate, 0) / TRIALS,
      'baseline',
      Math.max(...baseline),
    );
    for (const [t, c] of rates.entries()) {
      // Exactly 5% of rows carry injected values; chance-unseen apps (the no-shift baseline) may add a little.
      expect(c.rate).toBeGreaterThanOrEqual(0.05 - 1e-12);
      expect(c.rate).toBeLessThanOrEqual(0.05 + baseline[t]! + 1e-12);
      expect(c.examples[0]!.value).toMatch(/^__new_appId_/);
    }
    expect(featureRate(reports, 'appId')).toBeGreaterThanOrEqual(0.95);
  });
});
