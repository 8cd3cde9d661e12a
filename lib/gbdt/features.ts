/**
 * Turns a training matrix into the model's feature spec (borders, one-hot values, CTR tables) and the
 * quantized training columns the tree search reads.
 */
import type { FeatureMatrix } from '../../schemas/matrix';
import type { GbdtModel, ResolvedParams } from '../../schemas/gbdt';
import { DEFAULT_CTRS, ctrValue, indexCategories, orderedBordersCtrs } from './ctr';
import { binarize, numericBorders, uniformBorders } from './quantize';
import type { BinFeature } from './tree';

export interface BuiltFeatures {
  features: GbdtModel['features'];
  floatFeatures: GbdtModel['floatFeatures'];
  oneHotFeatures: GbdtModel['oneHotFeatures'];
  ctrTables: GbdtModel['ctrTables'];
  ctrs: GbdtModel['ctrs'];
  binFeatures: BinFeature[];
}

/**
 * @param perms one permutation per fold (ordered CTRs are computed under each)
 * @param avgFold the fold whose CTR values set the CTR borders
 */
export function buildFeatures(
  train: FeatureMatrix,
  labels: Uint8Array,
  perms: Uint32Array[],
  avgFold: number,
  params: Pick<
    ResolvedParams,
    'one_hot_max_size' | 'ctr_border_count' | 'border_count' | 'feature_border_type' | 'nan_mode'
  >,
): BuiltFeatures {
  const out: BuiltFeatures = {
    features: [],
    floatFeatures: [],
    oneHotFeatures: [],
    ctrTables: [],
    ctrs: [],
    binFeatures: [],
  };
  const n = train.rowCount;
  const bordersPriors = DEFAULT_CTRS.filter((c) => c.type === 'Borders').map((c) => c.prior);

  for (const col of train.categorical) {
    out.features.push({ name: col.name, type: 'categorical' });
    const idx = indexCategories(col, labels);
    const k = idx.values.length;
    if (k <= params.one_hot_max_size) {
      const ref = out.oneHotFeatures.push({ name: col.name, values: idx.values }) - 1;
      out.binFeatures.push({ kind: 'onehot', ref, nBins: k, bins: [Uint16Array.from(idx.valueOf)] });
      continue;
    }
    const table =
      out.ctrTables.push({
        features: [col.name],
        stats: idx.values.map((v, i) => [v, idx.positives[i]!, idx.totals[i]!] as [string, number, number]),
        maxCount: idx.maxCount,
      }) - 1;
    const ordered = perms.map((perm) => orderedBordersCtrs(idx.valueOf, k, labels, perm, bordersPriors));
    for (const ctr of DEFAULT_CTRS) {
      if (ctr.type === 'Borders') {
        const pi = bordersPriors.indexOf(ctr.prior);
        const borders = uniformBorders(ordered[avgFold]![pi]!, params.ctr_border_count);
        const bins = ordered.map((o) => binarize(o[pi]!, borders));
        const ref = out.ctrs.push({ table, type: 'Borders', prior: ctr.prior, borders }) - 1;
        out.binFeatures.push({ kind: 'ctr', ref, nBins: borders.length + 1, bins });
      } else {
        const perValue = new Float64Array(k);
        for (let v = 0; v < k; v++) perValue[v] = ctrValue('Counter', ctr.prior, 0, idx.totals[v]!, idx.maxCount);
        const values = new Float64Array(n);
        for (let i = 0; i < n; i++) values[i] = perValue[idx.valueOf[i]!]!;
        const borders = uniformBorders(values, params.ctr_border_count);
        const ref = out.ctrs.push({ table, type: 'Counter', prior: ctr.prior, borders }) - 1;
        out.binFeatures.push({ kind: 'ctr', ref, nBins: borders.length + 1, bins: [binarize(values, borders)] });
      }
    }
  }
  for (const col of train.numeric) {
    out.features.push({ name: col.name, type: 'numeric' });
    const borders = numericBorders(col.values, params);
    const ref = out.floatFeatures.push({ name: col.name, nanMode: params.nan_mode, borders }) - 1;
    out.binFeatures.push({
      kind: 'float',
      ref,
      nBins: borders.length + 1,
      bins: [binarize(col.values, borders, params.nan_mode)],
    });
  }
  return out;
}
