import { readFile, stat } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import type { AccessPermConfig } from '../../schemas/config';
import type { MonitoringWindow, WindowRef } from '../../schemas/monitoring';
import type { ArtifactRef, RunManifest } from '../../schemas/run';
import { artifactPath, ensureDir, readVerified, verifyArtifact, writeFileAtomic } from '../artifacts';
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
import { sha256File, sha256Hex } from '../hash';
import { RecordSignatureError, signRecord, verifyRecord, type RecordSignature } from '../keys';
import { withFileLock } from '../lock';
import { refuseLinksInDataDir } from '../paths';
import { readMonitoringManifest } from './store';
import { MONITORING_DIR, readRunConfig, resolveRunDir, tryManifest } from '../run';

/** A window with its folders resolved: what the monitoring steps work on. */
export interface WindowFolder extends WindowRef {
  runDir: string;
  /** `<runDir>/monitoring/windows/<windowId>`. */
  windowDir: string;
  /**
   * The workflow execution (run id) a step runs for, when a workflow runs it: the window belongs to the execution
   * that loaded it, and another one under the same workflow id (started again on the Temporal server to redo a
   * finished window's later steps) is refused.
   */
  execution?: string;
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

type WindowFileName = (typeof WINDOW_FILES)[keyof typeof WINDOW_FILES];

/**
 * `files.json` of a window: the sha256 and size of every file a step wrote, signed with the keyring's key. Each step
 * reads what the steps before it wrote through it, so a file edited between two steps (drift.json made to say "no
 * drift" before the report and alert steps read it) is refused, not reported.
 */
const LEDGER_FILE = 'files.json';

interface WindowLedger {
  format: 'access-perm/window-files@1';
  runId: string;
  windowId: string;
  /** The execution that loaded the window (absent in ledgers written before executions were recorded). */
  execution?: string;
  files: Record<string, { sha256: string; bytes: number }>;
  /** The alert kinds raised for the window so far: a retried step raises each once. */
  alerts?: string[];
}

async function readLedger(ref: WindowFolder): Promise<WindowLedger> {
  const path = join(ref.windowDir, LEDGER_FILE);
  const what = `the file record of monitoring window ${ref.windowId} of run ${ref.runId} (${path})`;
  let raw: WindowLedger & { signature?: RecordSignature };
  try {
    raw = JSON.parse(await readFile(path, 'utf8')) as typeof raw;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new ArtifactIntegrityError(`${what} is missing: the window's files cannot be trusted`);
  }
  const ledger = await verifyRecord(raw, what);
  if (ledger.runId !== ref.runId || ledger.windowId !== ref.windowId)
    throw new RecordSignatureError(`${what} belongs to window ${ledger.windowId} of run ${ledger.runId}: refused`);
  if (ref.execution && ledger.execution && ledger.execution !== ref.execution)
    throw new FolderWriteRefusedError(
      `monitoring window ${ref.windowId} of run ${ref.runId} belongs to the execution that loaded it (${ledger.execution}), not ${ref.execution}: a window is never redone`,
    );
  return ledger;
}

/** Changes the window's signed ledger under its lock (`fresh`: starts a new one, for the window's first file). */
async function updateLedger(ref: WindowFolder, change: (ledger: WindowLedger) => void, fresh = false): Promise<void> {
  const path = join(ref.windowDir, LEDGER_FILE);
  await withFileLock(ref.windowDir, async () => {
    const ledger: WindowLedger = fresh
      ? {
          format: 'access-perm/window-files@1',
          runId: ref.runId,
          windowId: ref.windowId,
          ...(ref.execution ? { execution: ref.execution } : {}),
          files: {},
        }
      : await readLedger(ref);
    change(ledger);
    await writeFileAtomic(path, `${JSON.stringify(await signRecord(ledger), null, 2)}\n`);
  });
}

/** The alert kinds already raised for the window, as its signed ledger records them. */
export async function raisedAlertKinds(ref: WindowFolder): Promise<Set<string>> {
  return new Set((await readLedger(ref)).alerts ?? []);
}

/** Records in the window's signed ledger that an alert of `kind` was raised. */
export async function recordRaisedAlert(ref: WindowFolder, kind: string): Promise<void> {
  await updateLedger(ref, (ledger) => {
    ledger.alerts = [...new Set([...(ledger.alerts ?? []), kind])];
  });
}

/** Records the sha256 of a window file in the signed ledger (`fresh`: the window's first file, a new ledger). */
async function recordInLedger(ref: WindowFolder, name: WindowFileName, bytes: Buffer, fresh = false): Promise<void> {
  await updateLedger(
    ref,
    (ledger) => {
      ledger.files[name] = { sha256: sha256Hex(bytes), bytes: bytes.length };
    },
    fresh,
  );
}

/** Writes a window file and records it in the window's signed ledger. */
export async function writeWindowFile(ref: WindowFolder, name: WindowFileName, text: string): Promise<void> {
  await writeFileAtomic(join(ref.windowDir, name), text);
  await recordInLedger(ref, name, Buffer.from(text));
}

/** Records a window file another writer produced (DuckDB's Parquet COPY). */
export async function sealWindowFile(ref: WindowFolder, name: WindowFileName): Promise<void> {
  const path = join(ref.windowDir, name);
  await refuseLinksInDataDir(path, { self: true });
  await recordInLedger(ref, name, await readFile(path));
}

/** The window file's artifact ref as the ledger recorded it. */
async function ledgerArtifact(ref: WindowFolder, name: WindowFileName, role: string): Promise<ArtifactRef> {
  const recorded = (await readLedger(ref)).files[name];
  if (!recorded) throw new ArtifactIntegrityError(`window ${ref.windowId} of run ${ref.runId} has no recorded ${name}`);
  return { path: relative(ref.runDir, join(ref.windowDir, name)).split('\\').join('/'), role, ...recorded };
}

/** The window file as recorded in the ledger: its artifact ref, after checking the file's bytes. */
export async function recordedWindowArtifact(
  ref: WindowFolder,
  name: WindowFileName,
  role: string,
): Promise<ArtifactRef> {
  const artifact = await ledgerArtifact(ref, name, role);
  await verifyArtifact(ref.runDir, artifact);
  return artifact;
}

/** A window file's text, checked against the window's signed ledger. */
export async function readWindowFile(ref: WindowFolder, name: WindowFileName): Promise<string> {
  return (await readVerified(ref.runDir, await ledgerArtifact(ref, name, 'monitoring-data'))).toString('utf8');
}

/** Where DuckDB reads a window table, after checking the file against the window's signed ledger. */
export async function verifiedWindowTable(ref: WindowFolder, name: WindowFileName): Promise<string> {
  await recordedWindowArtifact(ref, name, 'monitoring-data');
  return join(ref.windowDir, name);
}

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
  const manifest = await tryManifest(runDir);
  if (!manifest) throw new UnknownRunError(`run ${runId} has no manifest: only completed runs can be monitored`);
  return manifest;
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
  // A finished window is history: a workflow started again under its id does not rewrite it (the signed monitoring
  // manifest says which windows are recorded; a result file removed from the folder does not reopen one).
  const recorded = (await readMonitoringManifest(ref.runId, ref.runDir)).windows.some(
    (w) => w.windowId === ref.windowId,
  );
  if (recorded || (await fileExists(join(ref.windowDir, WINDOW_FILES.result))))
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
  await ensureDir(ref.windowDir);
  const text = `${JSON.stringify(info, null, 2)}\n`;
  await writeFileAtomic(join(ref.windowDir, WINDOW_FILES.info), text);
  await recordInLedger(ref, WINDOW_FILES.info, Buffer.from(text), true);
  return info;
}

export async function readWindowInfo(ref: WindowFolder): Promise<WindowInfo> {
  return JSON.parse(await readWindowFile(ref, WINDOW_FILES.info)) as WindowInfo;
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
    await writeWindowFile(ref, WINDOW_FILES.validation, `${JSON.stringify(report, null, 2)}\n`);
    if (!report.success)
      throw new DataValidationError(
        `monitoring window ${info.label} breaks the scoring contract: ${describeFailures(report)} — report: ${reportPath}`,
        'requests',
        reportPath,
      );
    return { rows: info.rows, success: true as const };
  });
}
