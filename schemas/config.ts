import { z } from 'zod';

/** Threshold strategies for turning probabilities into approve/deny decisions. */
export const THRESHOLD_STRATEGIES = ['max_accuracy', 'max_f1', 'fixed', 'cost'] as const;
export type ThresholdStrategy = (typeof THRESHOLD_STRATEGIES)[number];

const generateSchema = z
  .object({
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(42),
    interactions: z.number().int().min(100).max(10_000_000),
  })
  .strict();

const seedDataSchema = z
  .object({
    mode: z.literal('seed').default('seed'),
    /** Folder holding users_metadata.csv, apps_metadata.csv, interactions.csv (and optionally submission.csv). */
    dir: z.string().min(1),
    users: z.string().default('users_metadata.csv'),
    apps: z.string().default('apps_metadata.csv'),
    interactions: z.string().default('interactions.csv'),
    submission: z.string().default('submission.csv'),
    /** When the files are absent, generate synthetic data with these settings instead of failing. */
    generate: generateSchema.optional(),
  })
  .strict();

const expectationsSchema = z
  .object({
    min_rows: z.number().int().nonnegative().default(100),
    max_rows: z.number().int().positive().default(20_000_000),
    /** Minimum share of non-null values for columns that must be mostly present (Great Expectations' `mostly`). */
    mostly: z.number().min(0).max(1).default(0.95),
  })
  .strict();

export const configSchema = z
  .object({
    name: z.string().min(1).max(100).default('access-perm'),
    data: seedDataSchema,
    artifacts: z
      .object({
        /** Run folders are created below this directory (relative paths resolve against the data directory). */
        dir: z.string().min(1).default('runs'),
      })
      .strict()
      .default({ dir: 'runs' }),
    features: z
      .object({
        sentinel: z.string().min(1).default('__UNKNOWN__'),
        manager_backfill: z.boolean().default(true),
      })
      .strict()
      .default({ sentinel: '__UNKNOWN__', manager_backfill: true }),
    model: z
      .object({
        catboost: z.record(z.string(), z.unknown()).default({}),
      })
      .strict(),
    validation: z
      .object({
        n_splits: z.number().int().min(2).max(20).default(5),
        group_column: z.literal('userId').default('userId'),
        target_column: z.literal('permission').default('permission'),
        threshold_strategy: z.enum(THRESHOLD_STRATEGIES).default('max_accuracy'),
        /** Used by the `fixed` strategy. */
        fixed_threshold: z.number().gt(0).lt(1).default(0.5),
        /** Used by the `cost` strategy: cost of approving a request that should be denied, and vice versa. */
        cost_false_approve: z.number().positive().default(1),
        cost_false_deny: z.number().positive().default(1),
        expectations: expectationsSchema.default({ min_rows: 100, max_rows: 20_000_000, mostly: 0.95 }),
      })
      .strict(),
    monitoring: z
      .object({
        /** Reference baseline written by the training run, relative to the run folder. */
        reference: z.string().default('monitoring/reference.parquet'),
      })
      .strict()
      .default({ reference: 'monitoring/reference.parquet' }),
  })
  .strict();

export type AccessPermConfig = z.output<typeof configSchema>;
