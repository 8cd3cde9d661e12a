import type { DuckDBConnection } from '@duckdb/node-api';
import type { AccessPermConfig } from '../../schemas/config';
import { queryRows, sqlIdent, sqlString } from '../data/duck';
import { fileExists, inputFiles } from '../data/raw';
import { featureSpec } from '../features';

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
  /** Seed mode: distinct users and apps. */
  users?: number;
  apps?: number;
  /** Flat mode with a group column: distinct groups. */
  groups?: { column: string; count: number };
  positiveRate: number;
  /** Seed mode: machine accounts' share of requests and approval rate (seed: ~2 % of requests, ~8.5 % approved). */
  machine?: { share: number; approvalRate: number | null };
  /** Raw input tables, when the input files are still where the config says. */
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
 * from the run's feature table and, when present, the raw input files (the seed's tables or the flat table).
 */
export async function dataAudit(
  conn: DuckDBConnection,
  featuresParquet: string,
  config: AccessPermConfig,
): Promise<DataAudit> {
  const f = `read_parquet(${sqlString(featuresParquet)})`;
  const spec = featureSpec(config);
  const sentinel = sqlString(config.features.sentinel);
  const catParts = spec.categorical.map(
    (c) =>
      `count(DISTINCT ${sqlIdent(c)}) AS ${sqlIdent(`${c}__card`)}, avg(CASE WHEN ${sqlIdent(c)} = ${sentinel} THEN 1 ELSE 0 END) AS ${sqlIdent(`${c}__miss`)}`,
  );
  const numParts = spec.numeric.map(
    (c) =>
      `avg(CASE WHEN ${sqlIdent(c)} IS NULL OR isnan(${sqlIdent(c)}) THEN 1 ELSE 0 END) AS ${sqlIdent(`${c}__miss`)}`,
  );
  const [cols] = await queryRows(conn, `SELECT ${[...catParts, ...numParts].join(', ')} FROM ${f}`);
  const features: ColumnAudit[] = [
    ...spec.categorical.map((c): ColumnAudit => ({
      column: c,
      kind: 'categorical',
      cardinality: Number(cols?.[`${c}__card`] ?? 0),
      missingShare: Number(cols?.[`${c}__miss`] ?? 0),
    })),
    ...spec.numeric.map((c): ColumnAudit => ({
      column: c,
      kind: 'numeric',
      cardinality: null,
      missingShare: Number(cols?.[`${c}__miss`] ?? 0),
    })),
  ];
  const raw: RawTableAudit[] = [];
  for (const [table, path] of Object.entries(inputFiles(config))) {
    const audit = await rawAudit(conn, table, path).catch(() => null);
    if (audit) raw.push(audit);
  }
  if (config.data.mode === 'flat') {
    const g = spec.group ? sqlIdent(spec.group) : null;
    const [base] = await queryRows(
      conn,
      `SELECT count(*) AS n, avg(label) AS pos${g ? `, count(DISTINCT ${g}) AS groups` : ''} FROM ${f}`,
    );
    return {
      rows: Number(base?.n ?? 0),
      ...(spec.group ? { groups: { column: spec.group, count: Number(base?.groups ?? 0) } } : {}),
      positiveRate: Number(base?.pos ?? 0),
      raw,
      features,
    };
  }
  const [base] = await queryRows(
    conn,
    `SELECT count(*) AS n, count(DISTINCT userId) AS users, count(DISTINCT appId) AS apps, avg(label) AS pos,
       avg(CASE WHEN isMachine = 1 THEN 1 ELSE 0 END) AS machine,
       avg(label) FILTER (WHERE isMachine = 1) AS machine_pos FROM ${f}`,
  );
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
