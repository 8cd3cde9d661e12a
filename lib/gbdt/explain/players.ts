/** Which input columns each split of a model reads: the players of the explanation games. */
import type { GbdtModel } from '../../../schemas/gbdt';
import { GbdtModelError } from '../errors';

/**
 * Per tree, per level (split d): the indices into `model.features` of the input columns the split depends on,
 * ascending and distinct. A float or one-hot split reads one column; a CTR split reads its table's categorical
 * columns (several for a combination).
 * @throws GbdtModelError when a split refers to a feature, CTR or table the model does not have
 */
export function splitColumns(model: GbdtModel): number[][][] {
  const index = new Map(model.features.map((f, i) => [f.name, i] as const));
  const col = (name: string, what: string): number => {
    const i = index.get(name);
    if (i === undefined) throw new GbdtModelError(`${what} names '${name}', which is not a model feature`);
    return i;
  };
  const floatCols = model.floatFeatures.map((f, i) => [col(f.name, `floatFeatures[${i}]`)]);
  const oneHotCols = model.oneHotFeatures.map((f, i) => [col(f.name, `oneHotFeatures[${i}]`)]);
  const ctrCols = model.ctrs.map((c, i) => {
    const table = model.ctrTables[c.table];
    if (!table) throw new GbdtModelError(`ctrs[${i}] refers to missing ctrTables[${c.table}]`);
    const cols = table.features.map((name) => col(name, `ctrTables[${c.table}]`));
    return [...new Set(cols)].sort((a, b) => a - b);
  });
  return model.trees.map((tree, t) =>
    tree.splits.map((s, d) => {
      const cols =
        s.type === 'float' ? floatCols[s.feature] : s.type === 'onehot' ? oneHotCols[s.feature] : ctrCols[s.ctr];
      if (!cols) throw new GbdtModelError(`trees[${t}].splits[${d}] refers to a missing ${s.type} feature`);
      return cols;
    }),
  );
}
