import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { AccessPermConfig, FlatDataConfig } from '../../schemas/config';
import type { ValidationReport } from '../../schemas/validation';
import { seedData } from '../config';
import { InputError } from '../errors';
import { queryRows, sqlIdent, sqlString } from './duck';
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
/** Name of the loaded labelled hold-out table of a flat-mode input (`data.test`). */
export const FLAT_TEST_TABLE = 'flat_test';

/**
 * The labelled input files of a run, by table: hashed into the run's data identity (a flat run's hold-out test file
 * too, since its metrics are part of the run).
 */
export function inputFiles(config: AccessPermConfig): Record<string, string> {
  if (config.data.mode === 'flat')
    return {
      [FLAT_TABLE]: config.data.path,
      ...(config.data.test !== undefined ? { [FLAT_TEST_TABLE]: config.data.test } : {}),
    };
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

/**
 * SQL of a flat table's label as 0/1: the text 0/1 as given, or 1 where the value equals `label_positive` and 0 for
 * the other value (validation has checked there is exactly one).
 */
export function flatLabelSql(data: FlatDataConfig, alias = 'r'): string {
  const value = `trim(${alias}.${sqlIdent(data.label)})`;
  return data.label_positive === undefined
    ? `CAST(${value} AS UTINYINT)`
    : `CAST(${value} = ${sqlString(data.label_positive)} AS UTINYINT)`;
}

/**
 * The label contract of a flat table. Training table: non-null and 0/1, or, with `label_positive`, exactly two
 * distinct values one of which is the positive. Hold-out table (`pair` = the training table's two values when
 * known): non-null and in that pair, so its rows map to 0/1 the way training's did.
 */
function labelSuite(data: FlatDataConfig, pair?: readonly string[]): Expectation[] {
  const column = data.label;
  const notNull: Expectation = { type: 'expect_column_values_to_not_be_null', column };
  if (data.label_positive === undefined)
    return [notNull, { type: 'expect_column_values_to_be_in_set', column, values: ['0', '1'] }];
  if (pair) return [notNull, { type: 'expect_column_values_to_be_in_set', column, values: [...pair] }];
  return [
    notNull,
    { type: 'expect_column_unique_value_count_to_be_between', column, min: 2, max: 2 },
    { type: 'expect_column_distinct_values_to_contain_set', column, values: [data.label_positive] },
  ];
}

/**
 * The contract of a flat-mode table: the declared columns, the label (see labelSuite), castable numerics, row count
 * bounds. The hold-out table (`holdOut`) needs the feature, label and id columns (not the group: it is only the CV
 * key) and at least one row.
 */
export function flatSuite(
  data: FlatDataConfig,
  expectations: AccessPermConfig['validation']['expectations'],
  holdOut?: { labelPair?: readonly string[] },
): Expectation[] {
  const { min_rows, max_rows, mostly } = expectations;
  const group = data.group && !holdOut ? [data.group] : [];
  const declared = [...data.categorical, ...data.numeric, data.label, ...group];
  const columns = [...new Set([...declared, ...data.id_columns])];
  return [
    { type: 'expect_table_columns_to_contain', columns },
    { type: 'expect_table_row_count_to_be_between', min: holdOut ? 1 : min_rows, max: max_rows },
    ...labelSuite(data, holdOut?.labelPair),
    ...group.map((column): Expectation => ({ type: 'expect_column_values_to_not_be_null', column })),
    ...data.numeric.map((column): Expectation => ({ type: 'expect_column_values_to_be_of_type', column, sqlType: 'DOUBLE', mostly })),
  ];
}

/** The two label values of a loaded flat training table, positive first, or undefined unless there are exactly two. */
async function labelPairOf(conn: DuckDBConnection, data: FlatDataConfig): Promise<string[] | undefined> {
  if (data.label_positive === undefined) return undefined;
  const c = `trim(${sqlIdent(data.label)})`;
  const rows = await queryRows(conn, `SELECT DISTINCT ${c} AS v FROM ${sqlIdent(FLAT_TABLE)} WHERE ${c} <> ''`);
  const values = rows.map((r) => String(r.v));
  if (values.length !== 2 || !values.includes(data.label_positive)) return undefined;
  return [data.label_positive, values.find((v) => v !== data.label_positive)!];
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
    const d = config.data;
    await loadInputTables(conn, config);
    const reports = [await runExpectations(conn, FLAT_TABLE, d.path, flatSuite(d, config.validation.expectations))];
    // The hold-out file is checked before training too, so a bad one fails the run early.
    if (d.test !== undefined) {
      await loadCsvAsText(conn, FLAT_TEST_TABLE, d.test);
      const suite = flatSuite(d, config.validation.expectations, { labelPair: await labelPairOf(conn, d) });
      reports.push(await runExpectations(conn, FLAT_TEST_TABLE, d.test, suite));
    }
    return reports;
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
