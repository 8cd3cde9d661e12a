import type { FeatureMatrix } from '../../schemas/matrix';
import type { ArtifactRef, FoldSummary, MetricsSummary } from '../../schemas/run';
import { registerArtifact, writeArtifact } from '../artifacts';
import { createScoresTable, queryColumns, sqlIdent, sqlString, withDuckDb } from '../data/duck';
import type { FeatureImportance } from '../../schemas/metrics';
import { dataAudit, evaluateScores, type CalibrationReport, type DataAudit } from '../evaluation';
import type { AccessPermConfig } from '../../schemas/config';
import { featureSpec } from '../features';
import { applyCalibrator, exportOnnx, parseModel, serializeModel, type GbdtModel } from '../gbdt';
import { classificationMetrics } from '../metrics';
import { modelImportance, writeRunReport } from '../report';
import {
  FEATURES_FILE,
  METRICS_FILE,
  MODEL_FILE,
  ONNX_FILE,
  OOF_FILE,
  readFeatures,
  readOofScores,
  readRunConfig,
  readRunText,
  tableAt,
  tableForWriting,
  type RunFolder,
} from '../run';

export interface EvaluationResult {
  metrics: MetricsSummary;
  foldAuc: number[];
  artifacts: ArtifactRef[];
}

/**
 * Stamps the decision threshold into the final model and, unless `choice` is 'none', the calibrator fitted on the
 * OOF scores ('auto': the report's recommendation, possibly none). The threshold moves onto the calibrated scale:
 * an increasing calibrator (Platt with a < 0) keeps every decision; an isotonic flat step can put rows just below
 * the threshold level with it.
 */
export function calibrateFinalModel(
  model: GbdtModel,
  choice: AccessPermConfig['model']['calibration'],
  report: Pick<CalibrationReport, 'recommended' | 'platt' | 'isotonic'>,
  threshold: number,
): void {
  model.threshold = threshold;
  const method = choice === 'auto' ? report.recommended : choice;
  if (method === 'none') return;
  model.calibration = report[method];
  model.threshold = applyCalibrator(model.calibration, threshold);
}

/** Reassembles out-of-fold scores in row order. */
export async function collectOof(
  ref: RunFolder,
  nSplits: number,
): Promise<{
  labels: Uint8Array;
  scores: Float64Array;
  folds: Int32Array;
  rowIdx: Float64Array;
  matrix: FeatureMatrix;
}> {
  const all = await readFeatures(ref.dir);
  const scores = new Float64Array(all.matrix.rowCount);
  for (let fold = 0; fold < nSplits; fold++) {
    const foldScores = await readOofScores(ref.dir, fold);
    let k = 0;
    for (let i = 0; i < all.matrix.rowCount; i++) if (all.folds[i] === fold) scores[i] = foldScores[k++]!;
    if (k !== foldScores.length) throw new Error(`fold ${fold}: ${foldScores.length} stored scores for ${k} rows`);
  }
  return { labels: all.labels, scores, folds: all.folds, rowIdx: all.rowIdx, matrix: all.matrix };
}

/**
 * OOF metrics at the threshold chosen by the configured strategy, per-fold metrics, every threshold strategy
 * side by side, bootstrap intervals, calibration (with Platt / isotonic calibrators fitted on the OOF scores),
 * segment coverage, the data audit, the OOF prediction table, the chosen threshold written into the scoring
 * spec, and the run's report, model card and figures (`report/`). On large inputs the pipeline runs this on a thread
 * of its own (`evaluateStep`): at ten million rows it computes for minutes without yielding.
 */
export async function evaluateRun(ref: RunFolder, folds: FoldSummary[]): Promise<EvaluationResult> {
  const config = await readRunConfig(ref.dir);
  const spec = featureSpec(config);
  const v = config.validation;
  const { labels, scores, folds: foldOf, rowIdx, matrix } = await collectOof(ref, v.n_splits);
  const m = classificationMetrics(labels, scores, v.threshold_strategy, {
    fixedThreshold: v.fixed_threshold,
    costFalseApprove: v.cost_false_approve,
    costFalseDeny: v.cost_false_deny,
  });
  const metrics: MetricsSummary = {
    rocAuc: m.rocAuc,
    prAuc: m.prAuc,
    accuracy: m.accuracy,
    precision: m.precision,
    recall: m.recall,
    f1: m.f1,
    tpr: m.tpr,
    fpr: m.fpr,
    logloss: m.logloss,
    brier: m.brier,
    threshold: m.threshold,
    thresholdStrategy: v.threshold_strategy,
    rows: m.rows,
    positiveRate: m.positiveRate,
  };
  const features = `read_parquet(${sqlString(tableAt(ref.dir, FEATURES_FILE))})`;
  const oofTable = await tableForWriting(ref.dir, OOF_FILE);
  const { columns, audit } = await withDuckDb(async (conn) => {
    const segmentCols = [...(spec.group ? [spec.group] : []), ...spec.segments].map(sqlIdent).join(', ');
    const cols = await queryColumns(conn, `SELECT ${segmentCols} FROM ${features} ORDER BY row_idx`);
    const audit: DataAudit = await dataAudit(conn, tableAt(ref.dir, FEATURES_FILE), config);
    await createScoresTable(conn, 'oof', rowIdx, scores);
    await conn.run(
      `COPY (SELECT f.row_idx, ${spec.ids.map((c) => `f.${sqlIdent(c)}, `).join('')}f.fold, f.label, o.score FROM ${features} f JOIN oof o USING (row_idx) ORDER BY f.row_idx) TO ${sqlString(oofTable)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    return { columns: cols, audit };
  });
  // The bootstrap resamples whole CV groups (users in the seed); without a group column, rows.
  const groupCodes = new Map<string, number>();
  const groups = spec.group
    ? (columns[spec.group] ?? []).map((u) => {
        const key = String(u);
        let code = groupCodes.get(key);
        if (code === undefined) groupCodes.set(key, (code = groupCodes.size));
        return code;
      })
    : undefined;
  const segments = Object.fromEntries(spec.segments.map((d) => [d, (columns[d] ?? []).map(String)]));
  const evaluation = evaluateScores({
    labels,
    scores,
    folds: foldOf,
    groups,
    segments,
    strategy: v.threshold_strategy,
    options: {
      fixedThreshold: v.fixed_threshold,
      costFalseApprove: v.cost_false_approve,
      costFalseDeny: v.cost_false_deny,
    },
    threshold: m.threshold,
    seed: typeof config.model.catboost.random_seed === 'number' ? config.model.catboost.random_seed : 0,
  });

  const foldAuc = evaluation.foldMetrics.folds.map((f) => f.rocAuc);
  const model = parseModel(await readRunText(ref.dir, MODEL_FILE));
  calibrateFinalModel(model, config.model.calibration, evaluation.calibration, m.threshold);
  // The final model was trained on every row: its leaf weights (for PredictionValuesChange and SHAP) come from them.
  const importance: FeatureImportance = modelImportance(model, matrix);
  const report = {
    oof: metrics,
    confusion: m.confusion,
    folds: folds.map((f) => ({ ...f })),
    foldAuc,
    ...evaluation,
    audit,
    importance,
  };
  const artifacts: ArtifactRef[] = [];
  artifacts.push(await writeArtifact(ref.dir, METRICS_FILE, `${JSON.stringify(report, null, 2)}\n`, 'metrics'));
  artifacts.push(await registerArtifact(ref.dir, OOF_FILE, 'oof-predictions'));
  artifacts.push(await writeArtifact(ref.dir, MODEL_FILE, serializeModel(model), 'model'));
  artifacts.push(await writeArtifact(ref.dir, ONNX_FILE, exportOnnx(model), 'model-onnx'));
  artifacts.push(...(await writeRunReport(ref.dir)).artifacts);
  return { metrics, foldAuc, artifacts };
}
