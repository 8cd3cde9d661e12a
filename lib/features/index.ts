import type { DuckDBConnection } from '@duckdb/node-api';
import type { AccessPermConfig, BackfillColumn, FlatDataConfig } from '../../schemas/config';
import { sqlIdent, sqlString } from '../data/duck';
import { FLAT_TABLE, flatLabelSql } from '../data/raw';

/** Model inputs of the seed's feature engineering (seed-2): userId is the CV group and never a feature. */
export const CATEGORICAL_FEATURES = [
  'appId',
  'managerId',
  'department_filled',
  'office_filled',
  'category',
  'manager_department',
  'manager_office',
] as const;
export const NUMERIC_FEATURES = ['isMachine', 'seniority', 'manager_seniority_diff'] as const;
export const FEATURE_COLUMNS = [...CATEGORICAL_FEATURES, ...NUMERIC_FEATURES] as const;

/**
 * What a run's feature table holds, derived from its config: the model inputs by kind, the CV group column (never
 * a feature), the id columns copied into the OOF predictions and the report's segment dimensions. Every step
 * after feature engineering (training, evaluation, audit, binning) reads the table through this.
 */
export interface FeatureSpec {
  categorical: readonly string[];
  numeric: readonly string[];
  /** GroupKFold key; null folds rows by a seeded stratified KFold. */
  group: string | null;
  ids: readonly string[];
  segments: readonly string[];
}

/** The seed's feature table: GroupKFold by userId; segments of seed-2 (apps, departments, manager departments). */
export const SEED_FEATURE_SPEC: FeatureSpec = {
  categorical: CATEGORICAL_FEATURES,
  numeric: NUMERIC_FEATURES,
  group: 'userId',
  ids: ['userId', 'appId'],
  segments: ['appId', 'department_filled', 'manager_department'],
};

/** The feature spec of a config: the seed's, or the flat table's declared columns (segments: its categoricals). */
export function featureSpec(config: AccessPermConfig): FeatureSpec {
  const d = config.data;
  if (d.mode === 'seed') return SEED_FEATURE_SPEC;
  const ids = [...new Set([...(d.group ? [d.group] : []), ...d.id_columns])];
  return { categorical: d.categorical, numeric: d.numeric, group: d.group ?? null, ids, segments: d.categorical };
}

/** Every model input of a spec, categoricals first (the trainer's column order). */
export const featureColumns = (spec: FeatureSpec): string[] => [...spec.categorical, ...spec.numeric];

export interface FeatureOptions {
  sentinel: string;
  /** `features.manager_backfill` as the config says it (see {@link backfilledColumns}). */
  managerBackfill: boolean | readonly BackfillColumn[];
}

/** The user fields a `manager_backfill` setting fills: `true` is department and office (what it meant first). */
export function backfilledColumns(setting: FeatureOptions['managerBackfill']): readonly BackfillColumn[] {
  if (setting === true) return ['department', 'officeLocation'];
  return setting === false ? [] : setting;
}

/**
 * SQL selecting the engineered features for each row of `requests` (userId, appId[, permission]),
 * joined to `users` and `apps`. The one code path for training and scoring.
 * - missing categoricals become the sentinel, so missingness is learnable;
 * - department, office and seniority are backfilled from the manager (those `managerBackfill` names) only where the
 *   manager's value is known;
 * - manager_seniority_diff is the user's own seniority minus the manager's: NULL (NaN for the model) where there is
 *   no manager or the user's is missing, so a backfilled seniority never makes a fabricated 0.
 */
export function featureSelectSql(requests: string, options: FeatureOptions, withLabel: boolean): string {
  const s = sqlString(options.sentinel);
  const backfill = backfilledColumns(options.managerBackfill);
  const own = (column: BackfillColumn, cast = (c: string) => c): string =>
    backfill.includes(column) ? `coalesce(${cast(`u.${column}`)}, ${cast(`m.${column}`)})` : cast(`u.${column}`);
  const dept = own('department');
  const office = own('officeLocation');
  const seniority = own('seniority', (c) => `TRY_CAST(${c} AS DOUBLE)`);
  return `
    SELECT
      r.rowid AS row_idx,
      trim(r.userId) AS userId,
      trim(r.appId) AS appId,
      coalesce(u.managerId, ${s}) AS managerId,
      coalesce(${dept}, ${s}) AS department_filled,
      coalesce(${office}, ${s}) AS office_filled,
      coalesce(a.category, ${s}) AS category,
      coalesce(m.department, ${s}) AS manager_department,
      coalesce(m.officeLocation, ${s}) AS manager_office,
      TRY_CAST(u.isMachine AS DOUBLE) AS isMachine,
      ${seniority} AS seniority,
      TRY_CAST(u.seniority AS DOUBLE) - TRY_CAST(m.seniority AS DOUBLE) AS manager_seniority_diff
      ${withLabel ? ', CAST(trim(r.permission) AS UTINYINT) AS label' : ''}
    FROM ${sqlIdent(requests)} r
    LEFT JOIN users u ON u.userId = trim(r.userId)
    LEFT JOIN users m ON m.userId = u.managerId
    LEFT JOIN apps a ON a.appId = trim(r.appId)
    ORDER BY r.rowid`;
}

/** Builds the feature table `features` from loaded raw tables, with the label when `requests` is labelled. */
export async function buildFeatureTable(
  conn: DuckDBConnection,
  requests: string,
  options: FeatureOptions,
  withLabel: boolean,
): Promise<void> {
  await conn.run(`CREATE OR REPLACE TABLE features AS ${featureSelectSql(requests, options, withLabel)}`);
}

/**
 * SQL expressions of a flat table's model inputs over the row alias `r`: categoricals trimmed, missing → sentinel
 * (integer-looking codes stay strings: the CSV is read as text); numerics TRY_CAST to DOUBLE (unparseable → NULL,
 * NaN for the model). The one definition shared by training, the hold-out test file and batch scoring.
 */
export function flatInputsSql(data: FlatDataConfig, sentinel: string, alias = 'r'): string[] {
  const s = sqlString(sentinel);
  const col = (c: string) => `${alias}.${sqlIdent(c)}`;
  return [
    ...data.categorical.map((c) => `coalesce(nullif(trim(${col(c)}), ''), ${s}) AS ${sqlIdent(c)}`),
    ...data.numeric.map((c) => `TRY_CAST(trim(${col(c)}) AS DOUBLE) AS ${sqlIdent(c)}`),
  ];
}

/**
 * SQL selecting the declared columns of a flat table: the model inputs (flatInputsSql), the group and id columns
 * as trimmed strings and the label as 0/1 (flatLabelSql: mapped from `label_positive` when declared).
 */
export function flatFeatureSelectSql(table: string, data: FlatDataConfig, sentinel: string): string {
  const s = sqlString(sentinel);
  const categorical = new Set(data.categorical);
  const carried = [...new Set([...(data.group ? [data.group] : []), ...data.id_columns])].filter(
    (c) => !categorical.has(c) && !data.numeric.includes(c),
  );
  const parts = [
    'r.rowid AS row_idx',
    ...carried.map((c) => `coalesce(nullif(trim(r.${sqlIdent(c)}), ''), ${s}) AS ${sqlIdent(c)}`),
    ...flatInputsSql(data, sentinel),
    `${flatLabelSql(data)} AS label`,
  ];
  return `SELECT ${parts.join(', ')} FROM ${sqlIdent(table)} r ORDER BY r.rowid`;
}

/** Builds the labelled feature table `features` of a run from its loaded input tables (see loadInputTables). */
export async function buildTrainingFeatureTable(conn: DuckDBConnection, config: AccessPermConfig): Promise<void> {
  if (config.data.mode === 'flat') {
    await conn.run(
      `CREATE OR REPLACE TABLE features AS ${flatFeatureSelectSql(FLAT_TABLE, config.data, config.features.sentinel)}`,
    );
    return;
  }
  await buildFeatureTable(
    conn,
    'interactions',
    { sentinel: config.features.sentinel, managerBackfill: config.features.manager_backfill },
    true,
  );
}
