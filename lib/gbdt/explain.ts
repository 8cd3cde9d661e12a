/**
 * Explanations of a trained model: global feature importance (CatBoost's PredictionValuesChange), exact SHAP
 * values over the input columns (TreeSHAP's cover-weighted expectation, computed exactly for oblivious trees),
 * mean |SHAP|, and a row's top contributions. Implementation under `./explain/`.
 */
export { featureImportance } from './explain/importance';
export type { FeatureImportance } from './explain/importance';
export { meanAbsOf, meanAbsShap, shapRow, shapValues, topContributions, MAX_TREE_PLAYERS } from './explain/shap';
export type { Contribution, ExplainOptions, ShapRow, ShapValues } from './explain/shap';
export { leafCover, storedLeafWeights } from './explain/cover';
export type { LeafWeights, LeafWeightSource } from './explain/cover';
