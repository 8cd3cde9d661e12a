import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** A short-lived in-memory DuckDB: each activity opens its own, reads CSV/Parquet files and writes Parquet. */
export async function withDuckDb<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  try {
    return await fn(conn);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** A SQL string literal with quotes escaped (paths and sentinel values are interpolated this way). */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A quoted SQL identifier. */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

type Plain = string | number | boolean | null;

function toPlain(value: unknown): Plain {
  if (typeof value === 'bigint') return Number(value);
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return String(value);
}

/** Runs a query and returns its rows as plain objects (BIGINT as number). Meant for small results. */
export async function queryRows(conn: DuckDBConnection, sql: string): Promise<Record<string, Plain>[]> {
  const reader = await conn.runAndReadAll(sql);
  return reader.getRowObjectsJS().map((row) => {
    const out: Record<string, Plain> = {};
    for (const [k, v] of Object.entries(row)) out[k] = toPlain(v);
    return out;
  });
}

/** Runs a query and returns its columns by name, for bulk numeric/string reads. */
export async function queryColumns(conn: DuckDBConnection, sql: string): Promise<Record<string, unknown[]>> {
  const reader = await conn.runAndReadAll(sql);
  return reader.getColumnsObjectJS() as Record<string, unknown[]>;
}

/** Creates table `name` (row_idx BIGINT, score DOUBLE) holding one score per row index. */
export async function createScoresTable(
  conn: DuckDBConnection,
  name: string,
  rowIdx: ArrayLike<number>,
  scores: ArrayLike<number>,
): Promise<void> {
  await conn.run(`CREATE TABLE ${sqlIdent(name)} (row_idx BIGINT, score DOUBLE)`);
  const appender = await conn.createAppender(name);
  for (let i = 0; i < scores.length; i++) {
    appender.appendBigInt(BigInt(rowIdx[i]!));
    appender.appendDouble(scores[i]!);
    appender.endRow();
  }
  appender.closeSync();
}
