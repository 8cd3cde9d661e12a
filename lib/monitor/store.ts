import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  historyEntrySchema,
  scheduleRecordSchema,
  type HistoryEntry,
  type ScheduleRecord,
} from '../../schemas/monitoring';
import { artifactRefSchema } from '../../schemas/run';
import { writeFileAtomic } from '../artifacts';
import { queryRows, sqlString, withDuckDb } from '../data/duck';
import { authorize, type Credential } from '../governance';
import { withFileLock } from '../lock';
import { dataDir } from '../paths';
import { assertRunId, MONITORING_DIR, resolveRunDir } from '../run';
import { z } from 'zod';

/**
 * Where monitoring results accumulate, per run: `monitoring/manifest.json` (every window's files with sha256) and
 * `monitoring/history.jsonl` (one summary line per window, the input of trend queries). Both are updated under one
 * cross-process lock, so windows finishing at once never lose each other's entries.
 */

const monitoringManifestSchema = z
  .object({
    format: z.literal('access-perm/monitoring-manifest@1'),
    runId: z.string(),
    windows: z.array(
      z
        .object({
          windowId: z.string(),
          label: z.string(),
          monitoredAt: z.string(),
          /** sha256 of the reference and model the window was compared with and scored by. */
          reference: z.string(),
          model: z.string(),
          artifacts: z.array(artifactRefSchema),
        })
        .strict(),
    ),
  })
  .strict();
export type MonitoringManifest = z.infer<typeof monitoringManifestSchema>;
export type MonitoringManifestWindow = MonitoringManifest['windows'][number];

export const monitoringManifestPath = (runDir: string): string => join(runDir, MONITORING_DIR, 'manifest.json');
export const historyPath = (runDir: string): string => join(runDir, MONITORING_DIR, 'history.jsonl');

export async function readMonitoringManifest(runId: string, runDir: string): Promise<MonitoringManifest> {
  try {
    return monitoringManifestSchema.parse(JSON.parse(await readFile(monitoringManifestPath(runDir), 'utf8')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      return { format: 'access-perm/monitoring-manifest@1', runId, windows: [] };
    throw e;
  }
}

/** Records a finished window: its files in the monitoring manifest (replacing a retried window's entry) and a history line. */
export async function recordWindow(
  runId: string,
  runDir: string,
  window: MonitoringManifestWindow,
  history: HistoryEntry,
): Promise<void> {
  const manifestPath = monitoringManifestPath(runDir);
  await mkdir(join(runDir, MONITORING_DIR), { recursive: true });
  await withFileLock(manifestPath, async () => {
    const manifest = await readMonitoringManifest(runId, runDir);
    const windows = manifest.windows.filter((w) => w.windowId !== window.windowId);
    windows.push(window);
    await writeFileAtomic(
      manifestPath,
      `${JSON.stringify(monitoringManifestSchema.parse({ ...manifest, windows }), null, 2)}\n`,
    );
    const existing = await readHistory(runDir);
    if (!existing.some((h) => h.window_id === history.window_id))
      await appendFile(historyPath(runDir), `${JSON.stringify(historyEntrySchema.parse(history))}\n`);
  });
}

/** Every history line of a run, oldest first. */
export async function readHistory(runDir: string): Promise<HistoryEntry[]> {
  let text: string;
  try {
    text = await readFile(historyPath(runDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => historyEntrySchema.parse(JSON.parse(l)));
}

/** One row of the trend across windows: what `access-perm monitor history` prints. */
export interface TrendRow {
  window_id: string;
  monitored_at: string;
  label: string;
  rows: number;
  dataset_drift: boolean;
  drift_share: number;
  drifted_features: number;
  target_drift: boolean | null;
  prediction_drift: boolean | null;
  mean_score: number;
  approval_rate: number | null;
  roc_auc: number | null;
  accuracy: number | null;
  /** Brier score of the window's labelled rows: calibration and sharpness in one number (lower is better). */
  brier: number | null;
  alerts: number;
  report_html: string;
}

/**
 * The trend SQL over a history file: one query, runnable as is in any DuckDB (README shows it). Explicit column
 * types keep it stable when early windows had no labels (metrics null).
 */
export function trendSql(historyFile: string, last?: number): string {
  const source = `read_json(${sqlString(historyFile)}, format = 'newline_delimited', columns = {
      window_id: 'VARCHAR', monitored_at: 'VARCHAR', label: 'VARCHAR', rows: 'BIGINT', dataset_drift: 'BOOLEAN', drift_share: 'DOUBLE',
      drifted_features: 'VARCHAR[]', target_drift: 'BOOLEAN', prediction_drift: 'BOOLEAN', mean_score: 'DOUBLE',
      approval_rate: 'DOUBLE', metrics: 'JSON', alerts: 'VARCHAR[]', report_html: 'VARCHAR'})`;
  const select = `SELECT window_id, monitored_at, label, rows, dataset_drift, drift_share, len(drifted_features) AS drifted_features,
      target_drift, prediction_drift, mean_score, approval_rate,
      CAST(metrics->>'rocAuc' AS DOUBLE) AS roc_auc, CAST(metrics->>'accuracy' AS DOUBLE) AS accuracy,
      CAST(metrics->>'brier' AS DOUBLE) AS brier, len(alerts) AS alerts, report_html
    FROM ${source}`;
  return last === undefined
    ? `${select} ORDER BY monitored_at`
    : `SELECT * FROM (${select} ORDER BY monitored_at DESC LIMIT ${Math.trunc(last)}) ORDER BY monitored_at`;
}

/** The run's monitoring trend, oldest first (optionally only the last `last` windows). */
/** The monitoring trend as a user (view_monitoring: every role). */
export async function monitoringTrendAs(credential: Credential, runId: string, last?: number): Promise<TrendRow[]> {
  await authorize(credential, 'view_monitoring', { type: 'monitoring_window', runId: assertRunId(runId) });
  return monitoringTrend(runId, last);
}

export async function monitoringTrend(runId: string, last?: number): Promise<TrendRow[]> {
  const runDir = await resolveRunDir(runId);
  const file = historyPath(runDir);
  if ((await readHistory(runDir)).length === 0) return [];
  const rows = await withDuckDb((conn) => queryRows(conn, trendSql(file, last)));
  return rows as unknown as TrendRow[];
}

// ---------------------------------------------------------------- schedules

const schedulesDocSchema = z
  .object({ version: z.literal(1), schedules: z.record(z.string(), scheduleRecordSchema) })
  .strict();

/** `<dataDir>/monitoring/schedules.json`: the nightly schedules an ADMIN configured, by run id. */
export const schedulesPath = (): string => join(dataDir(), 'monitoring', 'schedules.json');

async function readSchedules(): Promise<z.infer<typeof schedulesDocSchema>> {
  try {
    return schedulesDocSchema.parse(JSON.parse(await readFile(schedulesPath(), 'utf8')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, schedules: {} };
    throw e;
  }
}

/** The registered monitoring schedule of a run, or null. */
export async function monitoringSchedule(runId: string): Promise<ScheduleRecord | null> {
  return (await readSchedules()).schedules[assertRunId(runId)] ?? null;
}

/**
 * Whether a nightly monitoring schedule is configured for the run (one of the conditions for locking it).
 * @example if (!(await hasMonitoringSchedule(runId))) throw new Error('configure monitoring first');
 */
export async function hasMonitoringSchedule(runId: string): Promise<boolean> {
  return (await monitoringSchedule(runId)) !== null;
}

/** Registers (or replaces) a run's schedule record; returns the previous one. */
export async function registerSchedule(record: ScheduleRecord): Promise<ScheduleRecord | null> {
  const path = schedulesPath();
  await mkdir(join(dataDir(), 'monitoring'), { recursive: true });
  return withFileLock(path, async () => {
    const doc = await readSchedules();
    const before = doc.schedules[record.runId] ?? null;
    doc.schedules[record.runId] = scheduleRecordSchema.parse(record);
    await writeFileAtomic(path, `${JSON.stringify(doc, null, 2)}\n`);
    return before;
  });
}
