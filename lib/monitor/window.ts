import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { AccessPermConfig } from '../../schemas/config';
import type { MonitoringWindow, WindowRef } from '../../schemas/monitoring';
import type { RunManifest } from '../../schemas/run';
import { artifactPath, writeFileAtomic } from '../artifacts';
import { queryRows, sqlString, withDuckDb } from '../data/duck';
import { describeFailures, runExpectations, type Expectation } from '../data/expectations';
import { fileExists, loadCsvAsText, rawSuites } from '../data/raw';
import {
  ArtifactIntegrityError,
  DataValidationError,
  FolderWriteRefusedError,
  InputError,
  UnknownRunError,
} from '../errors';
import { sha256File } from '../hash';
import { MONITORING_DIR, readManifest, readRunConfig, resolveRunDir } from '../run';

/** A window with its folders resolved: what the monitoring steps work on. */
export interface WindowFolder extends WindowRef {
  runDir: string;
  /** `<runDir>/monitoring/windows/<windowId>`. */
  windowDir: string;
}

/** Files of one window, relative to its folder. */
export const WINDOW_FILES = {
  info: 'window.json',
  validation: 'validation.json',
  scored: 'scored.parquet',
  /** Which model scored the window: its version and the sha256 of the ONNX graph used. */
  scoring: 'scoring.json',
  drift: 'drift.json',
  performance: 'performance.json',
  result: 'result.json',
  html: 'report.html',
} as const;

export interface WindowInfo {
  windowId: string;
  label: string;
  source: string;
  sourceSha256: string;
  /** Whether the CSV has the label column `permission` (then performance is measured). */
  labelled: boolean;
  rows: number;
  startedAt: string;
  /** Who asked for the window: a user id, or `system:monitoring-schedule`. */
  requestedBy: string;
}

const WINDOW_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$/;

/** A window id from a workflow id: the characters a folder name can take. */
export function windowIdOf(workflowId: string): string {
  const id = workflowId.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  if (!WINDOW_ID.test(id) || id.includes('..')) throw new InputError(`cannot derive a window id from ${workflowId}`);
  return id;
}

/** Resolves a window reference to its folders, inside the run's folder. */
export async function windowFolder(ref: WindowRef): Promise<WindowFolder> {
  const runDir = await resolveRunDir(ref.runId);
  const windowId = windowIdOf(ref.windowId);
  return { runId: ref.runId, runDir, windowId, windowDir: join(runDir, MONITORING_DIR, 'windows', windowId) };
}

/** A completed run's manifest; monitoring needs the manifest to verify the model and the reference it reads. */
export async function completedRunManifest(runId: string, runDir: string): Promise<RunManifest> {
  if (!(await fileExists(runDir))) throw new UnknownRunError(`unknown run ${runId}: no run folder at ${runDir}`);
  try {
    return await readManifest(runDir);
  } catch {
    throw new UnknownRunError(`run ${runId} has no manifest: only completed runs can be monitored`);
  }
}

/**
 * The path of a run artifact after checking its bytes against the run manifest (by role), so monitoring never
 * reads a reference or model that changed since training.
 */
export async function verifiedRunFile(
  runId: string,
  runDir: string,
  role: string,
): Promise<{ path: string; sha256: string }> {
  const manifest = await completedRunManifest(runId, runDir);
  const ref = manifest.artifacts.find((a) => a.role === role);
  if (!ref) throw new ArtifactIntegrityError(`run ${runId}: the manifest lists no ${role} artifact`);
  const path = artifactPath(runDir, ref);
  const actual = await sha256File(path);
  if (actual !== ref.sha256)
    throw new ArtifactIntegrityError(`artifact ${ref.path} was modified: sha256 ${actual} ≠ recorded ${ref.sha256}`);
  return { path, sha256: actual };
}

/**
 * The first step of a window: checks the run can be monitored, records where the window came from (path, sha256,
 * whether it is labelled) in `window.json`. Idempotent for one window id (a retried activity rewrites the same file).
 */
export async function loadWindow(
  ref: WindowFolder,
  window: MonitoringWindow,
  requestedBy: string,
): Promise<WindowInfo> {
  // A finished window is history: a workflow started again under its id does not rewrite it.
  if (await fileExists(join(ref.windowDir, WINDOW_FILES.result)))
    throw new FolderWriteRefusedError(`window ${ref.windowId} of run ${ref.runId} is complete: it is never rewritten`);
  await verifiedRunFile(ref.runId, ref.runDir, 'monitoring-reference');
  const source = resolve(window.current);
  if (!(await fileExists(source)) || !(await stat(source)).isFile())
    throw new InputError(`monitoring window: file not found: ${source}`);
  const { rows, header } = await withDuckDb(async (conn) => {
    const csv = `read_csv(${sqlString(source)}, header = true, all_varchar = true)`;
    const columns = await queryRows(conn, `DESCRIBE SELECT * FROM ${csv}`);
    const [r] = await queryRows(conn, `SELECT count(*) AS n FROM ${csv}`);
    return { rows: Number(r?.n ?? 0), header: columns.map((c) => String(c.column_name)) };
  }).catch((e: Error) => {
    throw new InputError(`monitoring window: malformed CSV ${source} — ${e.message.split('\n')[0]}`);
  });
  const startedAt = new Date().toISOString();
  const info: WindowInfo = {
    windowId: ref.windowId,
    label: window.label ?? `${basename(source)} ${startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    source,
    sourceSha256: await sha256File(source),
    labelled: header.includes('permission'),
    rows,
    startedAt,
    requestedBy,
  };
  await mkdir(ref.windowDir, { recursive: true });
  await writeFileAtomic(join(ref.windowDir, WINDOW_FILES.info), `${JSON.stringify(info, null, 2)}\n`);
  return info;
}

export async function readWindowInfo(ref: WindowFolder): Promise<WindowInfo> {
  return JSON.parse(await readFile(join(ref.windowDir, WINDOW_FILES.info), 'utf8')) as WindowInfo;
}

/** The scoring contract of a window: the submission suite of the raw contracts, plus a 0/1 label when present. */
export function scoringContract(config: AccessPermConfig): Expectation[] {
  return [
    ...rawSuites(config).submission,
    { type: 'expect_column_values_to_be_in_set', column: 'permission', values: ['0', '1'] },
  ];
}

/**
 * Validates the window against the scoring contract; the report goes to `validation.json` and a failure is a
 * DataValidationError naming the expectation and example lines.
 */
export async function validateWindow(ref: WindowFolder): Promise<{ rows: number; success: true }> {
  const info = await readWindowInfo(ref);
  const config = await readRunConfig(ref.runDir);
  return withDuckDb(async (conn) => {
    await loadCsvAsText(conn, 'requests', info.source);
    const report = await runExpectations(conn, 'requests', info.source, scoringContract(config));
    const reportPath = join(ref.windowDir, WINDOW_FILES.validation);
    await writeFileAtomic(reportPath, `${JSON.stringify(report, null, 2)}\n`);
    if (!report.success)
      throw new DataValidationError(
        `monitoring window ${info.label} breaks the scoring contract: ${describeFailures(report)} — report: ${reportPath}`,
        'requests',
        reportPath,
      );
    return { rows: info.rows, success: true as const };
  });
}
