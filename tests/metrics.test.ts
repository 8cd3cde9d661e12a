import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { averagePrecision, brier, chooseThreshold, logloss, metricsAtThreshold, rocAuc } from '../lib/metrics';

interface GoldenCase {
  name: string;
  labels: number[];
  scores: number[];
  threshold: number;
  roc_auc: number;
  average_precision: number;
  log_loss: number;
  brier: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  fpr: number;
  confusion: { tp: number; fp: number; tn: number; fn: number };
  max_accuracy: { threshold: number; accuracy: number };
  max_f1: { threshold: number; f1: number };
}

// Computed by scikit-learn: bench/golden_metrics.py.
const golden = JSON.parse(readFileSync(new URL('./golden/metrics.json', import.meta.url), 'utf8')) as {
  cases: GoldenCase[];
};
const TOL = 1e-9;
const options = { fixedThreshold: 0.5, costFalseApprove: 1, costFalseDeny: 1 };

describe.each(golden.cases)('metrics match scikit-learn: $name', (c) => {
  it('ranking metrics (ROC-AUC with ties, average precision)', () => {
    expect(rocAuc(c.labels, c.scores)).toBeCloseTo(c.roc_auc, 9);
    expect(Math.abs(averagePrecision(c.labels, c.scores) - c.average_precision)).toBeLessThan(TOL);
  });

  it('probability metrics (logloss, Brier)', () => {
    expect(Math.abs(logloss(c.labels, c.scores) - c.log_loss)).toBeLessThan(TOL);
    expect(Math.abs(brier(c.labels, c.scores) - c.brier)).toBeLessThan(TOL);
  });

  it('threshold metrics and confusion matrix', () => {
    const m = metricsAtThreshold(c.labels, c.scores, c.threshold);
    expect(m.confusion).toEqual(c.confusion);
    for (const [ours, theirs] of [
      [m.accuracy, c.accuracy],
      [m.precision, c.precision],
      [m.recall, c.recall],
      [m.f1, c.f1],
      [m.fpr, c.fpr],
    ] as const) {
      expect(Math.abs(ours - theirs)).toBeLessThan(TOL);
    }
  });

  it('max-accuracy and max-F1 thresholds equal an exhaustive search', () => {
    const acc = chooseThreshold(c.labels, c.scores, 'max_accuracy', options);
    expect(acc.threshold).toBe(c.max_accuracy.threshold);
    expect(Math.abs(acc.accuracy - c.max_accuracy.accuracy)).toBeLessThan(TOL);
    const f1 = chooseThreshold(c.labels, c.scores, 'max_f1', options);
    expect(f1.threshold).toBe(c.max_f1.threshold);
    expect(Math.abs(f1.f1 - c.max_f1.f1)).toBeLessThan(TOL);
  });
});

describe('threshold strategies', () => {
  const labels = [0, 0, 0, 1, 1, 1];
  const scores = [0.1, 0.3, 0.6, 0.4, 0.7, 0.9];

  it('fixed uses the configured value', () => {
    expect(chooseThreshold(labels, scores, 'fixed', { ...options, fixedThreshold: 0.65 }).threshold).toBe(0.65);
  });

  it('cost-weighted moves the threshold towards the cheaper error', () => {
    const strictOnApprovals = chooseThreshold(labels, scores, 'cost', { ...options, costFalseApprove: 10 });
    const strictOnDenials = chooseThreshold(labels, scores, 'cost', { ...options, costFalseDeny: 10 });
    expect(strictOnApprovals.confusion.fp).toBe(0);
    expect(strictOnDenials.confusion.fn).toBe(0);
    expect(strictOnApprovals.threshold).toBeGreaterThan(strictOnDenials.threshold);
  });

  it('is undefined for ROC-AUC with one class and rejects mismatched inputs', () => {
    expect(rocAuc([1, 1], [0.2, 0.3])).toBeNaN();
    expect(() => rocAuc([1], [0.1, 0.2])).toThrow(/differ in length/);
  });
});
