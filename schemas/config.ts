import { z } from 'zod';
import { catBoostParamsSchema } from './gbdt';

/** A path inside the run folder: relative, without `..` (everything a run writes stays in its folder). */
const insideRunFolder = z
  .string()
  .min(1)
  .refine((p) => !/^([\\/]|[A-Za-z]:)/.test(p) && !p.split(/[\\/]/).includes('..'), {
    message: 'must be a relative path inside the run folder (no leading / and no ..)',
  });

/** Threshold strategies for turning probabilities into approve/deny decisions. */
/** The user fields seed-2 backfills from the manager (`features.manager_backfill`), in its order. */
export const BACKFILL_COLUMNS = ['department', 'officeLocation', 'seniority'] as const;
export type BackfillColumn = (typeof BACKFILL_COLUMNS)[number];

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

/** Names the feature table uses for its own columns; a declared column may not take them. */
export const RESERVED_FEATURE_COLUMNS = ['row_idx', 'label', 'fold', 'score'] as const;

const columnName = z.string().trim().min(1);

/** A label value as written in the config (YAML may read `1` as a number); compared with the CSV's text. */
const labelValue = z.union([z.string().trim().min(1), z.number()]).transform(String);

/**
 * The label column: a plain name means values 0 / 1 (1 = approved); `{column, positive}` accepts any two distinct
 * values, `positive` (compared as text) meaning approved.
 */
const labelSchema = z.union([columnName, z.object({ column: columnName, positive: labelValue }).strict()]);

/**
 * One table of labelled decisions whose columns are declared here. Every declared column must be distinct
 * (a column is one of categorical / numeric / label / group); id columns are only carried to the OOF predictions.
 * Parsed into one canonical form (`path`, `label` a column name, `label_positive`) that parses again unchanged, as
 * the run's config.json snapshot is re-read.
 */
const flatDataSchema = z
  .object({
    mode: z.literal('flat'),
    /** The CSV (header row, comma-separated). */
    path: z.string().min(1).optional(),
    /** Alias of `path`. */
    table: z.string().min(1).optional(),
    /** An optional labelled hold-out CSV with the same columns: the final model is scored on it. */
    test: z.string().min(1).optional(),
    categorical: z.array(columnName).default([]),
    numeric: z.array(columnName).default([]),
    label: labelSchema,
    /** The object form's `positive`, as stored in a run's config.json (prefer `label: {column, positive}`). */
    label_positive: labelValue.optional(),
    /** GroupKFold key; without it rows are folded by a seeded row-level KFold. Never a feature. */
    group: columnName.optional(),
    /** Columns copied into the OOF predictions to identify rows (they may also be features or the group). */
    id_columns: z.array(columnName).default([]),
    /** Seed of the row-level KFold shuffle (used only without `group`). */
    fold_seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(42),
  })
  .strict()
  .superRefine((d, ctx) => {
    const fail = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (d.path === undefined && d.table === undefined) fail(['path'], 'give the CSV as data.path (or data.table)');
    if (d.path !== undefined && d.table !== undefined) fail(['table'], 'data.table is an alias of data.path: give one');
    if (typeof d.label === 'object' && d.label_positive !== undefined)
      fail(['label_positive'], 'the positive label value is given twice (label.positive and label_positive)');
    const label = typeof d.label === 'string' ? d.label : d.label.column;
    if (d.categorical.length + d.numeric.length === 0)
      fail(['categorical'], 'declare at least one categorical or numeric feature column');
    const roles = new Map<string, string>();
    const claim = (column: string, role: string, path: (string | number)[]) => {
      if ((RESERVED_FEATURE_COLUMNS as readonly string[]).includes(column) && role !== 'label')
        fail(
          path,
          `column "${column}" is a reserved name of the feature table (${RESERVED_FEATURE_COLUMNS.join(', ')})`,
        );
      const before = roles.get(column);
      if (before === role) fail(path, `column "${column}" is declared twice in ${role}`);
      else if (before) fail(path, `column "${column}" is declared as both ${before} and ${role}`);
      else roles.set(column, role);
    };
    d.categorical.forEach((c, i) => claim(c, 'categorical', ['categorical', i]));
    d.numeric.forEach((c, i) => claim(c, 'numeric', ['numeric', i]));
    claim(label, 'label', ['label']);
    if (d.group !== undefined) claim(d.group, 'group', ['group']);
    const ids = new Set<string>();
    d.id_columns.forEach((c, i) => {
      if (ids.has(c)) fail(['id_columns', i], `column "${c}" is declared twice in id_columns`);
      ids.add(c);
      if (c === label) fail(['id_columns', i], `column "${c}" is the label; the OOF predictions carry it as label`);
      else if ((RESERVED_FEATURE_COLUMNS as readonly string[]).includes(c))
        fail(['id_columns', i], `column "${c}" is a reserved name of the feature table`);
    });
  })
  .transform(({ path, table, label, label_positive, ...d }) => {
    const positive = typeof label === 'string' ? label_positive : label.positive;
    return {
      ...d,
      path: (path ?? table)!,
      label: typeof label === 'string' ? label : label.column,
      ...(positive !== undefined ? { label_positive: positive } : {}),
    };
  });

/** Input mode: the seed's four tables, or one declared table. */
const dataSchema = z.discriminatedUnion('mode', [seedDataSchema, flatDataSchema]);
export type SeedDataConfig = z.output<typeof seedDataSchema>;
export type FlatDataConfig = z.output<typeof flatDataSchema>;

const expectationsSchema = z
  .object({
    min_rows: z.number().int().nonnegative().default(100),
    max_rows: z.number().int().positive().default(20_000_000),
    /** Minimum share of non-null values for columns that must be mostly present (Great Expectations' `mostly`). */
    mostly: z.number().min(0).max(1).default(0.95),
  })
  .strict();

/** Drift statistics of monitoring windows; the defaults are Evidently's (see lib/monitor DEFAULT_DRIFT_OPTIONS). */
const monitoringDriftSchema = z
  .object({
    /** References with at most this many rows use p-value tests (KS, chi-square, Z), larger ones distances. */
    small_sample_max_rows: z.number().int().positive().default(1000),
    /** Numeric features with at most this many distinct values are tested as categories. */
    max_unique_as_categorical: z.number().int().min(1).default(5),
    /** Stattest thresholds: drift when p < p_value (KS, chi-square, Z), distance ≥ distance (Wasserstein, JS), PSI ≥ psi. */
    p_value: z.number().gt(0).lt(1).default(0.05),
    distance: z.number().positive().default(0.1),
    psi: z.number().positive().default(0.1),
    /** PSI bands: below the first "no shift", then "moderate", from the second "significant". */
    psi_bands: z
      .tuple([z.number().positive(), z.number().positive()])
      .refine(([a, b]) => a < b, 'psi_bands must be increasing')
      .default([0.1, 0.25]),
    /** Dataset drift when the share of drifted features reaches this. */
    drift_share: z.number().gt(0).max(1).default(0.5),
    /** Per-feature test overrides, e.g. {appId: psi}. */
    tests: z.record(z.string(), z.enum(['ks', 'wasserstein', 'chisquare', 'z', 'jensenshannon', 'psi'])).default({}),
    /** Per-feature threshold overrides. */
    thresholds: z.record(z.string(), z.number().positive()).default({}),
  })
  .strict();

/** When a monitoring window raises an alert (audit entry + notification). */
const monitoringAlertsSchema = z
  .object({
    /** Alert when the dataset drifts (share of drifted features ≥ drift.drift_share). */
    dataset_drift: z.boolean().default(true),
    /** Alert when a labelled window's metric falls below the reference by more than this (absolute). */
    metric_drop: z
      .object({
        rocAuc: z.number().positive().max(1).optional(),
        prAuc: z.number().positive().max(1).optional(),
        accuracy: z.number().positive().max(1).optional(),
        precision: z.number().positive().max(1).optional(),
        recall: z.number().positive().max(1).optional(),
        f1: z.number().positive().max(1).optional(),
      })
      .strict()
      .default({ rocAuc: 0.05, accuracy: 0.05 }),
    /** Labelled windows smaller than this are not judged on performance (too noisy). */
    min_labelled_rows: z.number().int().positive().default(200),
  })
  .strict();

const monitoringSchema = z
  .object({
    /** Reference baseline written by the training run, relative to the run folder. */
    reference: insideRunFolder.default('monitoring/reference.parquet'),
    drift: monitoringDriftSchema.default(monitoringDriftSchema.parse({})),
    alerts: monitoringAlertsSchema.default(monitoringAlertsSchema.parse({})),
  })
  .strict();

export const configSchema = z
  .object({
    name: z.string().min(1).max(100).default('access-perm'),
    data: dataSchema,
    artifacts: z
      .object({
        /**
         * Run folders are created below this directory: relative to the data directory, which it may not leave
         * (checked when the run is prepared, symlinks resolved).
         */
        dir: z.string().min(1).default('runs'),
      })
      .strict()
      .default({ dir: 'runs' }),
    features: z
      .object({
        sentinel: z.string().min(1).default('__UNKNOWN__'),
        /**
         * The user fields filled from the manager's where the user's is missing and the manager's is known (seed-2:
         * "department, office, seniority"). `true` means department and office, what runs made before seniority
         * could be backfilled did (their stored configs say `true` and reproduce); `false` backfills nothing.
         */
        manager_backfill: z.union([z.boolean(), z.array(z.enum(BACKFILL_COLUMNS))]).default([...BACKFILL_COLUMNS]),
      })
      .strict()
      .default({ sentinel: '__UNKNOWN__', manager_backfill: [...BACKFILL_COLUMNS] }),
    model: z
      .object({
        // CatBoost's parameter names, checked key by key when the config loads (a typo fails before any step runs).
        catboost: z
          .record(z.string(), z.unknown())
          .default({})
          .superRefine((params, ctx) => {
            const checked = catBoostParamsSchema.safeParse(params);
            if (!checked.success)
              for (const issue of checked.error.issues)
                ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
          }),
        /**
         * Calibrate the final model's probability with a calibrator fitted on the out-of-fold scores: 'platt',
         * 'isotonic', 'auto' (the one with the lowest cross-fitted logloss, none if neither helps) or 'none'. It is
         * stored in model.json and applied by predictProba and the ONNX export; the threshold is mapped through it.
         */
        calibration: z.enum(['none', 'platt', 'isotonic', 'auto']).default('none'),
        /**
         * Threads one fit uses: 1 (absent) or 2 (a helper thread builds half of each tree level's histograms; the
         * model is the same). The worker counts them against `catboost.thread_count` and its cores: with 2 on a
         * 2-core worker the folds train one at a time on both cores (when two fits at once do not fit in memory).
         * With 1, a fit still gets a second thread while a core is idle (the last fold, the final model).
         */
        fit_threads: z.number().int().min(1).max(2).optional(),
      })
      .strict()
      .default({ catboost: {}, calibration: 'none' }),
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
      .strict()
      .default({
        n_splits: 5,
        group_column: 'userId',
        target_column: 'permission',
        threshold_strategy: 'max_accuracy',
        fixed_threshold: 0.5,
        cost_false_approve: 1,
        cost_false_deny: 1,
        expectations: { min_rows: 100, max_rows: 20_000_000, mostly: 0.95 },
      }),
    monitoring: monitoringSchema.default(monitoringSchema.parse({})),
  })
  .strict();

export type AccessPermConfig = z.output<typeof configSchema>;
