import type { ThresholdStrategy } from '../../schemas/config';
import { chooseThreshold, expectedCost, metricsAtThreshold, type ThresholdOptions } from '../metrics';

/** One operating point of the threshold table. */
export interface ThresholdRow {
  strategy: ThresholdStrategy | 'reference_0.5';
  /** What the strategy optimises, for the report. */
  description: string;
  threshold: number;
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  fpr: number;
  /** Share of requests approved at this threshold. */
  approvalRate: number;
  /** Mean cost per request with the configured false-approve / false-deny costs. */
  expectedCost: number;
  confusion: { tp: number; fp: number; tn: number; fn: number };
  /** The strategy the run's config chose; its threshold is the model's. */
  chosen: boolean;
}

/**
 * Every threshold strategy side by side on the same scores: max accuracy, max F1, fixed, cost-weighted
 * (and the 0.5 reference when the fixed threshold is something else), with the configured one marked.
 */
export function thresholdTable(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  chosen: ThresholdStrategy,
  options: ThresholdOptions,
): ThresholdRow[] {
  const cost = `min cost (false approve ${options.costFalseApprove}, false deny ${options.costFalseDeny})`;
  const plan: Array<{ strategy: ThresholdRow['strategy']; description: string; fixed?: number }> = [
    { strategy: 'max_accuracy', description: 'max accuracy' },
    { strategy: 'max_f1', description: 'max F1' },
    { strategy: 'fixed', description: 'fixed' },
    { strategy: 'cost', description: cost },
  ];
  if (options.fixedThreshold !== 0.5)
    plan.push({ strategy: 'reference_0.5', description: 'reference 0.5', fixed: 0.5 });
  return plan.map(({ strategy, description, fixed }) => {
    const m =
      strategy === 'reference_0.5'
        ? metricsAtThreshold(labels, scores, fixed ?? 0.5)
        : chooseThreshold(labels, scores, strategy, options);
    const { tp, fp, tn, fn } = m.confusion;
    return {
      strategy,
      description,
      threshold: m.threshold,
      accuracy: m.accuracy,
      precision: m.precision,
      recall: m.recall,
      f1: m.f1,
      fpr: m.fpr,
      approvalRate: (tp + fp) / (tp + fp + tn + fn),
      expectedCost: expectedCost(m, options),
      confusion: m.confusion,
      chosen: strategy === chosen,
    };
  });
}
