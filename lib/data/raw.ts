import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { AccessPermConfig, FlatDataConfig } from '../../schemas/config';
import type { ValidationReport } from '../../schemas/validation';
import { seedData } from '../config';
import { InputError } from '../errors';
import { sqlIdent, sqlString } from './duck';
import { runExpectations, type Expectation } from './expectations';

/** The seed's raw tables, their files and columns. */
export const RAW_TABLES = {
  users: ['userId', 'managerId', 'department', 'officeLocation', 'isMachine', 'seniority'],
  apps: ['appId', 'category'],
  interactions: ['userId', 'appId', 'permission'],
  submission: ['userId', 'appId'],
} as const;
export type RawTable = keyof typeof RAW_TABLES;

export function rawPaths(config: AccessPermConfig): Record<RawTable, string> {
  const d = seedData(config, 'the seed tables');
  return {
    users: join(d.dir, d.users),
    apps: join(d.dir, d.apps),
    interactions: join(d.dir, d.interactions),
    submission: join(d.dir, d.submission),
  };
}

/** Name of the loaded table of a flat-mode input (its validation report and data audit use it too). */
export const FLAT_TABLE = 'flat';

/** The labelled input files a run trains on, by table: hashed into the run's data identity. */
export function inputFiles(config: AccessPermConfig): Record<string, string> {
  if (config.data.mode === 'flat') return { [FLAT_TABLE]: config.data.path };
  const paths = rawPaths(config);
  return { users: paths.users, apps: paths.apps, interactions: paths.interactions };
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Loads a CSV with every column as VARCHAR so that type problems surface as expectation failures
 * with line numbers. A structurally broken CSV (ragged rows, bad quoting) fails here, naming the file.
 */
export async function loadCsvAsText(conn: DuckDBConnection, table: string, path: string): Promise<void> {
  if (!(await fileExists(path))) throw new InputError(`${table}: file not found: ${path}`);
  try {
    await conn.run(
      `CREATE OR REPLACE TABLE ${sqlIdent(table)} AS SELECT * FROM read_csv(${sqlString(path)}, header = true, skip = 0, all_varchar = true, delim = ',', quote = '"', strict_mode = true, null_padding = false)`,
    );
  } catch (err) {
    const detail = (err as Error).message.split('\n').slice(0, 3).join(' ');
    throw new InputError(`${table}: malformed CSV ${path} — ${detail}`);
  }
}

/** The contracts of the raw CSVs (the Great Expectations suites of the seed). */
export function rawSuites(config: AccessPermConfig): Record<RawTable, Expectation[]> {
  const { min_rows, max_rows, mostly } = config.validation.expectations;
  return {
    users: [
      { type: 'expect_table_columns_to_contain', columns: [...RAW_TABLES.users] },
      { type: 'expect_table_row_count_to_be_between', min: 1, max: max_rows },
      { type: 'expect_column_values_to_not_be_null', column: 'userId' },
      { type: 'expect_column_values_to_be_unique', column: 'userId' },
      { type: 'expect_column_values_to_not_be_null', column: 'isMachine' },
      { type: 'expect_column_values_to_be_in_set', column: 'isMachine', values: ['0', '1'] },
      { type: 'expect_column_values_to_be_of_type', column: 'seniority', sqlType: 'DOUBLE' },
      { type: 'expect_column_values_to_be_between', column: 'seniority', min: 0, max: 100 },
      { type: 'expect_column_values_to_be_in_reference', column: 'managerId', refTable: 'users', refColumn: 'userId', mostly },
    ],
    apps: [
      { type: 'expect_table_columns_to_contain', columns: [...RAW_TABLES.apps] },
      { type: 'expect_table_row_count_to_be_between', min: 1, max: max_rows },
      { type: 'expect_column_values_to_not_be_null', column: 'appId' },
      { type: 'expect_column_values_to_be_unique', column: 'appId' },
      { type: 'expect_column_values_to_not_be_null', column: 'category', mostly: 0.5 },
    ],
    interactions: [
      { type: 'expect_table_columns_to_contain', columns: [...RAW_TABLES.interactions] },
      { type: 'expect_table_row_count_to_be_between', min: min_rows, max: max_rows },
      { type: 'expect_column_values_to_not_be_null', column: 'userId' },
      { type: 'expect_column_values_to_not_be_null', column: 'appId' },
      { type: 'expect_column_values_to_not_be_null', column: 'permission' },
      { type: 'expect_column_values_to_be_in_set', column: 'permission', values: ['0', '1'] },
      { type: 'expect_no_contradictory_labels', keys: ['userId', 'appId'], label: 'permission' },
      { type: 'expect_compound_columns_to_be_unique', columns: ['userId', 'appId'] },
      { type: 'expect_column_values_to_be_in_reference', column: 'userId', refTable: 'users', refColumn: 'userId', mostly },
      { type: 'expect_column_values_to_be_in_reference', column: 'appId', refTable: 'apps', refColumn: 'appId', mostly },
    ],
    submission: [
      { type: 'expect_table_columns_to_contain', columns: [...RAW_TABLES.submission] },
      { type: 'expect_table_row_count_to_be_between', min: 1, max: max_rows },
      { type: 'expect_column_values_to_not_be_null', column: 'userId' },
      { type: 'expect_column_values_to_not_be_null', column: 'appId' },
    ],
  };
}

/** The contract of a flat-mode table: the declared columns, a 0/1 label, castable numerics, row count bounds. */
export function flatSuite(data: FlatDataConfig, expectations: AccessPermConfig['validation']['expectations']): Expectation[] {
  const { min_rows, max_rows, mostly } = expectations;
  const declared = [...data.categorical, ...data.numeric, data.label, ...(data.group ? [data.group] : [])];
  const columns = [...new Set([...declared, ...data.id_columns])];
  return [
    { type: 'expect_table_columns_to_contain', columns },
    { type: 'expect_table_row_count_to_be_between', min: min_rows, max: max_rows },
    { type: 'expect_column_values_to_not_be_null', column: data.label },
    { type: 'expect_column_values_to_be_in_set', column: data.label, values: ['0', '1'] },
    ...(data.group ? [{ type: 'expect_column_values_to_not_be_null' as const, column: data.group }] : []),
    ...data.numeric.map((column): Expectation => ({ type: 'expect_column_values_to_be_of_type', column, sqlType: 'DOUBLE', mostly })),
  ];
}

/** Loads the labelled input tables of either mode (seed: users, apps, interactions; flat: the one table). */
export async function loadInputTables(conn: DuckDBConnection, config: AccessPermConfig): Promise<void> {
  if (config.data.mode === 'flat') return loadCsvAsText(conn, FLAT_TABLE, config.data.path);
  const paths = rawPaths(config);
  for (const table of ['users', 'apps', 'interactions'] as const) await loadCsvAsText(conn, table, paths[table]);
}

/** Loads and validates every raw table present (submission is optional); a flat-mode input is one table. */
export async function validateRawTables(
  conn: DuckDBConnection,
  config: AccessPermConfig,
): Promise<ValidationReport[]> {
  if (config.data.mode === 'flat') {
    await loadInputTables(conn, config);
    return [await runExpectations(conn, FLAT_TABLE, config.data.path, flatSuite(config.data, config.validation.expectations))];
  }
  const paths = rawPaths(config);
  const suites = rawSuites(config);
  const reports: ValidationReport[] = [];
  // users and apps first: interactions' referential expectations read them.
  for (const table of ['users', 'apps', 'interactions', 'submission'] as const) {
    if (table === 'submission' && !(await fileExists(paths.submission))) continue;
    await loadCsvAsText(conn, table, paths[table]);
    reports.push(await runExpectations(conn, table, paths[table], suites[table]));
  }
  return reports;
}
