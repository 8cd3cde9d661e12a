import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactRef, FoldSummary, MetricsSummary } from '../../schemas/run';
import { registerArtifact, writeArtifact } from '../artifacts';
import { sqlString, withDuckDb } from '../data/duck';
import { parseModel, serializeModel } from '../gbdt';
import { classificationMetrics, rocAuc } from '../metrics';
import { FEATURES_FILE } from './features';
import { readRunConfig, type RunRef } from './run';
import { MODEL_FILE, readFeatures, readOofScores } from './train';

export const METRICS_FILE = 'metrics.json';
export const OOF_FILE = 'predictions/oof.parquet';

export interface EvaluationResult {
  metrics: MetricsSummary;
  foldAuc: number[];
  artifacts: ArtifactRef[];
}

/** Reassembles out-of-fold scores in row order. */
export async function collectOof(
  ref: RunRef,
  nSplits: number,
): Promise<{ labels: Uint8Array; scores: Float64Array; folds: Int32Array; rowIdx: Float64Array }> {
  const all = await readFeatures(ref);
  const scores = new Float64Array(all.matrix.rowCount);
  for (let fold = 0; fold < nSplits; fold++) {
    const foldScores = await readOofScores(ref, fold);
    let k = 0;
    for (let i = 0; i < all.matrix.rowCount; i++) if (all.folds[i] === fold) scores[i] = foldScores[k++]!;
    if (k !== foldScores.length) throw new Error(`fold ${fold}: ${foldScores.length} stored scores for ${k} rows`);
  }
  return { labels: all.labels, scores, folds: all.folds, rowIdx: all.rowIdx };
}

/**
 * OOF metrics at the threshold chosen by the configured strategy, per-fold AUC, the OOF prediction table,
 * and the chosen threshold written into the scoring spec.
 */
export async function evaluateRun(ref: RunRef, folds: FoldSummary[]): Promise<EvaluationResult> {
  const config = await readRunConfig(ref);
  const v = config.validation;
  const { labels, scores, folds: foldOf, rowIdx } = await collectOof(ref, v.n_splits);
  const m = classificationMetrics(labels, scores, v.threshold_strategy, {
    fixedThreshold: v.fixed_threshold,
    costFalseApprove: v.cost_false_approve,
    costFalseDeny: v.cost_false_deny,
  });
  const foldAuc: number[] = [];
  for (let f = 0; f < v.n_splits; f++) {
    const idx = [...foldOf.keys()].filter((i) => foldOf[i] === f);
    foldAuc.push(
      rocAuc(
        idx.map((i) => labels[i]!),
        idx.map((i) => scores[i]!),
      ),
    );
  }
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
  const report = { oof: metrics, confusion: m.confusion, folds: folds.map((f) => ({ ...f })), foldAuc };
  const artifacts: ArtifactRef[] = [];
  artifacts.push(await writeArtifact(ref.runDir, METRICS_FILE, `${JSON.stringify(report, null, 2)}\n`, 'metrics'));

  await mkdir(join(ref.runDir, 'predictions'), { recursive: true });
  await withDuckDb(async (conn) => {
    await conn.run('CREATE TABLE oof (row_idx BIGINT, score DOUBLE)');
    const appender = await conn.createAppender('oof');
    for (let i = 0; i < scores.length; i++) {
      appender.appendBigInt(BigInt(rowIdx[i]!));
      appender.appendDouble(scores[i]!);
      appender.endRow();
    }
    appender.closeSync();
    const features = `read_parquet(${sqlString(join(ref.runDir, FEATURES_FILE))})`;
    await conn.run(
      `COPY (SELECT f.row_idx, f.userId, f.appId, f.fold, f.label, o.score FROM ${features} f JOIN oof o USING (row_idx) ORDER BY f.row_idx) TO ${sqlString(join(ref.runDir, OOF_FILE))} (FORMAT parquet, COMPRESSION zstd)`,
    );
  });
  artifacts.push(await registerArtifact(ref.runDir, OOF_FILE, 'oof-predictions'));

  const model = parseModel(await readFile(join(ref.runDir, MODEL_FILE), 'utf8'));
  model.threshold = m.threshold;
  artifacts.push(await writeArtifact(ref.runDir, MODEL_FILE, serializeModel(model), 'model'));
  return { metrics, foldAuc, artifacts };
}
