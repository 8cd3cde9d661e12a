import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  historyEntrySchema,
  scheduleRecordSchema,
  type HistoryEntry,
  type ScheduleRecord,
} from '../../schemas/monitoring';
import { artifactRefSchema } from '../../schemas/run';
import { ensureDir, writeFileAtomic } from '../artifacts';
import { queryRows, sqlString, withDuckDb } from '../data/duck';
import { ArtifactIntegrityError } from '../errors';
import { authorize, type Credential } from '../governance';
import { sha256Hex } from '../hash';
import {
  pinnedSequence,
  pinSequence,
  RecordSignatureError,
  signRecord,
  verifySequencedRecord,
  type RecordSignature,
} from '../keys';
import { withFileLock } from '../lock';
import { dataDir } from '../paths';
import { assertRunId, MONITORING_DIR, resolveRunDir } from '../run';
import { z } from 'zod';

/**
 * Where monitoring results accumulate, per run: `monitoring/manifest.json` (every window's files with sha256) and
 * `monitoring/history.jsonl` (one summary line per window, the input of trend queries). Both are updated under one
 * cross-process lock, so windows finishing at once never lose each other's entries. The manifest is signed with the
 * keyring's key and holds the sha256 of the history's recorded lines; its `sequence` is pinned in the keyring. So
 * someone who can write the data directory but holds no key cannot change a window's files, its hash, a history
 * line, or put an older manifest back without every reader refusing it.
 */

const MONITORING_PIN = 'monitoring';

const monitoringManifestSchema = z
  .object({
    format: z.literal('access-perm/monitoring-manifest@2'),
    runId: z.string(),
    /** Grows with every window recorded; the keyring pins the latest. */
    sequence: z.number().int().nonnegative(),
    /** The history lines recorded so far: their count and the sha256 of those lines' bytes. */
    history: z.object({ lines: z.number().int().nonnegative(), sha256: z.string() }).strict(),
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

/**
 * The run's monitoring manifest, signature and sequence checked (an empty one while no window was recorded).
 * @throws RecordSignatureError naming the file when it is unsigned, edited, another run's, an older copy, or was
 *   deleted after windows were recorded.
 */
export async function readMonitoringManifest(runId: string, runDir: string): Promise<MonitoringManifest> {
  const path = monitoringManifestPath(runDir);
  const what = `the monitoring manifest of run ${runId} (${path})`;
  let raw: MonitoringManifest & { signature?: RecordSignature };
  try {
    raw = JSON.parse(await readFile(path, 'utf8')) as typeof raw;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (await pinnedSequence(MONITORING_PIN, runId))
      throw new RecordSignatureError(
        `${what} was deleted after windows were recorded (the keyring holds its sequence): restore it from a backup`,
      );
    return {
      format: 'access-perm/monitoring-manifest@2',
      runId,
      sequence: 0,
      history: { lines: 0, sha256: sha256Hex('') },
      windows: [],
    };
  }
  if (!raw.signature && (raw.format as string) === 'access-perm/monitoring-manifest@1')
    throw new RecordSignatureError(
      `${what} is not signed (written before monitoring records were signed, or outside access-perm): refused; move the run's monitoring folder aside to start a new signed history`,
    );
  const manifest = monitoringManifestSchema.parse(await verifySequencedRecord(raw, what, MONITORING_PIN, runId));
  if (manifest.runId !== runId)
    throw new RecordSignatureError(`${what} is the manifest of run ${manifest.runId}: refused`);
  return manifest;
}

/** The recorded history lines (bytes and entries) of a run whose manifest is `manifest`. */
async function recordedHistory(
  runDir: string,
  manifest: MonitoringManifest,
): Promise<{ text: string; entries: HistoryEntry[] }> {
  const { lines, sha256 } = manifest.history;
  let file = '';
  try {
    file = await readFile(historyPath(runDir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  // Lines past the recorded count are a write interrupted before its manifest (or planted): not part of the history.
  const kept = file.split('\n').slice(0, lines);
  const text = kept.length === lines && lines > 0 ? `${kept.join('\n')}\n` : '';
  if (sha256Hex(text) !== sha256)
    throw new ArtifactIntegrityError(
      `${historyPath(runDir)} of run ${manifest.runId} was changed after its windows were recorded (its ${lines} recorded lines no longer match the signed manifest): refused`,
    );
  return { text, entries: kept.filter((l) => l !== '').map((l) => historyEntrySchema.parse(JSON.parse(l))) };
}

/** Records a finished window: its files in the monitoring manifest (replacing a retried window's entry) and a history line. */
export async function recordWindow(
  runId: string,
  runDir: string,
  window: MonitoringManifestWindow,
  history: HistoryEntry,
): Promise<void> {
  const manifestPath = monitoringManifestPath(runDir);
  await ensureDir(join(runDir, MONITORING_DIR));
  await withFileLock(manifestPath, async () => {
    const manifest = await readMonitoringManifest(runId, runDir);
    const recorded = await recordedHistory(runDir, manifest);
    const windows = manifest.windows.filter((w) => w.windowId !== window.windowId);
    windows.push(window);
    const retried = recorded.entries.some((h) => h.window_id === history.window_id);
    const text = retried ? recorded.text : `${recorded.text}${JSON.stringify(historyEntrySchema.parse(history))}\n`;
    const next = monitoringManifestSchema.parse({
      ...manifest,
      sequence: manifest.sequence + 1,
      history: { lines: recorded.entries.length + (retried ? 0 : 1), sha256: sha256Hex(text) },
      windows,
    });
    // History first: until the signed manifest names its new line, readers keep to the lines it recorded.
    await writeFileAtomic(historyPath(runDir), text);
    await writeFileAtomic(manifestPath, `${JSON.stringify(await signRecord(next), null, 2)}\n`);
    await pinSequence(MONITORING_PIN, runId, next.sequence);
  });
}

/** Every recorded history line of a run, oldest first, checked against its signed monitoring manifest. */
export async function readHistory(runDir: string): Promise<HistoryEntry[]> {
  const runId = basename(runDir);
  return (await recordedHistory(runDir, await readMonitoringManifest(runId, runDir))).entries;
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

/** The monitoring trend as a user (view_monitoring: every role). */
export async function monitoringTrendAs(credential: Credential, runId: string, last?: number): Promise<TrendRow[]> {
  await authorize(credential, 'view_monitoring', { type: 'monitoring_window', runId: assertRunId(runId) });
  return monitoringTrend(runId, last);
}

/**
 * The run's monitoring trend, oldest first (only the last `last` windows when given): the trend SQL over a private
 * copy of the verified history lines, so the file cannot change between the check and the query.
 */
export async function monitoringTrend(runId: string, last?: number): Promise<TrendRow[]> {
  const runDir = await resolveRunDir(runId);
  const { text } = await recordedHistory(runDir, await readMonitoringManifest(runId, runDir));
  if (text === '') return [];
  const dir = await mkdtemp(join(tmpdir(), 'access-perm-trend-'));
  try {
    const file = join(dir, 'history.jsonl');
    await writeFile(file, text);
    const rows = await withDuckDb((conn) => queryRows(conn, trendSql(file, last)));
    return rows as unknown as TrendRow[];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- schedules

const SCHEDULES_PIN = 'monitoring-schedules';

/** Signed like the monitoring manifest: the plan names the data each nightly window reads. */
const schedulesDocSchema = z
  .object({
    version: z.literal(2),
    sequence: z.number().int().nonnegative(),
    schedules: z.record(z.string(), scheduleRecordSchema),
  })
  .strict();

/** `<dataDir>/monitoring/schedules.json`: the nightly schedules an ADMIN configured, by run id. */
export const schedulesPath = (): string => join(dataDir(), 'monitoring', 'schedules.json');

async function readSchedules(): Promise<z.infer<typeof schedulesDocSchema>> {
  const path = schedulesPath();
  const what = `the monitoring schedules (${path})`;
  let raw: z.infer<typeof schedulesDocSchema> & { signature?: RecordSignature };
  try {
    raw = JSON.parse(await readFile(path, 'utf8')) as typeof raw;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (await pinnedSequence(SCHEDULES_PIN, 'all'))
      throw new RecordSignatureError(
        `${what} were deleted (the keyring holds their sequence): restore the file from a backup`,
      );
    return { version: 2, sequence: 0, schedules: {} };
  }
  if (!raw.signature && (raw.version as number) === 1)
    throw new RecordSignatureError(
      `${what} are not signed (written before schedules were signed, or outside access-perm): refused; move the file aside and configure each schedule again with access-perm monitor schedule`,
    );
  return schedulesDocSchema.parse(await verifySequencedRecord(raw, what, SCHEDULES_PIN, 'all'));
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
  await ensureDir(join(dataDir(), 'monitoring'));
  return withFileLock(path, async () => {
    const doc = await readSchedules();
    const before = doc.schedules[record.runId] ?? null;
    const next = { ...doc, sequence: doc.sequence + 1 };
    next.schedules[record.runId] = scheduleRecordSchema.parse(record);
    await writeFileAtomic(path, `${JSON.stringify(await signRecord(next), null, 2)}\n`);
    await pinSequence(SCHEDULES_PIN, 'all', next.sequence);
    return before;
  });
}
