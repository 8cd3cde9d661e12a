/**
 * Leaf weights (training cover) for explanations: how many rows of a reference set fall into each leaf of each
 * tree. Models trained now store them (`leafWeights` per tree, the training rows as the fit saw them); for older
 * ones callers pass a background matrix — ideally the training rows — or weights computed once with `leafCover`.
 */
import type { GbdtModel } from '../../../schemas/gbdt';
import type { FeatureMatrix } from '../../../schemas/matrix';
import { CHUNK_ROWS, preparedChunks, treeLeaves } from '../apply';
import { GbdtDataError } from '../errors';

/** Per tree: one non-negative weight per leaf (`leafValues` order). */
export type LeafWeights = ReadonlyArray<ArrayLike<number>>;

/**
 * Training cover from a background matrix: per tree, the number of background rows in each leaf, with the
 * model's apply-time features (CTRs from all training rows). Pass the training rows to get TreeSHAP's node
 * cover / CatBoost's leaf weights (up to CatBoost's use of the ordered CTRs during training).
 * @throws GbdtDataError when the matrix has no rows or lacks a column the model needs
 */
export function leafCover(model: GbdtModel, background: FeatureMatrix): Float64Array[] {
  if (background.rowCount < 1) throw new GbdtDataError('leaf weights: the background matrix has no rows');
  const cover = model.trees.map((t) => new Float64Array(t.leafValues.length));
  const leaves = new Uint32Array(Math.min(CHUNK_ROWS, background.rowCount));
  for (const { prepared } of preparedChunks(model, background)) {
    model.trees.forEach((tree, t) => {
      treeLeaves(tree, prepared, leaves);
      const w = cover[t]!;
      for (let i = 0; i < prepared.rowCount; i++) w[leaves[i]!]!++;
    });
  }
  return cover;
}

/** Per-tree leaf weights stored in the model (the training rows per leaf, see `treeSchema`), or undefined without. */
export function storedLeafWeights(model: GbdtModel): LeafWeights | undefined {
  const stored = model.trees.map((t) => t.leafWeights);
  return stored.every((w) => w !== undefined) ? (stored as number[][]) : undefined;
}

/** Where the leaf weights come from, in order of preference. */
export interface LeafWeightSource {
  /** Precomputed weights (e.g. `leafCover(model, trainMatrix)` computed once). */
  leafWeights?: LeafWeights;
  /** Background rows whose per-leaf counts are the weights (typically the training matrix). */
  background?: FeatureMatrix;
}

/**
 * The leaf weights to use: explicit `leafWeights`, else counts of `background` rows, else the model's stored
 * weights; validated (one finite non-negative weight per leaf).
 * @throws GbdtDataError when there are none, or they do not fit the model
 */
export function resolveLeafWeights(model: GbdtModel, source: LeafWeightSource, caller: string): Float64Array[] {
  let weights: LeafWeights | undefined = source.leafWeights;
  if (!weights && source.background) return leafCover(model, source.background);
  weights ??= storedLeafWeights(model);
  if (!weights) {
    throw new GbdtDataError(
      `${caller}: the model stores no leaf weights; pass the training matrix (or another background matrix) ` +
        'or leafWeights from leafCover(model, trainMatrix)',
    );
  }
  if (weights.length !== model.trees.length) {
    throw new GbdtDataError(`${caller}: leafWeights has ${weights.length} trees, the model ${model.trees.length}`);
  }
  return model.trees.map((tree, t) => {
    const w = weights[t]!;
    if (w.length !== tree.leafValues.length) {
      throw new GbdtDataError(
        `${caller}: leafWeights[${t}] has ${w.length} leaves, the tree ${tree.leafValues.length}`,
      );
    }
    const out = Float64Array.from(w);
    for (let l = 0; l < out.length; l++) {
      if (!(out[l]! >= 0) || !Number.isFinite(out[l]!)) {
        throw new GbdtDataError(`${caller}: leafWeights[${t}][${l}] must be a finite weight ≥ 0, got ${out[l]}`);
      }
    }
    return out;
  });
}
