/**
 * Applying a model's feature spec and trees to a FeatureMatrix. Columns are matched by name and categorical
 * values by string, so a scoring matrix may carry its own dictionaries.
 */
import type { FeatureMatrix } from '../../schemas/matrix';
import { COMBINATION_SEPARATOR } from '../../schemas/gbdt';
import type { GbdtModel } from '../../schemas/gbdt';
import { GbdtDataError } from './errors';
import { ctrValue } from './ctr';
import { nanValue } from './quantize';

type FeatureSpec = Pick<GbdtModel, 'features' | 'floatFeatures' | 'oneHotFeatures' | 'ctrTables' | 'ctrs'>;
type Tree = GbdtModel['trees'][number];

/** The per-row values splits compare against. */
export interface PreparedMatrix {
  rowCount: number;
  /** Per float feature: the value, NaN replaced by -∞ ('Min') or +∞ ('Max'). */
  float: Float64Array[];
  /** Per one-hot feature: index into its `values`, or -1. */
  oneHot: Int32Array[];
  /** Per one-hot feature: value → index into its `values`. */
  oneHotIndex: Map<string, number>[];
  /** Per CTR feature: its value (statistics over all training rows). */
  ctr: Float64Array[];
  /** Per CTR table (computed on demand): each row's index into the table's stats, or -1. */
  tableRows: (Int32Array | undefined)[];
}

/**
 * Computes the CTR columns `ctrIndices` (default: all) that `prepared` lacks — e.g. combinations added to `spec`
 * after `prepared` was made.
 */
export function extendPrepared(
  spec: FeatureSpec,
  prepared: PreparedMatrix,
  matrix: FeatureMatrix,
  ctrIndices?: Iterable<number>,
): void {
  const n = prepared.rowCount;
  for (const ci of ctrIndices ?? spec.ctrs.keys()) {
    if (prepared.ctr[ci]) continue;
    const c = spec.ctrs[ci]!;
    const t = spec.ctrTables[c.table]!;
    let rowsOf = prepared.tableRows[c.table];
    if (!rowsOf) {
      const keys = t.stats.map((s) => s[0]);
      rowsOf =
        t.features.length === 1 ? lookup(matrix, t.features[0]!, keys) : lookupCombination(matrix, t.features, keys);
      prepared.tableRows[c.table] = rowsOf;
    }
    const perValue = new Float64Array(t.stats.length);
    for (let k = 0; k < t.stats.length; k++) {
      const s = t.stats[k]!;
      perValue[k] = ctrValue(c.type, c.prior, s[1], s[2], t.maxCount);
    }
    const unseen = ctrValue(c.type, c.prior, 0, 0, t.maxCount);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const k = rowsOf[i]!;
      out[i] = k >= 0 ? perValue[k]! : unseen;
    }
    prepared.ctr[ci] = out;
  }
}

function column<K extends 'categorical' | 'numeric'>(
  matrix: FeatureMatrix,
  kind: K,
  name: string,
): FeatureMatrix[K][number] {
  const found = (matrix[kind] as FeatureMatrix[K]).find((c) => c.name === name);
  if (!found) {
    const other = kind === 'categorical' ? matrix.numeric : matrix.categorical;
    const hint = other.some((c) => c.name === name)
      ? ` (it is present as a ${kind === 'categorical' ? 'numeric' : 'categorical'} column)`
      : '';
    throw new GbdtDataError(`the matrix has no ${kind} column '${name}' that the model needs${hint}`);
  }
  const len = 'codes' in found ? found.codes.length : found.values.length;
  if (len !== matrix.rowCount) {
    throw new GbdtDataError(`column '${name}' has ${len} rows but the matrix has rowCount ${matrix.rowCount}`);
  }
  return found;
}

/** Per row: index of the row's value in `values`, or -1. */
function lookup(matrix: FeatureMatrix, name: string, values: ReadonlyArray<string>): Int32Array {
  const col = column(matrix, 'categorical', name);
  const pos = new Map<string, number>();
  values.forEach((v, i) => pos.set(v, i));
  const codeMap = new Int32Array(col.dictionary.length);
  for (let c = 0; c < col.dictionary.length; c++) codeMap[c] = pos.get(col.dictionary[c]!) ?? -1;
  const out = new Int32Array(matrix.rowCount);
  for (let i = 0; i < out.length; i++) {
    const code = col.codes[i]!;
    out[i] = code >= 0 && code < codeMap.length ? codeMap[code]! : -1;
  }
  return out;
}

/** Per row: index of the row's combined value (values joined by COMBINATION_SEPARATOR) in `keys`, or -1. */
function lookupCombination(matrix: FeatureMatrix, names: string[], keys: ReadonlyArray<string>): Int32Array {
  const cols = names.map((name) => column(matrix, 'categorical', name));
  const pos = new Map<string, number>();
  keys.forEach((k, i) => pos.set(k, i));
  const out = new Int32Array(matrix.rowCount);
  const parts = new Array<string>(cols.length);
  for (let i = 0; i < out.length; i++) {
    for (let c = 0; c < cols.length; c++) parts[c] = cols[c]!.dictionary[cols[c]!.codes[i]!] ?? '';
    out[i] = pos.get(parts.join(COMBINATION_SEPARATOR)) ?? -1;
  }
  return out;
}

/** Checks every model feature is present with the right type; throws GbdtDataError naming a missing column. */
export function checkColumns(spec: Pick<GbdtModel, 'features'>, matrix: FeatureMatrix): void {
  for (const f of spec.features) column(matrix, f.type === 'numeric' ? 'numeric' : 'categorical', f.name);
}

export function prepareMatrix(spec: FeatureSpec, matrix: FeatureMatrix): PreparedMatrix {
  checkColumns(spec, matrix);
  const n = matrix.rowCount;
  const float = spec.floatFeatures.map((ff) => {
    const src = column(matrix, 'numeric', ff.name).values;
    const nanV = nanValue(ff.nanMode);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = src[i]!;
      out[i] = Number.isNaN(v) ? nanV : v;
    }
    return out;
  });
  const oneHot = spec.oneHotFeatures.map((oh) => lookup(matrix, oh.name, oh.values));
  const prepared: PreparedMatrix = { rowCount: n, float, oneHot, oneHotIndex: [], ctr: [], tableRows: [] };
  extendPrepared(spec, prepared, matrix);
  prepared.oneHotIndex = spec.oneHotFeatures.map((oh) => new Map(oh.values.map((v, i) => [v, i] as const)));
  return prepared;
}

/** Leaf index of every row under one tree. */
export function treeLeaves(tree: Tree, prepared: PreparedMatrix, out: Uint32Array): void {
  const n = prepared.rowCount;
  out.fill(0, 0, n);
  tree.splits.forEach((s, d) => {
    const bit = 1 << d;
    if (s.type === 'onehot') {
      const col = prepared.oneHot[s.feature]!;
      const target = prepared.oneHotIndex[s.feature]?.get(s.value) ?? -2;
      for (let i = 0; i < n; i++) if (col[i] === target) out[i] = out[i]! | bit;
      return;
    }
    const col = s.type === 'float' ? prepared.float[s.feature]! : prepared.ctr[s.ctr]!;
    const border = s.border;
    for (let i = 0; i < n; i++) if (col[i]! > border) out[i] = out[i]! | bit;
  });
}

/** Adds a tree's leaf values to `raw`. */
export function addTree(tree: Tree, prepared: PreparedMatrix, raw: Float64Array, scratch: Uint32Array): void {
  treeLeaves(tree, prepared, scratch);
  const lv = tree.leafValues;
  for (let i = 0; i < prepared.rowCount; i++) raw[i]! += lv[scratch[i]!]!;
}
