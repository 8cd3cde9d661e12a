/**
 * access-perm's CatBoost-class gradient boosting for binary Logloss: ordered target statistics for
 * categoricals, quantized numerics, oblivious trees, seeded determinism, a canonical JSON scoring spec.
 */
export { resolveParams, autoLearningRate } from './params';
export { trainGbdt, scoreNoiseMultiplier } from './train';
export type { IterationInfo, TrainOptions } from './train';
export { predictRaw, predictProba } from './predict';
export { serializeModel, parseModel } from './model';
export { GbdtParamError, GbdtDataError, GbdtModelError } from './errors';
export { loglossFromRaw, rocAuc } from './metrics';
export { greedyLogSumBorders, medianBorders, uniformBorders } from './quantize';
export { ctrValue, orderedBordersCtrs, DEFAULT_CTRS } from './ctr';
export type { CatBoostParams, GbdtModel, GbdtSplit, ResolvedParams } from '../../schemas/gbdt';
