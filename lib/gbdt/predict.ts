/** Scoring with a trained (or parsed) model. */
import type { FeatureMatrix } from '../../schemas/matrix';
import type { GbdtModel } from '../../schemas/gbdt';
import { applyCalibrator } from './calibration';
import { addTree, prepareMatrix } from './apply';

/**
 * Raw scores (log-odds) for every row. Columns are matched by name, categorical values by string; an unseen
 * value gets the CTR of an empty history (prior-based), NaN follows the model's nan mode.
 * @throws GbdtDataError when a column the model needs is missing (the message names it)
 */
export function predictRaw(model: GbdtModel, matrix: FeatureMatrix): Float64Array {
  // Only the CTRs the trees split on: a table's other CTR types would be computed for nothing.
  const used = new Set(model.trees.flatMap((t) => t.splits.flatMap((s) => (s.type === 'ctr' ? [s.ctr] : []))));
  const prepared = prepareMatrix(model, matrix, used);
  const raw = new Float64Array(matrix.rowCount).fill(model.bias);
  const scratch = new Uint32Array(matrix.rowCount);
  for (const tree of model.trees) addTree(tree, prepared, raw, scratch);
  return raw;
}

/** Approval probabilities: sigmoid of `predictRaw`, then the model's calibrator when it has one. */
export function predictProba(model: GbdtModel, matrix: FeatureMatrix): Float64Array {
  const raw = predictRaw(model, matrix);
  const c = model.calibration;
  for (let i = 0; i < raw.length; i++) {
    const p = 1 / (1 + Math.exp(-raw[i]!));
    raw[i] = c ? applyCalibrator(c, p) : p;
  }
  return raw;
}
