/**
 * Applying a model's feature spec and trees to a FeatureMatrix. Columns are matched by name and categorical
 * values by string, so a scoring matrix may carry its own dictionaries.
 */
import type { FeatureMatrix } from '../../schemas/matrix';
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
 * What the chunks of one matrix can share when they are prepared one after another (`preparedChunks`): each CTR's
 * value per stats row of its table, and per table the value id of every dictionary code (slices of a matrix keep
 * its dictionaries). Both are as large as the tables and dictionaries, not the chunk, so recomputing them per chunk
 * would cost more than the chunk itself (at ten million rows, hours).
 */
interface SharedPreparation {
  ctrValues: Map<number, { perValue: Float64Array; unseen: number }>;
  codeIds: Map<number, Int32Array[]>;
}

/** Rows [from, to) of a matrix as views (no copy); dictionaries are shared. */
export function sliceMatrix(matrix: FeatureMatrix, from: number, to: number): FeatureMatrix {
  return {
    rowCount: to - from,
    categorical: matrix.categorical.map((c) => ({ ...c, codes: c.codes.subarray(from, to) })),
    numeric: matrix.numeric.map((c) => ({ ...c, values: c.values.subarray(from, to) })),
  };
}

/** Rows are prepared in blocks of this many so the prepared CTR columns of a large matrix stay small. */
export const CHUNK_ROWS = 16_384;

/** `matrix` prepared (every feature of `spec`) in consecutive blocks of `chunkRows` rows; `from` is a block's first row. */
export function* preparedChunks(
  spec: FeatureSpec,
  matrix: FeatureMatrix,
  chunkRows = CHUNK_ROWS,
): Generator<{ from: number; prepared: PreparedMatrix }> {
  const shared: SharedPreparation = { ctrValues: new Map(), codeIds: new Map() };
  const n = matrix.rowCount;
  for (let from = 0; from < n; from += chunkRows) {
    const to = Math.min(from + chunkRows, n);
    const chunk = from === 0 && to === n ? matrix : sliceMatrix(matrix, from, to);
    yield { from, prepared: prepareMatrix(spec, chunk, undefined, shared) };
  }
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
  shared?: SharedPreparation,
): void {
  const n = prepared.rowCount;
  for (const ci of ctrIndices ?? spec.ctrs.keys()) {
    if (prepared.ctr[ci]) continue;
    const c = spec.ctrs[ci]!;
    const t = spec.ctrTables[c.table]!;
    let rowsOf = prepared.tableRows[c.table];
    if (!rowsOf) {
      let ids = shared?.codeIds.get(c.table);
      if (!ids) {
        ids = codeIds(matrix, t);
        shared?.codeIds.set(c.table, ids);
      }
      rowsOf = tableRows(matrix, t, ids);
      prepared.tableRows[c.table] = rowsOf;
    }
    let values = shared?.ctrValues.get(ci);
    if (!values) {
      const perValue = new Float64Array(t.positives.length);
      for (let k = 0; k < perValue.length; k++)
        perValue[k] = ctrValue(c.type, c.prior, t.positives[k]!, t.totals[k]!, t.maxCount);
      values = { perValue, unseen: ctrValue(c.type, c.prior, 0, 0, t.maxCount) };
      shared?.ctrValues.set(ci, values);
    }
    const { perValue, unseen } = values;
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

/**
 * A CTR table's keys as numbers. Level 0 ids are the first feature's values; for j ≥ 1, the prefix of j + 1
 * features gets the id `next[j].get(id of the j-prefix · radix[j] + value id of feature j)` (ids dense per level,
 * radix[j] = the number of feature j's values); `rowOf` maps the last level's ids to stats rows. Scoring a row is
 * then a few Map lookups on small integers (no heap allocation while they stay below 2^30) instead of joining its
 * values into a string key.
 */
interface TableIndex {
  /** Per feature position: value → id. */
  valueIds: Map<string, number>[];
  /** Per level j ≥ 1 (index 0 unused): (prefix id, value id) → prefix id. */
  next: Map<number, number>[];
  radix: number[];
  rowOf: Int32Array;
}

/**
 * Indexes are cached by the table's `stats` array: a model's tables never change, and the trainer replaces (never
 * edits) a table's stats when it materializes them, so a cached index always matches its array.
 */
const tableIndexes = new WeakMap<GbdtModel['ctrTables'][number]['keys'], TableIndex>();

function intern<K>(m: Map<K, number>, key: K): number {
  let id = m.get(key);
  if (id === undefined) m.set(key, (id = m.size));
  return id;
}

function tableIndex(table: GbdtModel['ctrTables'][number]): TableIndex {
  const cached = tableIndexes.get(table.keys);
  if (cached) return cached;
  const width = table.features.length;
  const valueIds = table.values.map((values) => new Map(values.map((v, i) => [v, i] as const)));
  const next = table.features.map(() => new Map<number, number>());
  const radix = table.values.map((values) => values.length);
  const rows: number[] = [];
  for (let r = 0; r < table.positives.length; r++) {
    let id = table.keys[r * width]!;
    for (let j = 1; j < width; j++) id = intern(next[j]!, id * radix[j]! + table.keys[r * width + j]!);
    rows[id] = r;
  }
  const rowOf = new Int32Array(rows.length).fill(-1);
  rows.forEach((r, id) => (rowOf[id] = r));
  const index = { valueIds, next, radix, rowOf };
  tableIndexes.set(table.keys, index);
  return index;
}

/** Per feature of `table`: the matrix's dictionary code → the value's id at that position (-1: never seen there). */
function codeIds(matrix: FeatureMatrix, table: GbdtModel['ctrTables'][number]): Int32Array[] {
  const { valueIds } = tableIndex(table);
  return table.features.map((name, j) =>
    Int32Array.from(column(matrix, 'categorical', name).dictionary, (v) => valueIds[j]!.get(v) ?? -1),
  );
}

/**
 * Per row: the stats row of its value (or combination of values) in `table`, or -1 when unseen. `ids` is
 * `codeIds(matrix, table)`.
 */
function tableRows(matrix: FeatureMatrix, table: GbdtModel['ctrTables'][number], ids: Int32Array[]): Int32Array {
  const { next, radix, rowOf } = tableIndex(table);
  const cols = table.features.map((name) => column(matrix, 'categorical', name));
  const out = new Int32Array(matrix.rowCount);
  for (let i = 0; i < out.length; i++) {
    let id = ids[0]![cols[0]!.codes[i]!] ?? -1;
    for (let j = 1; j < cols.length && id >= 0; j++) {
      const v = ids[j]![cols[j]!.codes[i]!] ?? -1;
      id = v < 0 ? -1 : (next[j]!.get(id * radix[j]! + v) ?? -1);
    }
    out[i] = id >= 0 ? (rowOf[id] ?? -1) : -1;
  }
  return out;
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

/** Checks every model feature is present with the right type; throws GbdtDataError naming a missing column. */
export function checkColumns(spec: Pick<GbdtModel, 'features'>, matrix: FeatureMatrix): void {
  for (const f of spec.features) column(matrix, f.type === 'numeric' ? 'numeric' : 'categorical', f.name);
}

/** The per-row split inputs of `matrix`: every float and one-hot feature, and the CTRs `ctrIndices` (default: all). */
export function prepareMatrix(
  spec: FeatureSpec,
  matrix: FeatureMatrix,
  ctrIndices?: Iterable<number>,
  shared?: SharedPreparation,
): PreparedMatrix {
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
  extendPrepared(spec, prepared, matrix, ctrIndices, shared);
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
