import type { DuckDBConnection } from '@duckdb/node-api';
import type { AccessPermConfig } from '../../schemas/config';
import { queryRows, sqlIdent, sqlString } from '../data/duck';
import { fileExists, rawPaths } from '../data/raw';
import { CATEGORICAL_FEATURES, NUMERIC_FEATURES } from '../features';

export interface ColumnAudit {
  column: string;
  kind: 'categorical' | 'numeric';
  /** Distinct values (categoricals, the sentinel included). */
  cardinality: number | null;
  /** Rows with the sentinel (categoricals) or NaN/NULL (numerics). */
  missingShare: number;
}

export interface RawTableAudit {
  table: string;
  rows: number;
  /** Share of NULL/empty values per column. */
  missing: Record<string, number>;
}

export interface DataAudit {
  rows: number;
  users: number;
  apps: number;
  positiveRate: number;
  /** Machine accounts: share of requests and their approval rate (seed: ~2 % of requests, ~8.5 % approved). */
  machine: { share: number; approvalRate: number | null };
  /** Raw metadata tables, when the input files are still where the config says. */
  raw: RawTableAudit[];
  /** The engineered feature table the model saw. */
  features: ColumnAudit[];
}

async function rawAudit(conn: DuckDBConnection, table: string, path: string): Promise<RawTableAudit | null> {
  if (!(await fileExists(path))) return null;
  const src = `read_csv(${sqlString(path)}, header = true, all_varchar = true)`;
  const cols = await queryRows(conn, `SELECT column_name FROM (DESCRIBE SELECT * FROM ${src})`);
  const names = cols.map((c) => String(c.column_name));
  const parts = names.map(
    (c) => `avg(CASE WHEN ${sqlIdent(c)} IS NULL OR trim(${sqlIdent(c)}) = '' THEN 1 ELSE 0 END) AS ${sqlIdent(c)}`,
  );
  const [r] = await queryRows(conn, `SELECT count(*) AS __rows, ${parts.join(', ')} FROM ${src}`);
  const missing: Record<string, number> = {};
  for (const c of names) missing[c] = Number(r?.[c] ?? 0);
  return { table, rows: Number(r?.__rows ?? 0), missing };
}

/**
 * The data audit of the report (row counts, class balance, missingness, cardinalities), computed in DuckDB
 * from the run's feature table and, when present, the raw metadata files.
 */
export async function dataAudit(
  conn: DuckDBConnection,
  featuresParquet: string,
  config: AccessPermConfig,
): Promise<DataAudit> {
  const f = `read_parquet(${sqlString(featuresParquet)})`;
  const sentinel = sqlString(config.features.sentinel);
  const [base] = await queryRows(
    conn,
    `SELECT count(*) AS n, count(DISTINCT userId) AS users, count(DISTINCT appId) AS apps, avg(label) AS pos,
       avg(CASE WHEN isMachine = 1 THEN 1 ELSE 0 END) AS machine,
       avg(label) FILTER (WHERE isMachine = 1) AS machine_pos FROM ${f}`,
  );
  const catParts = CATEGORICAL_FEATURES.map(
    (c) =>
      `count(DISTINCT ${sqlIdent(c)}) AS ${sqlIdent(`${c}__card`)}, avg(CASE WHEN ${sqlIdent(c)} = ${sentinel} THEN 1 ELSE 0 END) AS ${sqlIdent(`${c}__miss`)}`,
  );
  const numParts = NUMERIC_FEATURES.map(
    (c) =>
      `avg(CASE WHEN ${sqlIdent(c)} IS NULL OR isnan(${sqlIdent(c)}) THEN 1 ELSE 0 END) AS ${sqlIdent(`${c}__miss`)}`,
  );
  const [cols] = await queryRows(conn, `SELECT ${[...catParts, ...numParts].join(', ')} FROM ${f}`);
  const features: ColumnAudit[] = [
    ...CATEGORICAL_FEATURES.map((c): ColumnAudit => ({
      column: c,
      kind: 'categorical',
      cardinality: Number(cols?.[`${c}__card`] ?? 0),
      missingShare: Number(cols?.[`${c}__miss`] ?? 0),
    })),
    ...NUMERIC_FEATURES.map((c): ColumnAudit => ({
      column: c,
      kind: 'numeric',
      cardinality: null,
      missingShare: Number(cols?.[`${c}__miss`] ?? 0),
    })),
  ];
  const paths = rawPaths(config);
  const raw: RawTableAudit[] = [];
  for (const table of ['users', 'apps', 'interactions'] as const) {
    const audit = await rawAudit(conn, table, paths[table]).catch(() => null);
    if (audit) raw.push(audit);
  }
  const rows = Number(base?.n ?? 0);
  return {
    rows,
    users: Number(base?.users ?? 0),
    apps: Number(base?.apps ?? 0),
    positiveRate: Number(base?.pos ?? 0),
    machine: {
      share: Number(base?.machine ?? 0),
      approvalRate: base?.machine_pos === null || base?.machine_pos === undefined ? null : Number(base.machine_pos),
    },
    raw,
    features,
  };
}
