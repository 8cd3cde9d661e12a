import type { DuckDBConnection } from '@duckdb/node-api';
import type { CategoricalColumn, FeatureMatrix, NumericColumn } from '../../schemas/matrix';
import type { FeatureSpec } from '.';
import { queryColumns, sqlIdent } from '../data/duck';

/** Dictionary-encodes a string column (codes in first-seen order). */
export function encodeCategorical(name: string, values: readonly unknown[]): CategoricalColumn {
  const codes = new Int32Array(values.length);
  const index = new Map<string, number>();
  const dictionary: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = String(values[i]);
    let code = index.get(v);
    if (code === undefined) {
      code = dictionary.length;
      index.set(v, code);
      dictionary.push(v);
    }
    codes[i] = code;
  }
  return { name, codes, dictionary };
}

export function toNumeric(name: string, values: readonly unknown[]): NumericColumn {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = v === null || v === undefined ? Number.NaN : Number(v);
  }
  return { name, values: out };
}

export interface LabelledMatrix {
  matrix: FeatureMatrix;
  labels: Uint8Array;
  folds: Int32Array;
  rowIdx: Float64Array;
}

/** Reads the spec's feature columns (and label/fold) of the rows selected by `where` from a table or Parquet scan. */
export async function readLabelledMatrix(
  conn: DuckDBConnection,
  source: string,
  spec: Pick<FeatureSpec, 'categorical' | 'numeric'>,
  where = 'true',
): Promise<LabelledMatrix> {
  const cols = [...spec.categorical, ...spec.numeric, 'label', 'fold', 'row_idx'].map(sqlIdent).join(', ');
  const data = await queryColumns(conn, `SELECT ${cols} FROM ${source} WHERE ${where} ORDER BY row_idx`);
  const rowCount = data.row_idx?.length ?? 0;
  const matrix: FeatureMatrix = {
    rowCount,
    categorical: spec.categorical.map((c) => encodeCategorical(c, data[c] ?? [])),
    numeric: spec.numeric.map((c) => toNumeric(c, data[c] ?? [])),
  };
  return {
    matrix,
    labels: Uint8Array.from((data.label ?? []) as number[]),
    folds: Int32Array.from((data.fold ?? []) as number[]),
    rowIdx: Float64Array.from((data.row_idx ?? []).map(Number)),
  };
}

/** Rows of a matrix selected by a predicate; dictionaries are shared with the source, so codes stay valid. */
export function selectRows(m: LabelledMatrix, keep: (i: number) => boolean): LabelledMatrix {
  const idx: number[] = [];
  for (let i = 0; i < m.matrix.rowCount; i++) if (keep(i)) idx.push(i);
  const pick = <T extends Float64Array | Int32Array | Uint8Array>(src: T, make: (n: number) => T): T => {
    const out = make(idx.length);
    for (let k = 0; k < idx.length; k++) out[k] = src[idx[k]!]!;
    return out;
  };
  return {
    matrix: {
      rowCount: idx.length,
      categorical: m.matrix.categorical.map((c) => ({
        name: c.name,
        dictionary: c.dictionary,
        codes: pick(c.codes, (n) => new Int32Array(n)),
      })),
      numeric: m.matrix.numeric.map((c) => ({ name: c.name, values: pick(c.values, (n) => new Float64Array(n)) })),
    },
    labels: pick(m.labels, (n) => new Uint8Array(n)),
    folds: pick(m.folds, (n) => new Int32Array(n)),
    rowIdx: pick(m.rowIdx, (n) => new Float64Array(n)),
  };
}
