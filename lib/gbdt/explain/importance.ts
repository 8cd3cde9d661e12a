/** Global feature importance: CatBoost's PredictionValuesChange for oblivious trees. */
import type { GbdtModel } from '../../../schemas/gbdt';
import type { FeatureMatrix } from '../../../schemas/matrix';
import { resolveLeafWeights } from './cover';
import type { LeafWeights } from './cover';
import { splitColumns } from './players';

/** One input column's share of a global importance. */
export interface FeatureImportance {
  feature: string;
  importance: number;
}

/** Descending by importance; ties keep the model's feature order. */
export function sortImportances(
  features: ReadonlyArray<{ name: string }>,
  values: ArrayLike<number>,
): FeatureImportance[] {
  return features
    .map((f, i) => ({ feature: f.name, importance: values[i]!, i }))
    .sort((a, b) => b.importance - a.importance || a.i - b.i)
    .map(({ feature, importance }) => ({ feature, importance }));
}

/**
 * PredictionValuesChange (CatBoost's default importance for this loss): for every split d of every tree and
 * every pair of leaves that differ only in bit d, with weights c₁, c₂ (both > 0) and values v₁, v₂,
 *   c₁ (v₁ − v̄)² + c₂ (v₂ − v̄)²,  v̄ = (c₁v₁ + c₂v₂) / (c₁ + c₂),
 * is added to the split's feature; a CTR split over a combination shares it equally among the combination's
 * categorical columns (as CatBoost maps derived features to input features). Normalised to sum to 100
 * (all zeros when no split changes a prediction). Every model input column is listed, sorted descending.
 *
 * Weights: CatBoost uses the leaf weights stored in its model; ours stores none, so pass `data` — the training
 * matrix (per-leaf row counts under the model's apply-time features) or `LeafWeights` from `leafCover`. A model
 * that stores per-tree `leafWeights` needs no `data`.
 * @throws GbdtDataError when no leaf weights are available or they do not fit the model
 */
export function featureImportance(model: GbdtModel, data?: FeatureMatrix | LeafWeights): FeatureImportance[] {
  const source = data === undefined ? {} : 'rowCount' in data ? { background: data } : { leafWeights: data };
  const weights = resolveLeafWeights(model, source, 'featureImportance');
  const columns = splitColumns(model);
  const effect = new Float64Array(model.features.length);
  model.trees.forEach((tree, t) => {
    const w = weights[t]!;
    const v = tree.leafValues;
    tree.splits.forEach((_, d) => {
      const bit = 1 << d;
      let sum = 0;
      for (let l = 0; l < v.length; l++) {
        if (l & bit) continue;
        const c1 = w[l]!;
        const c2 = w[l | bit]!;
        if (c1 === 0 || c2 === 0) continue;
        const v1 = v[l]!;
        const v2 = v[l | bit]!;
        const avg = (v1 * c1 + v2 * c2) / (c1 + c2);
        sum += (v1 - avg) * (v1 - avg) * c1 + (v2 - avg) * (v2 - avg) * c2;
      }
      const cols = columns[t]![d]!;
      for (const c of cols) effect[c]! += sum / cols.length;
    });
  });
  let total = 0;
  for (const e of effect) total += e;
  if (total > 0) for (let i = 0; i < effect.length; i++) effect[i] = (effect[i]! / total) * 100;
  return sortImportances(model.features, effect);
}
