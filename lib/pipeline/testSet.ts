/**
 * The hold-out test file of a flat-mode run (`data.test`): the final model (trained on every row, with the
 * threshold and calibrator the evaluation step stamped into it) scores it, and its metrics go into metrics.json
 * as `test`, beside the out-of-fold ones, and into the report.
 */
import type { ArtifactRef } from '../../schemas/run';
import { registerArtifact, writeArtifact } from '../artifacts';
import { readLabelledMatrix } from '../features/matrix';
import { createScoresTable, sqlIdent, sqlString, withDuckDb } from '../data/duck';
import { FLAT_TEST_TABLE, loadCsvAsText } from '../data/raw';
import { featureSpec, flatFeatureSelectSql } from '../features';
import { parseModel, predictProba } from '../gbdt';
import { classificationMetrics } from '../metrics';
import { writeRunReport } from '../report';
import { testMetricsSchema, type MetricsFile } from '../../schemas/metrics';
import {
  METRICS_FILE,
  MODEL_FILE,
  readRunConfig,
  readRunText,
  tableForWriting,
  TEST_PREDICTIONS_FILE,
  type RunFolder,
} from '../run';

export type TestMetrics = NonNullable<MetricsFile['test']>;

/**
 * Metrics of a labelled hold-out set at a given threshold (the run's, not one chosen on these rows): ROC-AUC, PR-AUC,
 * logloss, Brier, and accuracy / precision / recall / F1 / FPR with the confusion counts, all from lib/metrics.
 */
export function holdOutMetrics(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  threshold: number,
  source: string,
): TestMetrics {
  const m = classificationMetrics(labels, scores, 'fixed', {
    fixedThreshold: threshold,
    costFalseApprove: 1,
    costFalseDeny: 1,
  });
  // The schema keeps the hold-out fields and drops the rest of the threshold table's row.
  return testMetricsSchema.parse({ ...m, source });
}

export interface TestSetResult {
  /** null when the run has no test file (seed mode, or a flat config without `data.test`). */
  metrics: TestMetrics | null;
  artifacts: ArtifactRef[];
}

/**
 * Scores the run's test file with the final model and records the metrics: `test` in metrics.json, the rows' scores
 * in predictions/test.parquet (id columns, label, score), and the report written again to show them. Runs after the
 * evaluation step (the model must carry its threshold); the file was validated with the training table. Categories
 * the training rows never had take the model's unseen-category path (the prior's CTR).
 */
export async function evaluateTestSet(ref: RunFolder): Promise<TestSetResult> {
  const config = await readRunConfig(ref.dir);
  if (config.data.mode !== 'flat' || config.data.test === undefined) return { metrics: null, artifacts: [] };
  const d = config.data;
  const test = d.test!;
  const spec = featureSpec(config);
  const model = parseModel(await readRunText(ref.dir, MODEL_FILE));
  if (model.threshold === undefined) throw new Error(`run ${ref.runId}: ${MODEL_FILE} has no threshold yet`);
  const threshold = model.threshold;
  const { labels, scores } = await withDuckDb(async (conn) => {
    await loadCsvAsText(conn, FLAT_TEST_TABLE, test);
    // fold is a placeholder: readLabelledMatrix reads one, a hold-out row has none.
    await conn.run(
      `CREATE TABLE test_features AS SELECT *, -1 AS fold FROM (${flatFeatureSelectSql(FLAT_TEST_TABLE, d, config.features.sentinel)})`,
    );
    const { matrix, labels, rowIdx } = await readLabelledMatrix(conn, 'test_features', spec);
    const scores = predictProba(model, matrix);
    await createScoresTable(conn, 'test_scores', rowIdx, scores);
    const ids = d.id_columns.map((c) => `f.${sqlIdent(c)}, `).join('');
    await conn.run(
      `COPY (SELECT f.row_idx, ${ids}f.label, s.score FROM test_features f JOIN test_scores s USING (row_idx) ORDER BY f.row_idx) TO ${sqlString(await tableForWriting(ref.dir, TEST_PREDICTIONS_FILE))} (FORMAT parquet, COMPRESSION zstd)`,
    );
    return { labels, scores };
  });
  const metrics = holdOutMetrics(labels, scores, threshold, test);
  const file = JSON.parse(await readRunText(ref.dir, METRICS_FILE)) as Record<string, unknown>;
  const artifacts = [
    await writeArtifact(ref.dir, METRICS_FILE, `${JSON.stringify({ ...file, test: metrics }, null, 2)}\n`, 'metrics'),
    await registerArtifact(ref.dir, TEST_PREDICTIONS_FILE, 'test-predictions'),
    ...(await writeRunReport(ref.dir)).artifacts,
  ];
  return { metrics, artifacts };
}
