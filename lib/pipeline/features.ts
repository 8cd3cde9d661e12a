import type { ArtifactRef } from '../../schemas/run';
import { registerArtifact } from '../artifacts';
import type { DuckDBConnection } from '@duckdb/node-api';
import { queryColumns, queryRows, sqlIdent, sqlString, withDuckDb } from '../data/duck';
import { runExpectations, type Expectation } from '../data/expectations';
import { loadInputTables } from '../data/raw';
import { buildTrainingFeatureTable, featureSpec, type FeatureSpec } from '../features';
import { groupKFold, stratifiedKFold } from '../folds';
import { FEATURES_FILE, readRunConfig, tableForWriting, type RunFolder } from '../run';
import { writeValidationReports } from './validate';

export interface FeaturesSummary {
  rows: number;
  positiveRate: number;
  foldRows: number[];
  artifacts: ArtifactRef[];
}

function featureSuite(spec: FeatureSpec, nSplits: number, seedMode: boolean): Expectation[] {
  return [
    {
      type: 'expect_table_columns_to_contain',
      columns: [...(spec.group ? [spec.group] : []), ...spec.categorical, ...spec.numeric, 'label', 'fold'],
    },
    ...spec.categorical.map((column): Expectation => ({ type: 'expect_column_values_to_not_be_null', column })),
    { type: 'expect_column_values_to_be_in_set', column: 'label', values: ['0', '1'] },
    { type: 'expect_column_values_to_be_between', column: 'fold', min: 0, max: nSplits - 1 },
    ...(seedMode
      ? [{ type: 'expect_column_values_to_be_in_set' as const, column: 'isMachine', values: ['0.0', '1.0'] }]
      : []),
  ];
}

/** Appends (key, fold) rows to a new table `name`, for joining fold assignments onto the feature table. */
async function writeFolds(
  conn: DuckDBConnection,
  name: string,
  key: { column: string; type: 'VARCHAR' | 'BIGINT' },
  folds: Iterable<[string | number, number]>,
): Promise<void> {
  await conn.run(`CREATE TABLE ${name} (${sqlIdent(key.column)} ${key.type}, fold INTEGER)`);
  const appender = await conn.createAppender(name);
  for (const [k, fold] of folds) {
    if (key.type === 'VARCHAR') appender.appendVarchar(String(k));
    else appender.appendBigInt(BigInt(k));
    appender.appendInteger(fold);
    appender.endRow();
  }
  appender.closeSync();
}

/**
 * Engineers the features in DuckDB (the seed's joins, or a flat table's declared columns), assigns folds
 * (GroupKFold by the group column; stratified row-level KFold without one), checks the feature contract and
 * writes the table as Parquet for the trainer and the monitoring baseline.
 */
export async function buildFeatures(ref: RunFolder): Promise<FeaturesSummary> {
  const config = await readRunConfig(ref.dir);
  const spec = featureSpec(config);
  const nSplits = config.validation.n_splits;
  return withDuckDb(async (conn) => {
    await loadInputTables(conn, config);
    await buildTrainingFeatureTable(conn, config);
    if (spec.group) {
      const g = sqlIdent(spec.group);
      const groups = await queryRows(conn, `SELECT ${g} AS g, count(*) AS n FROM features GROUP BY ${g}`);
      const folds = groupKFold(new Map(groups.map((r) => [String(r.g), Number(r.n)])), nSplits);
      await writeFolds(conn, 'group_folds', { column: spec.group, type: 'VARCHAR' }, folds);
      await conn.run(
        `CREATE TABLE features_folded AS SELECT f.*, uf.fold FROM features f JOIN group_folds uf USING (${g}) ORDER BY f.row_idx`,
      );
    } else {
      const rows = await queryColumns(conn, 'SELECT row_idx, label FROM features ORDER BY row_idx');
      const seed = config.data.mode === 'flat' ? config.data.fold_seed : 0;
      const folds = stratifiedKFold((rows.label ?? []).map(Number), nSplits, seed);
      const keys = (rows.row_idx ?? []).map(Number);
      await writeFolds(
        conn,
        'row_folds',
        { column: 'row_idx', type: 'BIGINT' },
        keys.map((k, i) => [k, folds[i]!]),
      );
      await conn.run(
        'CREATE TABLE features_folded AS SELECT f.*, rf.fold FROM features f JOIN row_folds rf USING (row_idx) ORDER BY f.row_idx',
      );
    }
    // The contract is checked on a text copy so type problems report the offending values.
    const asText = ['label', ...(config.data.mode === 'seed' ? ['isMachine'] : []), 'fold'];
    await conn.run(
      `CREATE TABLE features_text AS SELECT * REPLACE (${asText.map((c) => `CAST(${c} AS VARCHAR) AS ${c}`).join(', ')}) FROM features_folded`,
    );
    const report = await runExpectations(
      conn,
      'features_text',
      'features (engineered)',
      featureSuite(spec, nSplits, config.data.mode === 'seed'),
    );
    report.table = 'features';
    const { artifacts } = await writeValidationReports(ref, [report]);
    const table = await tableForWriting(ref.dir, FEATURES_FILE);
    await conn.run(
      `COPY (SELECT * FROM features_folded ORDER BY row_idx) TO ${sqlString(table)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    const [stats] = await queryRows(conn, 'SELECT count(*) AS n, avg(label) AS pos FROM features_folded');
    const foldRows = await queryRows(
      conn,
      'SELECT fold, count(*) AS n FROM features_folded GROUP BY fold ORDER BY fold',
    );
    artifacts.push(await registerArtifact(ref.dir, FEATURES_FILE, 'features'));
    return {
      rows: Number(stats?.n ?? 0),
      positiveRate: Number(stats?.pos ?? 0),
      foldRows: foldRows.map((r) => Number(r.n)),
      artifacts,
    };
  });
}
