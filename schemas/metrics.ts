import { z } from 'zod';

/**
 * The shape of a run's `metrics.json` as the report and comparison read it back (a boundary: files on
 * disk may come from older versions). Sections added by the evaluation report are optional so runs
 * written before them still load.
 */
const num = z
  .number()
  .or(z.null())
  .transform((v) => (v === null ? Number.NaN : v));
const confusion = z.object({ tp: z.number(), fp: z.number(), tn: z.number(), fn: z.number() });
/** The metrics of one decision threshold. */
const operatingPoint = {
  threshold: z.number(),
  accuracy: z.number(),
  precision: z.number(),
  recall: z.number(),
  f1: z.number(),
  fpr: z.number(),
};

/** A flat run's hold-out test file scored by the final model at the run's threshold (lib/evaluation/testSet.ts). */
export const testMetricsSchema = z.object({
  source: z.string(),
  rows: z.number(),
  positiveRate: z.number(),
  rocAuc: num,
  prAuc: num,
  logloss: z.number(),
  brier: z.number(),
  ...operatingPoint,
  confusion,
});
const interval = z.object({ estimate: num, lower: num, upper: num });
const reliabilityBin = z.object({
  lower: z.number(),
  upper: z.number(),
  count: z.number(),
  meanPredicted: z.number(),
  fractionPositive: z.number(),
});

export const importanceEntrySchema = z.object({ feature: z.string(), importance: z.number() });
export type ImportanceEntry = z.infer<typeof importanceEntrySchema>;

export const importanceSchema = z.object({
  /** CatBoost's PredictionValuesChange, normalised to sum to 100. */
  predictionValuesChange: z.array(importanceEntrySchema).optional(),
  /** Mean |SHAP value| per feature (log-odds units). */
  meanAbsShap: z.array(importanceEntrySchema).optional(),
  /** Why a section is missing, shown in the report. */
  note: z.string().optional(),
});
export type FeatureImportance = z.infer<typeof importanceSchema>;

export const metricsFileSchema = z.object({
  oof: z.object({
    rocAuc: num,
    prAuc: num,
    accuracy: z.number(),
    precision: z.number(),
    recall: z.number(),
    f1: z.number(),
    tpr: z.number(),
    fpr: z.number(),
    logloss: z.number(),
    brier: z.number(),
    threshold: z.number(),
    thresholdStrategy: z.string(),
    rows: z.number(),
    positiveRate: z.number(),
  }),
  confusion,
  folds: z.array(
    z.object({
      fold: z.number(),
      trainRows: z.number(),
      validRows: z.number(),
      rocAuc: num,
      logloss: z.number(),
      bestIteration: z.number(),
      seconds: z.number(),
    }),
  ),
  foldAuc: z.array(num),
  foldMetrics: z
    .object({
      folds: z.array(
        z.object({
          fold: z.number(),
          rows: z.number(),
          positiveRate: z.number(),
          rocAuc: num,
          prAuc: num,
          logloss: z.number(),
          accuracy: z.number(),
        }),
      ),
      rocAuc: z.object({ mean: num, std: num, min: num, max: num }),
    })
    .optional(),
  costs: z.object({ falseApprove: z.number(), falseDeny: z.number() }).optional(),
  thresholds: z
    .array(
      z.object({
        strategy: z.string(),
        description: z.string(),
        ...operatingPoint,
        approvalRate: z.number(),
        expectedCost: z.number(),
        confusion,
        chosen: z.boolean(),
      }),
    )
    .optional(),
  ci: z
    .object({
      iterations: z.number(),
      level: z.number(),
      unit: z.enum(['rows', 'groups']),
      rocAuc: interval,
      accuracy: interval,
    })
    .optional(),
  calibration: z
    .object({
      nBins: z.number(),
      reliability: z.array(reliabilityBin),
      ece: z.number(),
      mce: z.number(),
      crossFitted: z.array(
        z.object({
          method: z.enum(['none', 'platt', 'isotonic']),
          logloss: z.number(),
          brier: z.number(),
          ece: z.number(),
        }),
      ),
      recommended: z.enum(['none', 'platt', 'isotonic']),
      platt: z.object({ method: z.literal('platt'), a: z.number(), b: z.number() }),
      isotonic: z.object({ method: z.literal('isotonic'), x: z.array(z.number()), y: z.array(z.number()) }),
      calibratedReliability: z.array(reliabilityBin),
    })
    .optional(),
  segments: z
    .object({
      minCount: z.number(),
      top: z.number(),
      flagMargin: z.number(),
      globalAccuracy: z.number(),
      rows: z.array(
        z.object({
          dimension: z.string(),
          value: z.string(),
          count: z.number(),
          approvalRate: z.number(),
          meanScore: z.number(),
          accuracy: z.number(),
          rocAuc: z.number().nullable(),
          prAuc: z.number().nullable(),
          shortfall: z.number(),
          flagged: z.boolean(),
        }),
      ),
    })
    .optional(),
  audit: z
    .object({
      rows: z.number(),
      users: z.number().optional(),
      apps: z.number().optional(),
      groups: z.object({ column: z.string(), count: z.number() }).optional(),
      positiveRate: z.number(),
      machine: z.object({ share: z.number(), approvalRate: z.number().nullable() }).optional(),
      raw: z.array(z.object({ table: z.string(), rows: z.number(), missing: z.record(z.string(), z.number()) })),
      features: z.array(
        z.object({
          column: z.string(),
          kind: z.enum(['categorical', 'numeric']),
          cardinality: z.number().nullable(),
          missingShare: z.number(),
        }),
      ),
    })
    .optional(),
  importance: importanceSchema.optional(),
  test: testMetricsSchema.optional(),
});
export type MetricsFile = z.infer<typeof metricsFileSchema>;
