import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from './data/duck';

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

export interface FeatureOptions {
  sentinel: string;
  managerBackfill: boolean;
}

/**
 * SQL selecting the engineered features for each row of `requests` (userId, appId[, permission]),
 * joined to `users` and `apps`. The one code path for training and scoring.
 * - missing categoricals become the sentinel, so missingness is learnable;
 * - department/office are backfilled from the manager only where the manager's value is known;
 * - manager_seniority_diff stays NULL where there is no manager (NaN for the model).
 */
export function featureSelectSql(requests: string, options: FeatureOptions, withLabel: boolean): string {
  const s = sqlString(options.sentinel);
  const dept = options.managerBackfill ? 'coalesce(u.department, m.department)' : 'u.department';
  const office = options.managerBackfill ? 'coalesce(u.officeLocation, m.officeLocation)' : 'u.officeLocation';
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
      TRY_CAST(u.seniority AS DOUBLE) AS seniority,
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
