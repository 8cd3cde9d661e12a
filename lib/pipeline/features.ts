import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactRef } from '../../schemas/run';
import { registerArtifact } from '../artifacts';
import { queryRows, sqlString, withDuckDb } from '../data/duck';
import { runExpectations, type Expectation } from '../data/expectations';
import { loadCsvAsText, rawPaths } from '../data/raw';
import { CATEGORICAL_FEATURES, NUMERIC_FEATURES, buildFeatureTable } from '../features';
import { groupKFold } from '../folds';
import { readRunConfig, type RunRef } from './run';
import { writeValidationReports } from './validate';

export const FEATURES_FILE = 'features/features.parquet';

export interface FeaturesSummary {
  rows: number;
  positiveRate: number;
  foldRows: number[];
  artifacts: ArtifactRef[];
}

function featureSuite(nSplits: number): Expectation[] {
  return [
    {
      type: 'expect_table_columns_to_contain',
      columns: ['userId', ...CATEGORICAL_FEATURES, ...NUMERIC_FEATURES, 'label', 'fold'],
    },
    ...CATEGORICAL_FEATURES.map((column): Expectation => ({ type: 'expect_column_values_to_not_be_null', column })),
    { type: 'expect_column_values_to_be_in_set', column: 'label', values: ['0', '1'] },
    { type: 'expect_column_values_to_be_between', column: 'fold', min: 0, max: nSplits - 1 },
    { type: 'expect_column_values_to_be_in_set', column: 'isMachine', values: ['0.0', '1.0'] },
  ];
}

/**
 * Engineers the seed's features in DuckDB, assigns GroupKFold folds by userId, checks the feature
 * contract and writes the table as Parquet for the trainer and the monitoring baseline.
 */
export async function buildFeatures(ref: RunRef): Promise<FeaturesSummary> {
  const config = await readRunConfig(ref);
  const paths = rawPaths(config);
  const nSplits = config.validation.n_splits;
  return withDuckDb(async (conn) => {
    await loadCsvAsText(conn, 'users', paths.users);
    await loadCsvAsText(conn, 'apps', paths.apps);
    await loadCsvAsText(conn, 'interactions', paths.interactions);
    await buildFeatureTable(
      conn,
      'interactions',
      { sentinel: config.features.sentinel, managerBackfill: config.features.manager_backfill },
      true,
    );
    const groups = await queryRows(conn, 'SELECT userId, count(*) AS n FROM features GROUP BY userId');
    const folds = groupKFold(new Map(groups.map((g) => [String(g.userId), Number(g.n)])), nSplits);
    await conn.run('CREATE TABLE user_folds (userId VARCHAR, fold INTEGER)');
    const appender = await conn.createAppender('user_folds');
    for (const [user, fold] of folds) {
      appender.appendVarchar(user);
      appender.appendInteger(fold);
      appender.endRow();
    }
    appender.closeSync();
    await conn.run(
      'CREATE TABLE features_folded AS SELECT f.*, uf.fold FROM features f JOIN user_folds uf USING (userId) ORDER BY f.row_idx',
    );
    // The contract is checked on a text copy so type problems report the offending values.
    await conn.run(
      'CREATE TABLE features_text AS SELECT * REPLACE (CAST(label AS VARCHAR) AS label, CAST(isMachine AS VARCHAR) AS isMachine, CAST(fold AS VARCHAR) AS fold) FROM features_folded',
    );
    const report = await runExpectations(conn, 'features_text', 'features (engineered)', featureSuite(nSplits));
    report.table = 'features';
    const { artifacts } = await writeValidationReports(ref, [report]);
    await mkdir(join(ref.runDir, 'features'), { recursive: true });
    await conn.run(
      `COPY (SELECT * FROM features_folded ORDER BY row_idx) TO ${sqlString(join(ref.runDir, FEATURES_FILE))} (FORMAT parquet, COMPRESSION zstd)`,
    );
    const [stats] = await queryRows(conn, 'SELECT count(*) AS n, avg(label) AS pos FROM features_folded');
    const foldRows = await queryRows(
      conn,
      'SELECT fold, count(*) AS n FROM features_folded GROUP BY fold ORDER BY fold',
    );
    artifacts.push(await registerArtifact(ref.runDir, FEATURES_FILE, 'features'));
    return {
      rows: Number(stats?.n ?? 0),
      positiveRate: Number(stats?.pos ?? 0),
      foldRows: foldRows.map((r) => Number(r.n)),
      artifacts,
    };
  });
}
