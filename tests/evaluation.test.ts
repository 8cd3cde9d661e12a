import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  bootstrapCi,
  bootstrapIterationsFor,
  calibrationReport,
  expectedCalibrationError,
  fitIsotonic,
  fitPlatt,
  foldMetrics,
  reliabilityCurve,
  segmentMetrics,
  thresholdTable,
} from '../lib/evaluation';
import { applyIsotonic, applyPlatt } from '../lib/gbdt';
import { chooseThreshold, expectedCost, precisionRecallCurve, rocAuc, rocCurve } from '../lib/metrics';
import { Rng } from '../lib/rng';

interface EvaluationGolden {
  name: string;
  labels: number[];
  scores: number[];
  roc: { fpr: number[]; tpr: number[]; thresholds: Array<number | null> };
  pr: { precision: number[]; recall: number[]; thresholds: number[] };
  calibration_uniform_10: { prob_true: number[]; prob_pred: number[] };
  calibration_quantile_5: { prob_true: number[]; prob_pred: number[] };
  isotonic: { grid: number[]; predict_grid: number[]; predict_train: number[] };
  platt: { a: number; b: number; sklearn_a: number; sklearn_b: number; predict_train: number[] };
}

// Computed by scikit-learn: bench/golden_metrics.py.
const golden = JSON.parse(readFileSync(new URL('./golden/evaluation.json', import.meta.url), 'utf8')) as {
  cases: EvaluationGolden[];
};
const TOL = 1e-9;
const close = (ours: readonly number[], theirs: readonly number[], tol = TOL): void => {
  expect(ours.length).toBe(theirs.length);
  const worst = ours.reduce((m, v, i) => Math.max(m, Math.abs(v - theirs[i]!)), 0);
  expect(worst).toBeLessThan(tol);
};

describe.each(golden.cases)('curves and calibration match scikit-learn: $name', (c) => {
  it('roc_curve (drop_intermediate=False)', () => {
    const roc = rocCurve(c.labels, c.scores);
    close(
      roc.map((p) => p.fpr),
      c.roc.fpr,
    );
    close(
      roc.map((p) => p.tpr),
      c.roc.tpr,
    );
    expect(roc.map((p) => (Number.isFinite(p.threshold) ? p.threshold : null))).toEqual(c.roc.thresholds);
  });

  it('precision_recall_curve', () => {
    const pr = precisionRecallCurve(c.labels, c.scores);
    close(
      pr.map((p) => p.precision),
      c.pr.precision,
    );
    close(
      pr.map((p) => p.recall),
      c.pr.recall,
    );
    expect(pr.slice(0, -1).map((p) => p.threshold)).toEqual(c.pr.thresholds);
  });

  it('calibration_curve with uniform and quantile bins', () => {
    const uniform = reliabilityCurve(c.labels, c.scores, 10, 'uniform');
    close(
      uniform.map((b) => b.fractionPositive),
      c.calibration_uniform_10.prob_true,
    );
    close(
      uniform.map((b) => b.meanPredicted),
      c.calibration_uniform_10.prob_pred,
    );
    const quantile = reliabilityCurve(c.labels, c.scores, 5, 'quantile');
    close(
      quantile.map((b) => b.fractionPositive),
      c.calibration_quantile_5.prob_true,
    );
    close(
      quantile.map((b) => b.meanPredicted),
      c.calibration_quantile_5.prob_pred,
    );
    expect(uniform.reduce((s, b) => s + b.count, 0)).toBe(c.labels.length);
  });

  it('isotonic calibration = IsotonicRegression(out_of_bounds="clip")', () => {
    const iso = fitIsotonic(c.labels, c.scores);
    close(
      c.isotonic.grid.map((x) => applyIsotonic(iso, x)),
      c.isotonic.predict_grid,
    );
    close(
      c.scores.map((x) => applyIsotonic(iso, x)),
      c.isotonic.predict_train,
    );
    for (let i = 1; i < iso.y.length; i++) expect(iso.y[i]!).toBeGreaterThanOrEqual(iso.y[i - 1]!);
  });

  it('Platt scaling reaches the optimum of sklearn’s objective', () => {
    const platt = fitPlatt(c.labels, c.scores);
    expect(Math.abs(platt.a - c.platt.a)).toBeLessThan(1e-7);
    expect(Math.abs(platt.b - c.platt.b)).toBeLessThan(1e-7);
    // sklearn's own L-BFGS stops a little earlier.
    expect(Math.abs(platt.a - c.platt.sklearn_a)).toBeLessThan(1e-5);
    close(
      c.scores.map((p) => applyPlatt(platt, p)),
      c.platt.predict_train,
      1e-7,
    );
  });
});

/** Labels drawn from known probabilities: a well-calibrated score vector. */
function simulate(n: number, seed: number, distort = (p: number) => p): { labels: number[]; scores: number[] } {
  const rng = new Rng(seed);
  const labels: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = rng.next();
    labels.push(rng.next() < p ? 1 : 0);
    scores.push(distort(p));
  }
  return { labels, scores };
}

describe('calibration report', () => {
  it('ECE is small for calibrated scores and large for over-confident ones; calibration repairs it', () => {
    const calibrated = simulate(6000, 1);
    const folds = calibrated.labels.map((_, i) => i % 3);
    const good = calibrationReport(calibrated.labels, calibrated.scores, folds);
    expect(good.ece).toBeLessThan(0.03);

    // Push scores towards 0/1: the model is over-confident.
    const sharp = (p: number): number => 1 / (1 + Math.exp(-4 * Math.log(p / (1 - p))));
    const over = simulate(6000, 2, sharp);
    const bad = calibrationReport(over.labels, over.scores, folds);
    expect(bad.ece).toBeGreaterThan(0.1);
    expect(bad.recommended).not.toBe('none');
    const none = bad.crossFitted.find((q) => q.method === 'none')!;
    const fixed = bad.crossFitted.find((q) => q.method === bad.recommended)!;
    expect(fixed.logloss).toBeLessThan(none.logloss);
    expect(fixed.ece).toBeLessThan(0.04);
    expect(expectedCalibrationError(bad.calibratedReliability)).toBeLessThan(0.04);
    // The stored Platt slope undoes the ×4 sharpening on the log-odds (p' = σ(−(a·logit p + b))).
    expect(-bad.platt.a).toBeCloseTo(0.25, 1);
  });
});

describe('bootstrap confidence intervals', () => {
  const data = simulate(3000, 3);
  const threshold = 0.5;

  it('bracket the point estimate, are reproducible by seed, and narrow with more data', () => {
    const ci = bootstrapCi(data.labels, data.scores, { threshold, iterations: 300, seed: 5 });
    expect(ci.rocAuc.estimate).toBeCloseTo(rocAuc(data.labels, data.scores), 12);
    expect(ci.rocAuc.lower).toBeLessThan(ci.rocAuc.estimate);
    expect(ci.rocAuc.upper).toBeGreaterThan(ci.rocAuc.estimate);
    expect(ci.accuracy.lower).toBeLessThan(ci.accuracy.estimate);
    expect(ci.accuracy.upper).toBeGreaterThan(ci.accuracy.estimate);
    expect(bootstrapCi(data.labels, data.scores, { threshold, iterations: 300, seed: 5 })).toEqual(ci);

    const small = bootstrapCi(data.labels.slice(0, 300), data.scores.slice(0, 300), { threshold, iterations: 300 });
    expect(small.rocAuc.upper - small.rocAuc.lower).toBeGreaterThan(ci.rocAuc.upper - ci.rocAuc.lower);
  });

  it('the 95% interval covers the true AUC in most repeated experiments', () => {
    // True AUC of (p ~ U(0,1), y ~ Bernoulli(p)) is 5/6... estimated once on a large sample.
    const big = simulate(200_000, 99);
    const truth = rocAuc(big.labels, big.scores);
    let covered = 0;
    const trials = 40;
    for (let t = 0; t < trials; t++) {
      const d = simulate(400, 1000 + t);
      const ci = bootstrapCi(d.labels, d.scores, { threshold, iterations: 200, seed: t });
      if (ci.rocAuc.lower <= truth && truth <= ci.rocAuc.upper) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.8);
  });

  it('uses 1000 resamples up to ~200k rows and fewer (at least 200) on very large inputs', () => {
    expect(bootstrapIterationsFor(116_063)).toBe(1000);
    expect(bootstrapIterationsFor(1_000_000)).toBe(200);
    expect(bootstrapIterationsFor(400_000)).toBe(500);
  });

  it('resampling whole groups widens the interval when rows within a group are correlated', () => {
    // 60 groups of 50 identical rows: the effective sample is 60, not 3000.
    const labels: number[] = [];
    const scores: number[] = [];
    const groups: number[] = [];
    const base = simulate(60, 8);
    for (let g = 0; g < 60; g++) {
      for (let k = 0; k < 50; k++) {
        labels.push(base.labels[g]!);
        scores.push(base.scores[g]!);
        groups.push(g);
      }
    }
    const rows = bootstrapCi(labels, scores, { threshold, iterations: 300 });
    const clustered = bootstrapCi(labels, scores, { threshold, iterations: 300, groups });
    expect(clustered.unit).toBe('groups');
    expect(clustered.rocAuc.upper - clustered.rocAuc.lower).toBeGreaterThan(
      3 * (rows.rocAuc.upper - rows.rocAuc.lower),
    );
  });
});

describe('threshold table', () => {
  const data = simulate(2000, 4);
  const options = { fixedThreshold: 0.5, costFalseApprove: 5, costFalseDeny: 1 };

  it('lists every strategy, marks the configured one, and each row is its strategy’s optimum', () => {
    const table = thresholdTable(data.labels, data.scores, 'cost', options);
    expect(table.map((r) => r.strategy)).toEqual(['max_accuracy', 'max_f1', 'fixed', 'cost']);
    expect(table.filter((r) => r.chosen).map((r) => r.strategy)).toEqual(['cost']);
    const byStrategy = Object.fromEntries(table.map((r) => [r.strategy, r]));
    expect(byStrategy.fixed!.threshold).toBe(0.5);
    for (const r of table) {
      expect(byStrategy.max_accuracy!.accuracy).toBeGreaterThanOrEqual(r.accuracy);
      expect(byStrategy.max_f1!.f1).toBeGreaterThanOrEqual(r.f1);
      expect(byStrategy.cost!.expectedCost).toBeLessThanOrEqual(r.expectedCost);
    }
    // Expensive false approvals push the cost threshold up: fewer approvals than max accuracy.
    expect(byStrategy.cost!.threshold).toBeGreaterThan(byStrategy.max_accuracy!.threshold);
    expect(byStrategy.cost!.approvalRate).toBeLessThan(byStrategy.max_accuracy!.approvalRate);
    const m = chooseThreshold(data.labels, data.scores, 'cost', options);
    expect(byStrategy.cost!.expectedCost).toBeCloseTo(expectedCost(m, options), 12);
  });

  it('adds the 0.5 reference when the fixed threshold is something else', () => {
    const table = thresholdTable(data.labels, data.scores, 'max_accuracy', { ...options, fixedThreshold: 0.7 });
    expect(table.map((r) => r.strategy)).toContain('reference_0.5');
    expect(table.find((r) => r.strategy === 'fixed')!.threshold).toBe(0.7);
  });
});

describe('segments and folds', () => {
  it('keeps segments with n >= minCount, top by size, and flags the weak one', () => {
    const rng = new Rng(6);
    const labels: number[] = [];
    const scores: number[] = [];
    const app: string[] = [];
    const dept: string[] = [];
    const sizes: Record<string, number> = { good1: 400, good2: 300, noisy: 250, tiny: 40 };
    for (const [name, size] of Object.entries(sizes)) {
      for (let k = 0; k < size; k++) {
        const y = rng.next() < 0.5 ? 1 : 0;
        // The noisy app's scores carry no signal.
        const s = name === 'noisy' ? rng.next() : y === 1 ? 0.6 + 0.4 * rng.next() : 0.4 * rng.next();
        labels.push(y);
        scores.push(s);
        app.push(name);
        dept.push(k % 2 === 0 ? 'd1' : 'd2');
      }
    }
    const report = segmentMetrics(labels, scores, { appId: app, department: dept }, { threshold: 0.5 });
    const apps = report.rows.filter((r) => r.dimension === 'appId');
    expect(apps.map((r) => r.value)).toEqual(['good1', 'good2', 'noisy']); // tiny (n=40) dropped, by size
    expect(apps.find((r) => r.value === 'noisy')!.flagged).toBe(true);
    expect(apps.filter((r) => r.flagged)).toHaveLength(1);
    expect(apps[0]!.rocAuc).toBe(1);
    expect(report.rows.filter((r) => r.dimension === 'department')).toHaveLength(2);
    const single = segmentMetrics([1, 1, 1], [0.9, 0.8, 0.7], { a: ['x', 'x', 'x'] }, { threshold: 0.5, minCount: 1 });
    expect(single.rows[0]!.rocAuc).toBeNull(); // one class: AUC undefined
  });

  it('per-fold metrics and their spread', () => {
    const data = simulate(3000, 7);
    const folds = data.labels.map((_, i) => i % 5);
    const f = foldMetrics(data.labels, data.scores, folds, 0.5);
    expect(f.folds).toHaveLength(5);
    expect(f.folds.reduce((s, x) => s + x.rows, 0)).toBe(3000);
    expect(f.rocAuc.min).toBeLessThanOrEqual(f.rocAuc.mean);
    expect(f.rocAuc.max).toBeGreaterThanOrEqual(f.rocAuc.mean);
    expect(f.rocAuc.std).toBeGreaterThan(0);
    const idx = folds.map((v, i) => (v === 2 ? i : -1)).filter((i) => i >= 0);
    expect(f.folds[2]!.rocAuc).toBe(
      rocAuc(
        idx.map((i) => data.labels[i]!),
        idx.map((i) => data.scores[i]!),
      ),
    );
  });
});
