/** CatBoost-named training parameters: validation and CatBoost's CPU defaults for Logloss. */
import { catBoostParamsSchema } from '../../schemas/gbdt';
import type { CatBoostParams, ResolvedParams } from '../../schemas/gbdt';
import { GbdtParamError } from './errors';

/**
 * CatBoost's automatic learning rate for Logloss on CPU (options_helper.cpp, TAutoLRParamsGuesser):
 * `lr = min(exp(A·ln N + B) · exp(C·ln T) / exp(C·ln 1000), 0.5)`, rounded to 6 decimals, where N is the
 * training row count, T the iteration count, and (A, B, C) the coefficients CatBoost fitted offline for
 * boost_from_average × use_best_model. Example: N = 93k rows, T = 500, use_best_model ⇒ ≈ 0.106.
 */
export function autoLearningRate(
  rowCount: number,
  iterations: number,
  useBestModel: boolean,
  boostFromAverage: boolean,
): number {
  const [a, b, c, d] = boostFromAverage
    ? useBestModel
      ? [0.246, -5.127, -0.451, 0.978]
      : [0.408, -7.299, -0.928, 2.701]
    : useBestModel
      ? [0.247, -5.158, -0.435, 0.934]
      : [0.427, -7.525, -0.917, 2.63];
  const custom = Math.exp(c * Math.log(iterations) + d);
  const dflt = Math.exp(c * Math.log(1000) + d);
  const base = Math.exp(a * Math.log(Math.max(1, rowCount)) + b);
  const lr = Math.min((base * custom) / dflt, 0.5);
  return Math.round(lr * 1e6) / 1e6;
}

/**
 * Validates CatBoost-named parameters and applies CatBoost's CPU defaults for Logloss.
 *
 * @param rowCount training rows (for the automatic learning rate)
 * @param context.hasEvalSet whether training gets an eval set (use_best_model defaults to true only then)
 * @throws GbdtParamError naming the parameter and the problem, e.g. "depth must be an integer in 1..16, got 20"
 * @example resolveParams({ iterations: 500, learning_rate: 0.05, depth: 8, l2_leaf_reg: 8, random_seed: 42 }, 93_000)
 */
export function resolveParams(
  params: CatBoostParams,
  rowCount: number,
  context: { hasEvalSet?: boolean } = {},
): ResolvedParams {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new GbdtParamError('params', `params must be an object, got ${params === null ? 'null' : typeof params}`);
  }
  const parsed = catBoostParamsSchema.safeParse(params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys;
      throw new GbdtParamError(
        keys.join(', '),
        `unknown parameter${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')} ` +
          `(accepted: ${Object.keys(catBoostParamsSchema.shape).join(', ')})`,
      );
    }
    const param = String(issue.path[0] ?? 'params');
    throw new GbdtParamError(param, issue.message.startsWith(param) ? issue.message : `${param}: ${issue.message}`);
  }
  const p = parsed.data;
  const hasEvalSet = context.hasEvalSet ?? false;

  if (p.od_wait !== undefined && p.early_stopping_rounds !== undefined && p.od_wait !== p.early_stopping_rounds) {
    throw new GbdtParamError(
      'od_wait, early_stopping_rounds',
      `od_wait (${p.od_wait}) and early_stopping_rounds (${p.early_stopping_rounds}) are aliases and disagree`,
    );
  }
  const bootstrap = p.bootstrap_type ?? 'MVS';
  if (p.subsample !== undefined && (bootstrap === 'Bayesian' || bootstrap === 'No')) {
    throw new GbdtParamError('subsample', `subsample is not used with bootstrap_type '${bootstrap}'; remove it`);
  }
  if (p.bagging_temperature !== undefined && bootstrap !== 'Bayesian') {
    throw new GbdtParamError(
      'bagging_temperature',
      `bagging_temperature needs bootstrap_type 'Bayesian', got bootstrap_type '${bootstrap}'`,
    );
  }
  if (!Number.isInteger(rowCount) || rowCount < 1) {
    throw new GbdtParamError('rowCount', `rowCount must be a positive integer, got ${rowCount}`);
  }

  const iterations = p.iterations ?? 1000;
  const useBestModel = p.use_best_model ?? hasEvalSet;
  const boostFromAverage = p.boost_from_average ?? false;
  const learningRate = p.learning_rate ?? autoLearningRate(rowCount, iterations, useBestModel, boostFromAverage);
  return {
    loss_function: 'Logloss',
    iterations,
    learning_rate: learningRate,
    learning_rate_auto: p.learning_rate === undefined,
    depth: p.depth ?? 6,
    l2_leaf_reg: p.l2_leaf_reg ?? 3,
    random_seed: p.random_seed ?? 0,
    border_count: p.border_count ?? 254,
    feature_border_type: p.feature_border_type ?? 'GreedyLogSum',
    nan_mode: p.nan_mode ?? 'Min',
    ctr_border_count: p.ctr_border_count ?? 15,
    random_strength: p.random_strength ?? 1,
    one_hot_max_size: p.one_hot_max_size ?? 2,
    bootstrap_type: bootstrap,
    bagging_temperature: bootstrap === 'Bayesian' ? (p.bagging_temperature ?? 1) : 1,
    subsample: bootstrap === 'Bernoulli' || bootstrap === 'MVS' ? (p.subsample ?? 0.8) : 1,
    score_function: p.score_function ?? 'Cosine',
    leaf_estimation_method: p.leaf_estimation_method ?? 'Newton',
    // CatBoost: 10 Newton (40 gradient) steps for Logloss, cut to 1 for short runs (< 200 iterations) on < 20
    // features (UpdateLeavesEstimationIterations); the feature count is not known here, so short runs get 1.
    leaf_estimation_iterations:
      p.leaf_estimation_iterations ??
      (iterations < 200 ? 1 : (p.leaf_estimation_method ?? 'Newton') === 'Newton' ? 10 : 40),
    boost_from_average: boostFromAverage,
    od_wait: p.od_wait ?? p.early_stopping_rounds ?? null,
    eval_metric: p.eval_metric ?? 'Logloss',
    use_best_model: useBestModel,
    max_ctr_complexity: p.max_ctr_complexity ?? 4,
    permutation_count: p.permutation_count ?? 4,
    // CatBoost's default (DefaultFoldPermutationBlockSize): permutations move blocks of consecutive rows, so the
    // ordered statistics of a large set read and write memory in runs instead of at random rows.
    fold_permutation_block: p.fold_permutation_block ?? Math.min(256, Math.floor(rowCount / 1000) + 1),
    model_size_reg: p.model_size_reg ?? 0.5,
    thread_count: p.thread_count ?? -1,
    ...(p.monotone_constraints ? { monotone_constraints: p.monotone_constraints } : {}),
    ...(p.ignored_features ? { ignored_features: p.ignored_features } : {}),
    ...(p.feature_borders ? { feature_borders: p.feature_borders } : {}),
  };
}
