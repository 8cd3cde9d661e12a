import { z } from 'zod';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** The out-of-fold metrics a golden comparison checks (absolute difference within the metric tolerance). */
export const GOLDEN_METRICS = ['rocAuc', 'prAuc', 'logloss', 'brier', 'accuracy'] as const;

/**
 * A golden reference: what a model is expected to produce. Exported from a run (`golden export`) or written by
 * another tool: its out-of-fold metrics, its predictions keyed by row (the run's id columns joined with U+001F,
 * userId and appId in seed mode), and optionally the sha256 of its scoring spec.
 */
export const goldenReferenceSchema = z.strictObject({
  format: z.literal('access-perm/golden-reference@1'),
  /** Where it came from, when it was exported from a run. */
  source: z.strictObject({ runId: z.string(), version: z.number().int().min(1) }).nullable(),
  model_sha256: hex64.nullable(),
  metrics: z.partialRecord(z.enum(GOLDEN_METRICS), z.number()),
  key_columns: z.array(z.string()).min(1),
  /** [row key, approval probability] per row. */
  predictions: z.array(z.tuple([z.string(), z.number().min(0).max(1)])),
});
export type GoldenReference = z.infer<typeof goldenReferenceSchema>;

export const goldenTolerancesSchema = z.strictObject({
  /** Largest absolute difference allowed on each metric. */
  metric: z.number().min(0).max(1).default(0.005),
  /** Largest absolute difference allowed between two predictions of the same row. */
  score: z.number().min(0).max(1).default(0.05),
  /** Require the scoring spec's sha256 to equal the reference's (a byte-identical model). */
  same_model: z.boolean().default(false),
});
export type GoldenTolerances = z.infer<typeof goldenTolerancesSchema>;

export const goldenCheckSchema = z.strictObject({
  name: z.string(),
  passed: z.boolean(),
  value: z.union([z.number(), z.string(), z.null()]),
  limit: z.union([z.number(), z.string(), z.null()]),
  detail: z.string(),
});
export type GoldenCheck = z.infer<typeof goldenCheckSchema>;

/** A golden comparison's report, kept in the run folder (`golden/<id>.json`) and audited. */
export const goldenReportSchema = z.strictObject({
  format: z.literal('access-perm/golden-report@1'),
  id: z.string(),
  runId: z.string(),
  version: z.number().int(),
  model_sha256: hex64.nullable(),
  reference: z.strictObject({
    kind: z.enum(['run', 'file']),
    runId: z.string().nullable(),
    version: z.number().int().nullable(),
    sha256: hex64,
    model_sha256: hex64.nullable(),
  }),
  tolerances: goldenTolerancesSchema,
  checks: z.array(goldenCheckSchema),
  passed: z.boolean(),
  by: z.strictObject({ userId: z.string(), role: z.string() }),
  at: z.string(),
});
export type GoldenReport = z.infer<typeof goldenReportSchema>;
