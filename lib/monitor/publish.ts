import { join, relative } from 'node:path';
import type { HistoryEntry, MonitoringAlert, MonitoringResult } from '../../schemas/monitoring';
import type { ArtifactRef } from '../../schemas/run';
import { readVerified, writeArtifact } from '../artifacts';
import { ArtifactIntegrityError, UnknownRunError } from '../errors';
import { authorize, type Credential } from '../governance';
import { assertRunId, readRunConfig, resolveRunDir } from '../run';
import { toHtml, type FigureFiles } from '../report/doc';
import { figureSvg, interactiveVegaSpec, renderVegaLite } from '../report/render';
import { alertsFor, raiseAlerts } from './alerts';
import {
  readDriftReport,
  readPerformanceReport,
  summarizeDrift,
  summarizePerformance,
  type PerformanceReport,
} from './analyze';
import type { DriftReport } from './drift';
import { trendFigure, windowFigures, windowReportBlocks } from './report';
import { readWindowScoring, scoredVersionDir } from './score';
import { readHistory, readMonitoringManifest, recordWindow } from './store';
import {
  WINDOW_FILES,
  raisedAlertKinds,
  readWindowInfo,
  recordRaisedAlert,
  recordedWindowArtifact,
  verifiedRunFile,
  type WindowInfo,
} from './window';
import type { WindowFolder } from './window';

/** `result.json` of a window: everything the HTML shows, as data. */
export interface WindowResultFile {
  format: 'access-perm/monitoring-result@1';
  runId: string;
  window: WindowInfo;
  drift: DriftReport;
  performance: PerformanceReport;
  alerts: MonitoringAlert[];
}

function historyEntry(
  info: WindowInfo,
  drift: DriftReport,
  performance: PerformanceReport,
  alerts: MonitoringAlert[],
  meanScore: number,
  paths: { html: string; json: string },
): HistoryEntry {
  const metrics = performance.current
    ? Object.fromEntries(Object.entries(performance.current).filter(([, v]) => Number.isFinite(v)))
    : null;
  return {
    window_id: info.windowId,
    label: info.label,
    monitored_at: info.startedAt,
    source: info.source,
    source_sha256: info.sourceSha256,
    rows: info.rows,
    labelled: info.labelled,
    dataset_drift: drift.dataset.drifted_dataset,
    drift_share: drift.dataset.share,
    drifted_features: drift.features.filter((f) => f.drifted).map((f) => f.column),
    target_drift: drift.target ? drift.target.drifted : null,
    prediction_drift: drift.prediction ? drift.prediction.drifted : null,
    mean_score: meanScore,
    approval_rate: drift.target ? drift.target.currentRate : null,
    feature_scores: Object.fromEntries(
      drift.features.map((f) => [f.column, { test: f.test, score: f.score, psi: f.psi }]),
    ),
    metrics,
    alerts: alerts.map((a) => a.kind),
    report_html: paths.html,
    report_json: paths.json,
  };
}

/**
 * Writes the window's report: figures (SVG + PNG), a self-contained `report.html` and `result.json`; raises the
 * alerts the run's alert rules give (audit + notification); then content-hashes the files into the run's monitoring
 * manifest and appends the window to the history. Alerts come before the record, so a recorded window has had its
 * alerts raised: stopping the workflow after this step (a terminate sent straight to Temporal) cannot silence them.
 */
export async function reportWindow(ref: WindowFolder): Promise<MonitoringResult> {
  const [config, info, drift, performance] = await Promise.all([
    readRunConfig(ref.runDir),
    readWindowInfo(ref),
    readDriftReport(ref),
    readPerformanceReport(ref),
  ]);
  const driftSummary = summarizeDrift(drift);
  const perfSummary = summarizePerformance(performance);
  const alerts = alertsFor(config, info.label, driftSummary, perfSummary);
  const rel = (file: string): string => relative(ref.runDir, join(ref.windowDir, file)).split('\\').join('/');
  const paths = { html: rel(WINDOW_FILES.html), json: rel(WINDOW_FILES.result) };
  const meanScore = drift.prediction?.currentMean ?? Number.NaN;
  const entry = historyEntry(info, drift, performance, alerts, meanScore, paths);
  const history = [...(await readHistory(ref.runDir)).filter((h) => h.window_id !== info.windowId), entry];

  const input = { runId: ref.runId, info, drift, performance, alerts, history };
  const artifacts: ArtifactRef[] = [];
  const figures: Record<string, FigureFiles> = {};
  for (const [name, spec] of Object.entries(windowFigures(input))) {
    if (!spec) continue;
    const { svg, png } = await renderVegaLite(spec);
    artifacts.push(await writeArtifact(ref.runDir, rel(`figures/${name}.svg`), svg, 'monitoring-figure'));
    artifacts.push(await writeArtifact(ref.runDir, rel(`figures/${name}.png`), png, 'monitoring-figure'));
    figures[name] = { svgPath: `figures/${name}.svg`, pngPath: `figures/${name}.png`, svg };
  }
  const html = toHtml(`Monitoring — ${ref.runId} — ${info.label}`, windowReportBlocks(input, figures), figures);
  const result: WindowResultFile = {
    format: 'access-perm/monitoring-result@1',
    runId: ref.runId,
    window: info,
    drift,
    performance,
    alerts,
  };
  const htmlRef = await writeArtifact(ref.runDir, paths.html, html, 'monitoring-report');
  const jsonRef = await writeArtifact(ref.runDir, paths.json, `${JSON.stringify(result)}\n`, 'monitoring-result');
  artifacts.push(htmlRef, jsonRef);
  await raiseWindowAlerts(ref, alerts);
  for (const file of [WINDOW_FILES.validation, WINDOW_FILES.scoring, WINDOW_FILES.drift, WINDOW_FILES.performance])
    artifacts.push(await recordedWindowArtifact(ref, file, 'monitoring-data'));
  await recordWindow(
    ref.runId,
    ref.runDir,
    {
      windowId: info.windowId,
      label: info.label,
      monitoredAt: info.startedAt,
      reference: (await verifiedRunFile(ref.runId, await scoredVersionDir(ref), 'monitoring-reference')).sha256,
      model: (await readWindowScoring(ref)).modelSha256,
      artifacts,
    },
    entry,
  );
  return {
    runId: ref.runId,
    windowId: info.windowId,
    label: info.label,
    rows: info.rows,
    drift: driftSummary,
    performance: perfSummary,
    alerts,
    report: { ...paths, sha256: htmlRef.sha256 },
  };
}

/**
 * The alert step: makes sure every alert of the recorded window was raised, raising (audit + notification) any that
 * was not, e.g. for a window whose report step ran on an earlier version, which left raising to this step. The alerts
 * are read from the result the signed monitoring manifest recorded (editing the file cannot drop one).
 */
export async function alertWindow(ref: WindowFolder): Promise<MonitoringAlert[]> {
  const result = JSON.parse(
    await recordedWindowFile(ref.runId, ref.runDir, ref.windowId, 'result'),
  ) as WindowResultFile;
  await raiseWindowAlerts(ref, result.alerts);
  return result.alerts;
}

/**
 * Raises the window's alerts that its signed ledger does not record as raised, recording each once it is out, so
 * a retried step raises nothing twice; the ledger, not the outbox, says what went out (lines planted in the outbox
 * cannot silence an alert).
 */
async function raiseWindowAlerts(ref: WindowFolder, alerts: MonitoringAlert[]): Promise<void> {
  const raised = await raisedAlertKinds(ref);
  await raiseAlerts(
    ref,
    alerts.filter((a) => !raised.has(a.kind)),
    join(ref.windowDir, WINDOW_FILES.html),
    (kind) => recordRaisedAlert(ref, kind),
  );
}

/**
 * The trend chart of a run's monitored windows (`view_monitoring`), from the same vega-lite spec as the window
 * reports' trend figure: as SVG, or as the compiled vega spec the console draws interactively. Null while fewer
 * than two windows are stored.
 */
export async function trendChartAs(
  credential: Credential,
  runId: string,
  format: 'svg' | 'vega' = 'svg',
): Promise<string | null> {
  await authorize(credential, 'view_monitoring', { type: 'monitoring_window', runId: assertRunId(runId) });
  const spec = trendFigure(await readHistory(await resolveRunDir(runId)));
  if (!spec) return null;
  return format === 'vega' ? interactiveVegaSpec(spec) : figureSvg(spec);
}

/**
 * One monitored window's result (its drift per feature, performance, calibration and alerts, as data) or its full
 * HTML report (`view_monitoring`), after checking the bytes against the run's monitoring manifest: a file changed
 * in the data directory since the window was recorded is refused, not shown.
 */
export async function windowFileAs(
  credential: Credential,
  runId: string,
  windowId: string,
  file: 'result' | 'html',
): Promise<string> {
  await authorize(credential, 'view_monitoring', {
    type: 'monitoring_window',
    id: windowId,
    runId: assertRunId(runId),
  });
  return recordedWindowFile(runId, await resolveRunDir(runId), windowId, file);
}

/** A window's result or HTML report, its bytes checked against the signed monitoring manifest. */
async function recordedWindowFile(
  runId: string,
  runDir: string,
  windowId: string,
  file: 'result' | 'html',
): Promise<string> {
  const window = (await readMonitoringManifest(runId, runDir)).windows.find((w) => w.windowId === windowId);
  if (!window) throw new UnknownRunError(`run ${runId} has no monitored window ${windowId}`);
  const role = file === 'result' ? 'monitoring-result' : 'monitoring-report';
  const ref = window.artifacts.find((a) => a.role === role);
  if (!ref) throw new ArtifactIntegrityError(`window ${windowId} of run ${runId}: the manifest lists no ${role}`);
  return (await readVerified(runDir, ref)).toString('utf8');
}
