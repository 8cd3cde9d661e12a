/**
 * Schemas of the gradient-boosting engine (`lib/gbdt`): the CatBoost-named training parameters a config
 * file carries, the fully resolved parameters a model records, and the serialized model (the JSON scoring spec).
 */
import { z } from 'zod';

const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (v === undefined) return 'undefined';
  try {
    return JSON.stringify(v);
  } catch {
    return typeof v;
  }
};

/** An integer in [lo, hi]; the message names the parameter and the offending value. */
const intIn = (name: string, lo: number, hi: number) => {
  const msg = (iss: { input: unknown }) => `${name} must be an integer in ${lo}..${hi}, got ${show(iss.input)}`;
  return z.number({ error: msg }).refine((v) => Number.isInteger(v) && v >= lo && v <= hi, { error: msg });
};

/** A finite number in a range; `openLo` excludes the lower bound. */
const numIn = (name: string, lo: number, hi: number, openLo = false) => {
  const range = `${openLo ? '(' : '['}${lo}, ${hi === Infinity ? '∞)' : `${hi}]`}`;
  const msg = (iss: { input: unknown }) => `${name} must be a number in ${range}, got ${show(iss.input)}`;
  return z
    .number({ error: msg })
    .refine((v) => Number.isFinite(v) && (openLo ? v > lo : v >= lo) && v <= hi, { error: msg });
};

const oneOf = <const T extends readonly [string, ...string[]]>(name: string, values: T) =>
  z.enum(values, {
    error: (iss) => `${name} must be one of ${values.map((v) => `'${v}'`).join(', ')}, got ${show(iss.input)}`,
  });

const bool = (name: string) => z.boolean({ error: (iss) => `${name} must be a boolean, got ${show(iss.input)}` });

export const BOOTSTRAP_TYPES = ['Bayesian', 'Bernoulli', 'MVS', 'No'] as const;
export const SCORE_FUNCTIONS = ['Cosine', 'L2', 'NewtonCosine', 'NewtonL2'] as const;
export const EVAL_METRICS = ['Logloss', 'AUC'] as const;
export const BORDER_TYPES = ['GreedyLogSum', 'Median', 'Uniform'] as const;
export const NAN_MODES = ['Min', 'Max'] as const;

/**
 * Parameters a reviewed override sets (issue 6), by feature name. `monotone_constraints` and `ignored_features`
 * are CatBoost's names; `feature_borders` stands for CatBoost's input borders file (a validated binning).
 */
const modelOverrideParams = {
  /** 1: the score never decreases as the numeric feature grows; -1: never increases; 0: free. */
  monotone_constraints: z.record(z.string(), z.union([z.literal(-1), z.literal(0), z.literal(1)]), {
    error: (iss) => `monotone_constraints must map feature names to -1, 0 or 1, got ${show(iss.input)}`,
  }),
  /** Columns stay model inputs, but no tree splits on them. */
  ignored_features: z.array(z.string().min(1), {
    error: (iss) => `ignored_features must be a list of feature names, got ${show(iss.input)}`,
  }),
  /** Borders of numeric features fixed by hand instead of quantized: splits happen only there. */
  feature_borders: z.record(z.string(), z.array(z.number().finite()).min(1), {
    error: (iss) => `feature_borders must map feature names to lists of numbers, got ${show(iss.input)}`,
  }),
};

/**
 * Training parameters with CatBoost's names. Every key is optional; `resolveParams` applies CatBoost's CPU
 * defaults for Logloss. Unknown keys are rejected (strict), so a typo never silently falls back to a default.
 */
export const catBoostParamsSchema = z
  .object({
    loss_function: oneOf('loss_function', ['Logloss']),
    iterations: intIn('iterations', 1, 100_000),
    learning_rate: numIn('learning_rate', 0, 1, true),
    depth: intIn('depth', 1, 16),
    l2_leaf_reg: numIn('l2_leaf_reg', 0, Infinity),
    random_seed: intIn('random_seed', 0, 4_294_967_295),
    border_count: intIn('border_count', 1, 1024),
    feature_border_type: oneOf('feature_border_type', BORDER_TYPES),
    nan_mode: oneOf('nan_mode', NAN_MODES),
    ctr_border_count: intIn('ctr_border_count', 1, 255),
    random_strength: numIn('random_strength', 0, Infinity),
    one_hot_max_size: intIn('one_hot_max_size', 0, 255),
    bootstrap_type: oneOf('bootstrap_type', BOOTSTRAP_TYPES),
    bagging_temperature: numIn('bagging_temperature', 0, Infinity),
    subsample: numIn('subsample', 0, 1, true),
    score_function: oneOf('score_function', SCORE_FUNCTIONS),
    leaf_estimation_method: oneOf('leaf_estimation_method', ['Newton', 'Gradient']),
    leaf_estimation_iterations: intIn('leaf_estimation_iterations', 1, 100),
    boost_from_average: bool('boost_from_average'),
    od_type: oneOf('od_type', ['Iter']),
    od_wait: intIn('od_wait', 1, 100_000),
    early_stopping_rounds: intIn('early_stopping_rounds', 1, 100_000),
    eval_metric: oneOf('eval_metric', EVAL_METRICS),
    use_best_model: bool('use_best_model'),
    max_ctr_complexity: intIn('max_ctr_complexity', 1, 8),
    permutation_count: intIn('permutation_count', 1, 64),
    fold_permutation_block: intIn('fold_permutation_block', 1, 65_536),
    model_size_reg: numIn('model_size_reg', 0, Infinity),
    thread_count: intIn('thread_count', -1, 1024),
    verbose: z.union([z.boolean(), z.number()], {
      error: (iss) => `verbose must be a boolean or a number, got ${show(iss.input)}`,
    }),
    ...modelOverrideParams,
  })
  .partial()
  .strict();

export type CatBoostParams = z.input<typeof catBoostParamsSchema>;

/** Every parameter with its value decided (defaults applied); recorded in the model file. */
export const resolvedParamsSchema = z
  .object({
    loss_function: z.literal('Logloss'),
    iterations: z.number().int(),
    learning_rate: z.number(),
    /** True when learning_rate was not given and was derived from the row and iteration counts. */
    learning_rate_auto: z.boolean(),
    depth: z.number().int(),
    l2_leaf_reg: z.number(),
    random_seed: z.number().int(),
    border_count: z.number().int(),
    feature_border_type: z.enum(BORDER_TYPES),
    nan_mode: z.enum(NAN_MODES),
    ctr_border_count: z.number().int(),
    random_strength: z.number(),
    one_hot_max_size: z.number().int(),
    bootstrap_type: z.enum(BOOTSTRAP_TYPES),
    bagging_temperature: z.number(),
    subsample: z.number(),
    score_function: z.enum(SCORE_FUNCTIONS),
    leaf_estimation_method: z.enum(['Newton', 'Gradient']),
    leaf_estimation_iterations: z.number().int(),
    boost_from_average: z.boolean(),
    od_wait: z.number().int().nullable(),
    eval_metric: z.enum(EVAL_METRICS),
    use_best_model: z.boolean(),
    max_ctr_complexity: z.number().int(),
    permutation_count: z.number().int(),
    /** Absent in models trained before it was a parameter: they permuted single rows (1). */
    fold_permutation_block: z.number().int().optional(),
    model_size_reg: z.number(),
    thread_count: z.number().int(),
    // Present only when set, so models trained without overrides keep their exact bytes.
    monotone_constraints: modelOverrideParams.monotone_constraints.optional(),
    ignored_features: modelOverrideParams.ignored_features.optional(),
    feature_borders: modelOverrideParams.feature_borders.optional(),
  })
  .strict();

export type ResolvedParams = z.infer<typeof resolvedParamsSchema>;

/** Joined the values of a categorical combination into one CTR table key in format version 1 (ASCII unit separator). */
export const COMBINATION_SEPARATOR = '\u001f';

export const GBDT_MODEL_FORMAT = 'access-perm-gbdt';
export const GBDT_MODEL_FORMAT_VERSION = 2;

const finite = z.number().refine(Number.isFinite, { error: 'must be a finite number' });

/** A numeric input feature: split `value > border`; a missing value (NaN) counts as -∞ ('Min') or +∞ ('Max'). */
export const floatFeatureSchema = z
  .object({
    name: z.string().min(1),
    nanMode: z.enum(NAN_MODES),
    /** Ascending. When the training column had NaNs, the first ('Min') or last ('Max') border is ∓Number.MAX_VALUE and separates them. */
    borders: z.array(finite),
  })
  .strict();

/** A categorical feature with few values: split `value == oneHotValue`. Unseen values never match. */
export const oneHotFeatureSchema = z.object({ name: z.string().min(1), values: z.array(z.string()) }).strict();

/** An array taken as JSON gives it: its elements are checked by `parseModel` in one pass (zod would copy it). */
const numbers = z.custom<number[]>((v) => Array.isArray(v), { error: 'expected an array of numbers' });

/**
 * Target statistics over all training rows for one categorical feature or a combination of several, by columns:
 * `values[j]` are the values of `features[j]` that entries use, in code-unit order; entry r's value of feature j is
 * `values[j][keys[r · features.length + j]]`, and it has `positives[r]` positive rows of `totals[r]`. Entries are in
 * the order of their value tuples. Values absent from the table are unseen.
 */
export const ctrTableSchema = z
  .object({
    features: z.array(z.string().min(1)).min(1),
    values: z.array(z.array(z.string())),
    keys: numbers,
    positives: numbers,
    totals: numbers,
    /** Largest of `totals` over the training rows (the Counter CTR's denominator is maxCount + 1). */
    maxCount: z.number().int().nonnegative(),
  })
  .strict();
export type CtrTable = z.infer<typeof ctrTableSchema>;

/** A table as model files of format version 1 stored it: rows [key, positives, total], keys joined by U+001F. */
export const ctrTableV1Schema = z
  .object({
    features: z.array(z.string().min(1)).min(1),
    stats: z.array(z.tuple([z.string(), z.number().int().nonnegative(), z.number().int().positive()])),
    maxCount: z.number().int().nonnegative(),
  })
  .strict();

/**
 * One CTR feature computed from a table:
 * - 'Borders': (positives + prior) / (total + 1); an unseen value gives prior.
 * - 'Counter': (total + prior) / (maxCount + 1); an unseen value gives prior / (maxCount + 1).
 */
export const ctrFeatureSchema = z
  .object({
    table: z.number().int().nonnegative(),
    type: z.enum(['Borders', 'Counter']),
    prior: finite,
    borders: z.array(finite),
  })
  .strict();

export const splitSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('float'), feature: z.number().int().nonnegative(), border: finite }).strict(),
  z.object({ type: z.literal('ctr'), ctr: z.number().int().nonnegative(), border: finite }).strict(),
  z.object({ type: z.literal('onehot'), feature: z.number().int().nonnegative(), value: z.string() }).strict(),
]);
export type GbdtSplit = z.infer<typeof splitSchema>;

/**
 * An oblivious tree: split d decides bit d of the leaf index (bit set when the condition holds). `leafWeights`, as
 * CatBoost stores them: the training rows in each leaf when the tree was fitted (the averaging permutation's ordered
 * CTRs decide a CTR split there), for TreeSHAP and PredictionValuesChange without the training data. Models trained
 * before they were stored have none.
 */
export const treeSchema = z
  .object({
    splits: z.array(splitSchema).min(1),
    leafValues: z.array(finite),
    leafWeights: z.array(z.number().nonnegative().refine(Number.isFinite, { error: 'must be finite' })).optional(),
  })
  .strict();

/**
 * A calibrator of the model's probability p (lib/evaluation/calibration.ts fits both on out-of-fold scores):
 * - 'platt': 1 / (1 + exp(a · logit(p) + b)), p clipped to [1e-15, 1 − 1e-15] inside the logit;
 * - 'isotonic': linear interpolation between knots (x increasing, y non-decreasing in [0, 1]), clipped outside.
 */
export const calibratorSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('platt'), a: finite, b: finite }).strict(),
  z
    .object({ method: z.literal('isotonic'), x: z.array(finite).min(1), y: z.array(z.number().min(0).max(1)) })
    .strict()
    .refine((c) => c.x.length === c.y.length, { error: 'isotonic calibrator: x and y differ in length' })
    .refine((c) => c.x.every((v, i) => i === 0 || v > c.x[i - 1]!), { error: 'isotonic calibrator: x must increase' }),
]);
export type Calibrator = z.infer<typeof calibratorSchema>;

export const gbdtModelSchema = z
  .object({
    format: z.literal(GBDT_MODEL_FORMAT),
    formatVersion: z.literal(GBDT_MODEL_FORMAT_VERSION),
    lossFunction: z.literal('Logloss'),
    /** Input columns the model reads, in training order. */
    features: z.array(z.object({ name: z.string().min(1), type: z.enum(['numeric', 'categorical']) }).strict()),
    floatFeatures: z.array(floatFeatureSchema),
    oneHotFeatures: z.array(oneHotFeatureSchema),
    ctrTables: z.array(ctrTableSchema),
    ctrs: z.array(ctrFeatureSchema),
    trees: z.array(treeSchema),
    /** Initial log-odds added to every prediction. */
    bias: finite,
    /** 0-based iteration with the best eval metric; null when trained without an eval set. */
    bestIteration: z.number().int().nonnegative().nullable(),
    /** Iterations actually run (before use_best_model truncation). */
    iterationsRun: z.number().int().nonnegative(),
    bestEvalMetric: z
      .object({ name: z.enum(EVAL_METRICS), value: finite })
      .strict()
      .nullable(),
    params: resolvedParamsSchema,
    /** Decision threshold on the probability, set by the pipeline after evaluation. */
    threshold: z.number().min(0).max(1).optional(),
    /**
     * Probability calibration fitted by the pipeline on out-of-fold scores (config `model.calibration`). When set,
     * `predictProba` and the ONNX export's `probability` are calibrated (`raw` stays the model's log-odds).
     */
    calibration: calibratorSchema.optional(),
  })
  .strict();

export type GbdtModel = z.infer<typeof gbdtModelSchema>;
