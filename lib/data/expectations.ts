import type { DuckDBConnection } from '@duckdb/node-api';
import type { ExpectationResult, ValidationReport } from '../../schemas/validation';
import { queryRows, sqlIdent, sqlString } from './duck';

/**
 * Data contracts evaluated in DuckDB against a table whose columns are all VARCHAR (as read from CSV),
 * so type problems are findable per row instead of failing the whole read.
 */
export type Expectation =
  | { type: 'expect_table_columns_to_contain'; columns: string[] }
  | { type: 'expect_table_row_count_to_be_between'; min: number; max: number }
  | { type: 'expect_column_values_to_not_be_null'; column: string; mostly?: number }
  | { type: 'expect_column_values_to_be_unique'; column: string }
  | { type: 'expect_compound_columns_to_be_unique'; columns: string[] }
  | { type: 'expect_column_values_to_be_in_set'; column: string; values: string[] }
  | { type: 'expect_column_unique_value_count_to_be_between'; column: string; min: number; max: number }
  | { type: 'expect_column_distinct_values_to_contain_set'; column: string; values: string[] }
  | { type: 'expect_column_values_to_be_of_type'; column: string; sqlType: 'BIGINT' | 'DOUBLE'; mostly?: number }
  | { type: 'expect_column_values_to_be_between'; column: string; min: number; max: number }
  | { type: 'expect_no_contradictory_labels'; keys: string[]; label: string }
  | { type: 'expect_column_values_to_be_in_reference'; column: string; refTable: string; refColumn: string; mostly?: number };

const EXAMPLES = 5;

interface Counted {
  element_count: number;
  unexpected_count: number;
  examples: Record<string, unknown>[];
}

/**
 * Counts rows matching `badWhere` among rows matching `scope`, with a few examples. `line` is the file's line number,
 * as `score` and DuckDB's own CSV errors count: the header is line 1, data row r (0-based) is line r + 2.
 */
async function countUnexpected(
  conn: DuckDBConnection,
  table: string,
  scope: string,
  badWhere: string,
  exampleColumns: string[],
): Promise<Counted> {
  const t = sqlIdent(table);
  const [totals] = await queryRows(
    conn,
    `SELECT count(*) FILTER (WHERE ${scope}) AS n, count(*) FILTER (WHERE ${scope} AND (${badWhere})) AS bad FROM ${t}`,
  );
  const cols = exampleColumns.map(sqlIdent).join(', ');
  const examples = await queryRows(
    conn,
    `SELECT rowid + 2 AS line, ${cols} FROM ${t} WHERE ${scope} AND (${badWhere}) ORDER BY rowid LIMIT ${EXAMPLES}`,
  );
  return { element_count: Number(totals?.n ?? 0), unexpected_count: Number(totals?.bad ?? 0), examples };
}

/**
 * How many distinct trimmed non-empty values a column has, and a few of them with their row counts and first data
 * line, rarest first (a stray value is usually the rare one).
 */
async function distinctValues(
  conn: DuckDBConnection,
  table: string,
  column: string,
): Promise<{ count: number; examples: Array<{ value: string; rows: number; first_line: number }> }> {
  const c = `trim(${sqlIdent(column)})`;
  const rows = await queryRows(
    conn,
    `SELECT ${c} AS value, count(*) AS n, min(rowid) + 2 AS first_line, count(*) OVER () AS distinct_values FROM ${sqlIdent(table)} WHERE ${c} <> '' GROUP BY ${c} ORDER BY n, first_line LIMIT ${EXAMPLES}`,
  );
  return {
    count: Number(rows[0]?.distinct_values ?? 0),
    examples: rows.map((r) => ({ value: String(r.value), rows: Number(r.n), first_line: Number(r.first_line) })),
  };
}

function kwargsOf(e: Expectation): Record<string, unknown> {
  const { type: _type, ...rest } = e;
  return rest;
}

function result(e: Expectation, counted: Counted, success: boolean): ExpectationResult {
  const pct = counted.element_count === 0 ? 0 : (100 * counted.unexpected_count) / counted.element_count;
  return {
    expectation: e.type,
    kwargs: kwargsOf(e),
    success,
    result: {
      element_count: counted.element_count,
      unexpected_count: counted.unexpected_count,
      unexpected_percent: pct,
      partial_unexpected_list: counted.examples,
    },
  };
}

function passesMostly(counted: Counted, mostly = 1): boolean {
  if (counted.element_count === 0) return mostly === 0;
  return 1 - counted.unexpected_count / counted.element_count >= mostly;
}

async function evaluate(conn: DuckDBConnection, table: string, e: Expectation): Promise<ExpectationResult> {
  const t = sqlIdent(table);
  switch (e.type) {
    case 'expect_table_columns_to_contain': {
      const present = new Set(
        (await queryRows(conn, `SELECT column_name FROM (DESCRIBE ${t})`)).map((r) => String(r.column_name)),
      );
      const missing = e.columns.filter((c) => !present.has(c));
      const counted = { element_count: e.columns.length, unexpected_count: missing.length, examples: missing.map((column) => ({ missing_column: column })) };
      return result(e, counted, missing.length === 0);
    }
    case 'expect_table_row_count_to_be_between': {
      const [row] = await queryRows(conn, `SELECT count(*) AS n FROM ${t}`);
      const n = Number(row?.n ?? 0);
      const ok = n >= e.min && n <= e.max;
      return result(e, { element_count: n, unexpected_count: ok ? 0 : 1, examples: ok ? [] : [{ row_count: n }] }, ok);
    }
    case 'expect_column_values_to_not_be_null': {
      const c = sqlIdent(e.column);
      const counted = await countUnexpected(conn, table, 'true', `${c} IS NULL OR trim(${c}) = ''`, [e.column]);
      return result(e, counted, passesMostly(counted, e.mostly));
    }
    case 'expect_column_values_to_be_unique': {
      const c = sqlIdent(e.column);
      const bad = `${c} IN (SELECT ${c} FROM ${t} WHERE ${c} IS NOT NULL GROUP BY ${c} HAVING count(*) > 1)`;
      const counted = await countUnexpected(conn, table, `${c} IS NOT NULL`, bad, [e.column]);
      return result(e, counted, counted.unexpected_count === 0);
    }
    case 'expect_compound_columns_to_be_unique': {
      const cols = e.columns.map(sqlIdent).join(', ');
      const bad = `(${cols}) IN (SELECT (${cols}) FROM ${t} GROUP BY ${cols} HAVING count(*) > 1)`;
      const counted = await countUnexpected(conn, table, 'true', bad, e.columns);
      return result(e, counted, counted.unexpected_count === 0);
    }
    case 'expect_column_values_to_be_in_set': {
      const c = sqlIdent(e.column);
      const set = e.values.map(sqlString).join(', ');
      const counted = await countUnexpected(conn, table, `${c} IS NOT NULL`, `trim(${c}) NOT IN (${set})`, [e.column]);
      return result(e, counted, counted.unexpected_count === 0);
    }
    case 'expect_column_unique_value_count_to_be_between': {
      const { count, examples } = await distinctValues(conn, table, e.column);
      const ok = count >= e.min && count <= e.max;
      return result(e, { element_count: count, unexpected_count: ok ? 0 : 1, examples: ok ? [] : examples }, ok);
    }
    case 'expect_column_distinct_values_to_contain_set': {
      const c = `trim(${sqlIdent(e.column)})`;
      const [found] = await queryRows(
        conn,
        `SELECT ${e.values.map((v, i) => `count(*) FILTER (WHERE ${c} = ${sqlString(v)}) AS v${i}`).join(', ')} FROM ${t}`,
      );
      const missing = e.values.filter((_, i) => Number(found?.[`v${i}`] ?? 0) === 0);
      const seen = missing.length > 0 ? (await distinctValues(conn, table, e.column)).examples.map((x) => x.value) : [];
      const counted = {
        element_count: e.values.length,
        unexpected_count: missing.length,
        examples: missing.map((value) => ({ missing_value: value, values_seen: seen })),
      };
      return result(e, counted, missing.length === 0);
    }
    case 'expect_column_values_to_be_of_type': {
      const c = sqlIdent(e.column);
      const bad = `TRY_CAST(trim(${c}) AS ${e.sqlType}) IS NULL`;
      const counted = await countUnexpected(conn, table, `${c} IS NOT NULL AND trim(${c}) <> ''`, bad, [e.column]);
      return result(e, counted, e.mostly === undefined ? counted.unexpected_count === 0 : passesMostly(counted, e.mostly));
    }
    case 'expect_column_values_to_be_between': {
      const c = sqlIdent(e.column);
      const v = `TRY_CAST(trim(${c}) AS DOUBLE)`;
      const counted = await countUnexpected(conn, table, `${v} IS NOT NULL`, `${v} < ${e.min} OR ${v} > ${e.max}`, [e.column]);
      return result(e, counted, counted.unexpected_count === 0);
    }
    case 'expect_no_contradictory_labels': {
      const cols = e.keys.map(sqlIdent).join(', ');
      const label = sqlIdent(e.label);
      const bad = `(${cols}) IN (SELECT (${cols}) FROM ${t} GROUP BY ${cols} HAVING count(DISTINCT ${label}) > 1)`;
      const counted = await countUnexpected(conn, table, 'true', bad, [...e.keys, e.label]);
      return result(e, counted, counted.unexpected_count === 0);
    }
    case 'expect_column_values_to_be_in_reference': {
      const c = sqlIdent(e.column);
      const ref = `SELECT ${sqlIdent(e.refColumn)} FROM ${sqlIdent(e.refTable)}`;
      const counted = await countUnexpected(conn, table, `${c} IS NOT NULL`, `${c} NOT IN (${ref})`, [e.column]);
      return result(e, counted, passesMostly(counted, e.mostly));
    }
  }
}

/**
 * Evaluates a suite. Column-level expectations on columns that do not exist are reported as failed
 * by the column-presence expectation and not evaluated themselves.
 */
export async function runExpectations(
  conn: DuckDBConnection,
  table: string,
  source: string,
  suite: Expectation[],
): Promise<ValidationReport> {
  const present = new Set(
    (await queryRows(conn, `SELECT column_name FROM (DESCRIBE ${sqlIdent(table)})`)).map((r) => String(r.column_name)),
  );
  const columnsOf = (e: Expectation): string[] => {
    if ('column' in e) return [e.column];
    if (e.type === 'expect_compound_columns_to_be_unique') return e.columns;
    if (e.type === 'expect_no_contradictory_labels') return [...e.keys, e.label];
    return [];
  };
  const results: ExpectationResult[] = [];
  for (const e of suite) {
    if (columnsOf(e).some((c) => !present.has(c))) continue;
    try {
      results.push(await evaluate(conn, table, e));
    } catch (err) {
      // e.g. a reference table that itself lacks the key column: report, do not crash the suite.
      const counted = { element_count: 0, unexpected_count: 0, examples: [{ error: (err as Error).message.split('\n')[0] }] };
      results.push(result(e, counted, false));
    }
  }
  const successful = results.filter((r) => r.success).length;
  return {
    table,
    source,
    success: successful === results.length,
    evaluated_at: new Date().toISOString(),
    statistics: {
      evaluated_expectations: results.length,
      successful_expectations: successful,
      unsuccessful_expectations: results.length - successful,
      success_percent: results.length === 0 ? 100 : (100 * successful) / results.length,
    },
    results,
  };
}

/** One line per failed expectation with a couple of examples, for error messages. */
export function describeFailures(report: ValidationReport): string {
  return report.results
    .filter((r) => !r.success)
    .map((r) => {
      const args = Object.entries(r.kwargs)
        .filter(([k]) => k !== 'values')
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(', ');
      const examples = r.result.partial_unexpected_list.slice(0, 3).map((x) => JSON.stringify(x)).join(' ');
      return `${r.expectation}(${args}): ${r.result.unexpected_count} unexpected${examples ? `, e.g. ${examples}` : ''}`;
    })
    .join('; ');
}
