import type { AccessPermConfig } from '../../schemas/config';
import { METRIC_NAMES, type DriftSummary, type MetricName, type PerformanceSummary } from '../../schemas/monitoring';
import { queryColumns, sqlString, withDuckDb } from '../data/duck';
import { metricsFileSchema, type MetricsFile } from '../../schemas/metrics';
import { segmentMetrics, type SegmentRow } from '../evaluation';
import { averagePrecision, brier, logloss, metricsAtThreshold, rocAuc } from '../metrics';
import { SEED_FEATURE_SPEC } from '../features';
import { ArtifactIntegrityError } from '../errors';
import { finishedFile, METRICS_FILE, readRunConfig } from '../run';
import { computeDrift, profileReference, type DriftOptions, type DriftReport } from './drift';
import { readDriftWindow } from './io';
import { scoredVersionDir } from './score';
import { FEATURE_DRIFT_SPEC } from './spec';
import {
  WINDOW_FILES,
  readWindowFile,
  readWindowInfo,
  verifiedRunFile,
  verifiedWindowTable,
  writeWindowFile,
} from './window';
import type { WindowFolder } from './window';

/** The drift options of a run's `monitoring.drift` config section. */
export function driftOptionsOf(config: AccessPermConfig): Partial<DriftOptions> {
  const d = config.monitoring.drift;
  return {
    smallSampleMaxRows: d.small_sample_max_rows,
    maxUniqueAsCategorical: d.max_unique_as_categorical,
    pValueThreshold: d.p_value,
    distanceThreshold: d.distance,
    psiThreshold: d.psi,
    psiBands: d.psi_bands,
    datasetDriftShare: d.drift_share,
    tests: d.tests,
    thresholds: d.thresholds,
  };
}

export function summarizeDrift(report: DriftReport): DriftSummary {
  const top = [...report.newCategories].sort((a, b) => b.rate - a.rate)[0];
  return {
    driftedDataset: report.dataset.drifted_dataset,
    share: report.dataset.share,
    threshold: report.dataset.threshold,
    drifted: report.features.filter((f) => f.drifted).map((f) => f.column),
    targetDrifted: report.target ? report.target.drifted : null,
    predictionDrifted: report.prediction ? report.prediction.drifted : null,
    maxNewCategoryRate: top ? { column: top.column, rate: top.rate } : null,
  };
}

/**
 * Drift of the scored window against the run's reference (`monitoring/reference.parquet`, verified against the
 * manifest): per feature, new categories, target and prediction drift, with the run's thresholds. Writes `drift.json`.
 */
export async function driftWindow(ref: WindowFolder): Promise<DriftSummary> {
  const modelDir = await scoredVersionDir(ref);
  const config = await readRunConfig(modelDir);
  const reference = await readDriftWindow(
    (await verifiedRunFile(ref.runId, modelDir, 'monitoring-reference')).path,
    FEATURE_DRIFT_SPEC,
  );
  const profile = profileReference(reference.table, reference.spec);
  const current = await readDriftWindow(await verifiedWindowTable(ref, WINDOW_FILES.scored), FEATURE_DRIFT_SPEC);
  const report = computeDrift(profile, current.table, current.spec, driftOptionsOf(config));
  await writeWindowFile(ref, WINDOW_FILES.drift, `${JSON.stringify(report)}\n`);
  return summarizeDrift(report);
}

export async function readDriftReport(ref: WindowFolder): Promise<DriftReport> {
  return JSON.parse(await readWindowFile(ref, WINDOW_FILES.drift)) as DriftReport;
}

/** A segment of the window next to the same segment in the run's out-of-fold evaluation. */
export interface SegmentChange extends SegmentRow {
  referenceAccuracy: number | null;
  accuracyChange: number | null;
  referenceRocAuc: number | null;
}

/** `performance.json`: the window's metrics at the run's threshold, the reference (OOF) and the changes. */
export interface PerformanceReport {
  labelled: boolean;
  rows: number;
  threshold: number;
  current: Record<MetricName | 'logloss' | 'brier' | 'positiveRate', number> | null;
  reference: MetricsFile['oof'];
  change: Partial<Record<MetricName, number>>;
  confusion: { tp: number; fp: number; tn: number; fn: number } | null;
  segments: SegmentChange[];
}

function windowMetrics(labels: Uint8Array, scores: Float64Array, threshold: number) {
  const t = metricsAtThreshold(labels, scores, threshold);
  let pos = 0;
  for (const y of labels) pos += y;
  return {
    metrics: {
      rocAuc: rocAuc(labels, scores),
      prAuc: averagePrecision(labels, scores),
      accuracy: t.accuracy,
      precision: t.precision,
      recall: t.recall,
      f1: t.f1,
      logloss: logloss(labels, scores),
      brier: brier(labels, scores),
      positiveRate: pos / labels.length,
    },
    confusion: t.confusion,
  };
}

/**
 * Performance of a labelled window at the run's operating threshold: the evaluation metrics, per segment
 * (top apps, departments, manager departments) as well, and their change against the run's out-of-fold
 * evaluation (`metrics.json`, verified). An unlabelled window records that it could not be measured.
 */
export async function performanceWindow(ref: WindowFolder): Promise<PerformanceSummary> {
  const info = await readWindowInfo(ref);
  const metrics = await finishedFile(await scoredVersionDir(ref), METRICS_FILE);
  if (!metrics) throw new ArtifactIntegrityError(`run ${ref.runId}: the manifest lists no ${METRICS_FILE}`);
  const metricsFile = metricsFileSchema.parse(JSON.parse(metrics.bytes.toString('utf8')));
  const reference = metricsFile.oof;
  const threshold = reference.threshold;
  let report: PerformanceReport = {
    labelled: false,
    rows: info.rows,
    threshold,
    current: null,
    reference,
    change: {},
    confusion: null,
    segments: [],
  };
  if (info.labelled) {
    const scored = await verifiedWindowTable(ref, WINDOW_FILES.scored);
    const cols = await withDuckDb((conn) =>
      queryColumns(
        conn,
        `SELECT label, score, ${SEED_FEATURE_SPEC.segments.join(', ')} FROM read_parquet(${sqlString(scored)}) WHERE label IS NOT NULL ORDER BY row_idx`,
      ),
    );
    const labels = Uint8Array.from(cols.label ?? [], Number);
    const scores = Float64Array.from(cols.score ?? [], Number);
    if (labels.length > 0) {
      const { metrics, confusion } = windowMetrics(labels, scores, threshold);
      const change: Partial<Record<MetricName, number>> = {};
      for (const m of METRIC_NAMES) if (Number.isFinite(metrics[m])) change[m] = metrics[m] - reference[m];
      const refSegments = new Map(
        (metricsFile.segments?.rows ?? []).map((r) => [`${r.dimension}\u0000${r.value}`, r] as const),
      );
      const dims = Object.fromEntries(SEED_FEATURE_SPEC.segments.map((d) => [d, (cols[d] ?? []).map(String)]));
      const segments = segmentMetrics(labels, scores, dims, {
        threshold,
        minCount: metricsFile.segments?.minCount ?? 100,
      }).rows.map((row): SegmentChange => {
        const r = refSegments.get(`${row.dimension}\u0000${row.value}`);
        return {
          ...row,
          referenceAccuracy: r?.accuracy ?? null,
          accuracyChange: r ? row.accuracy - r.accuracy : null,
          referenceRocAuc: r?.rocAuc ?? null,
        };
      });
      report = { ...report, labelled: true, rows: labels.length, current: metrics, change, confusion, segments };
    }
  }
  await writeWindowFile(ref, WINDOW_FILES.performance, `${JSON.stringify(report, null, 2)}\n`);
  return summarizePerformance(report);
}

export function summarizePerformance(report: PerformanceReport): PerformanceSummary {
  const metrics: PerformanceSummary['metrics'] = {};
  if (report.current)
    for (const m of METRIC_NAMES) {
      const change = report.change[m];
      if (change !== undefined) metrics[m] = { current: report.current[m], reference: report.reference[m], change };
    }
  return {
    labelled: report.labelled,
    rows: report.rows,
    metrics,
    flaggedSegments: report.segments.filter((s) => s.flagged).length,
  };
}

export async function readPerformanceReport(ref: WindowFolder): Promise<PerformanceReport> {
  return JSON.parse(await readWindowFile(ref, WINDOW_FILES.performance)) as PerformanceReport;
}
