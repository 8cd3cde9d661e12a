/**
 * access-perm's CatBoost-class gradient boosting for binary Logloss: ordered target statistics for
 * categoricals, quantized numerics, oblivious trees, seeded determinism, a canonical JSON scoring spec.
 * Scoring with onnxruntime is `./onnx` (a separate entry, so that parsing or training a model never loads the native
 * runtime).
 */
export { resolveParams, autoLearningRate } from './params';
export { trainGbdt, scoreNoiseMultiplier } from './train';
export type { IterationInfo, TrainOptions } from './train';
export type { FitThreads } from './wasm';
export { predictRaw, predictProba } from './predict';
export { applyCalibrator, applyIsotonic, applyPlatt, LOGIT_EPS, logit } from './calibration';
export type { Calibrator, IsotonicCalibrator, PlattCalibrator } from './calibration';
export { serializeModel, parseModel } from './model';
export { entryValues, tableOfEntries } from './tables';
export { GbdtParamError, GbdtDataError, GbdtModelError } from './errors';
export { loglossFromRaw, rocAuc } from './metrics';
export { greedyLogSumBorders, medianBorders, uniformBorders } from './quantize';
export { ctrValue, orderedBordersCtrs, DEFAULT_CTRS } from './ctr';
export type { CatBoostParams, GbdtModel, GbdtSplit, ResolvedParams } from '../../schemas/gbdt';
export { exportOnnx, onnxInputs, ONNX_PROBABILITY_OUTPUT, ONNX_RAW_OUTPUT } from './onnx/export';
export type { OnnxInputSpec } from './onnx/export';
export { onnxMetadata } from './onnx/metadata';
export {
  featureImportance,
  leafCover,
  meanAbsOf,
  meanAbsShap,
  shapRow,
  shapValues,
  storedLeafWeights,
  topContributions,
} from './explain';
export type { Contribution, ExplainOptions, FeatureImportance, LeafWeights, ShapRow, ShapValues } from './explain';
