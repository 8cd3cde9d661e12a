import { extname } from 'node:path';
import { queryColumns, queryRows, sqlIdent, sqlString, withDuckDb } from '../data/duck';
import type { DriftSpec, DriftTable } from './drift';

/** A window read from a file, with the spec narrowed to the columns the file has. */
export interface LoadedWindow {
  table: DriftTable;
  spec: DriftSpec;
  rows: number;
}

function source(path: string): string {
  const ext = extname(path).toLowerCase();
  if (ext === '.parquet') return `read_parquet(${sqlString(path)})`;
  if (ext === '.csv') return `read_csv(${sqlString(path)}, header = true)`;
  throw new RangeError(`readDriftWindow: expected a .parquet or .csv file, got ${path}`);
}

/**
 * Reads the spec's columns of a Parquet/CSV window with DuckDB: numerics as Float64Array (NULL → NaN),
 * categoricals as strings (NULL stays null). A feature column missing from the file is an error; a missing
 * target or prediction column is dropped from the returned spec.
 */
export async function readDriftWindow(path: string, spec: DriftSpec): Promise<LoadedWindow> {
  return withDuckDb(async (conn) => {
    const from = source(path);
    const present = new Set(
      (await queryRows(conn, `DESCRIBE SELECT * FROM ${from}`)).map((r) => String(r.column_name)),
    );
    const missing = [...spec.numeric, ...spec.categorical].filter((c) => !present.has(c));
    if (missing.length) throw new RangeError(`readDriftWindow: ${path} lacks columns ${missing.join(', ')}`);
    const out: DriftSpec = {
      numeric: spec.numeric,
      categorical: spec.categorical,
      ...(spec.target !== undefined && present.has(spec.target) ? { target: spec.target } : {}),
      ...(spec.prediction !== undefined && present.has(spec.prediction) ? { prediction: spec.prediction } : {}),
    };
    const numeric = [...out.numeric, ...(out.target ? [out.target] : []), ...(out.prediction ? [out.prediction] : [])];
    const select = [
      ...numeric.map((c) => `TRY_CAST(${sqlIdent(c)} AS DOUBLE) AS ${sqlIdent(c)}`),
      ...out.categorical.map((c) => `CAST(${sqlIdent(c)} AS VARCHAR) AS ${sqlIdent(c)}`),
    ];
    const cols = await queryColumns(conn, `SELECT ${select.join(', ')} FROM ${from}`);
    const table: Record<string, DriftTable[string]> = {};
    let rows = 0;
    for (const c of numeric) {
      const raw = cols[c] ?? [];
      table[c] = Float64Array.from(raw, (v) => (v === null || v === undefined ? Number.NaN : Number(v)));
      rows = raw.length;
    }
    for (const c of out.categorical) {
      const raw = cols[c] ?? [];
      table[c] = raw.map((v) => (v === null || v === undefined ? null : String(v)));
      rows = raw.length;
    }
    return { table, spec: out, rows };
  });
}
