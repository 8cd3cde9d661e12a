/**
 * Reading a run's artifacts out, for people: the scoring spec, the model card, the report and any artifact of any
 * model version, each verified against its version's manifest (a changed file is refused by name). Every role may
 * download and read a model card or report; a VIEWER may not export a scoring spec (seed-3 §2).
 */
import { basename, join, resolve as resolvePath } from 'node:path';
import type { AuditEntry, Permission } from '../../schemas/governance';
import { OVERRIDE_AUDIT_ACTION } from '../../schemas/lifecycle';
import type { ArtifactRef } from '../../schemas/run';
import { readVerified } from '../artifacts';
import { UnknownRunError } from '../errors';
import { authorize, queryAudit, type Credential } from '../governance';
import { dataDir } from '../paths';
import { actorOf, auditRunAction } from './access';
import { exportBundle } from './lock';
import { writeRunReport } from '../report';
import {
  assertRunId,
  MODEL_CARD_FILE,
  MODEL_FILE,
  REPORT_DIR,
  resolveRunDir,
  resolveVersion,
  tryManifest,
} from '../run';

/** One artifact read out: where it came from and its verified bytes. */
export interface ExportedArtifact {
  runId: string;
  version: number;
  artifact: ArtifactRef;
  content: Buffer;
}

/** The artifacts of a version, from its manifest (authorised for `permission` before the run is looked up). */
async function versionArtifacts(
  credential: Credential,
  permission: Permission,
  runId: string,
  version: number | undefined,
): Promise<{ version: number; dir: string; artifacts: ArtifactRef[] }> {
  await authorize(credential, permission, { type: 'run', id: assertRunId(runId) });
  const resolved = await resolveVersion(runId, await resolveRunDir(runId), version);
  const manifest = await tryManifest(resolved.dir);
  if (!manifest)
    throw new UnknownRunError(
      `run ${runId} version ${resolved.version} has no manifest: it is not finished (or it failed)`,
    );
  return { ...resolved, artifacts: manifest.artifacts };
}

async function exportOne(
  credential: Credential,
  permission: Permission,
  runId: string,
  path: string,
  version: number | undefined,
): Promise<ExportedArtifact> {
  const v = await versionArtifacts(credential, permission, runId, version);
  const artifact = v.artifacts.find((a) => a.path === path);
  if (!artifact) {
    const near = v.artifacts.filter((a) => basename(a.path) === basename(path)).map((a) => a.path);
    throw new UnknownRunError(
      `run ${runId} version ${v.version} has no artifact ${JSON.stringify(path.slice(0, 200))}${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}; list them with access-perm artifacts ${runId}${version ? ` --version ${version}` : ''}`,
    );
  }
  return { runId, version: v.version, artifact, content: await readVerified(v.dir, artifact) };
}

/** Every artifact of a version, with role, size and sha256 (download_artifacts: every role). */
export async function listArtifactsAs(credential: Credential, runId: string, version?: number) {
  const { version: resolved, artifacts } = await versionArtifacts(credential, 'download_artifacts', runId, version);
  return { runId, version: resolved, artifacts };
}

/** One artifact by its path in the manifest (download_artifacts: every role). */
export const downloadArtifactAs = (credential: Credential, runId: string, path: string, version?: number) =>
  exportOne(credential, 'download_artifacts', runId, path, version);

/** The JSON scoring spec (`model/model.json`: trees, borders, CTR tables, threshold) (ANALYST and up). */
export const exportScoringSpecAs = (credential: Credential, runId: string, version?: number) =>
  exportOne(credential, 'export_scoring_spec', runId, MODEL_FILE, version);

/** The model card (every role). */
export const exportModelCardAs = (credential: Credential, runId: string, version?: number) =>
  exportOne(credential, 'export_model_card', runId, MODEL_CARD_FILE, version);

/** The report as written by the pipeline, Markdown or self-contained HTML (view_reports: every role). */
export const viewReportAs = (credential: Credential, runId: string, format: 'md' | 'html', version?: number) =>
  exportOne(credential, 'view_reports', runId, join(REPORT_DIR, `report.${format}`), version);

/**
 * Writes a version's report, model card and figures again, into `out` (default `<data dir>/reports/<run>`, or
 * `<run>-v<n>` for a later version); the run folder is left unchanged (generate_report: ANALYST, MODELER, ADMIN).
 */
export async function generateReportAs(
  credential: Credential,
  runId: string,
  options: { version?: number; out?: string } = {},
) {
  await authorize(credential, 'generate_report', { type: 'run', id: assertRunId(runId) });
  const { version, dir } = await resolveVersion(runId, await resolveRunDir(runId), options.version);
  const out = options.out ?? join(dataDir(), 'reports', version === 1 ? runId : `${runId}-v${version}`);
  return { runId, version, ...(await writeRunReport(dir, out)) };
}

/** The audit actions of a run's overrides and their reviews (seed-3 "View override audit trail"). */
const OVERRIDE_TRAIL = new Set([...Object.values(OVERRIDE_AUDIT_ACTION), 'override_approved', 'override_rejected']);

/** Every override of a run and every review of one, from the audit log, oldest first (view_override_audit: every role). */
export async function overrideAuditAs(credential: Credential, runId: string): Promise<AuditEntry[]> {
  await authorize(credential, 'view_override_audit', { type: 'run', id: assertRunId(runId) });
  return (await queryAudit({ run_id: runId })).filter((e) => OVERRIDE_TRAIL.has(e.action));
}

/**
 * The deployment bundle of a locked run approved for deployment, written to `outDir` (export_run: MODELER,
 * VALIDATOR, ADMIN); audited as `run_exported` with the files.
 */
export async function exportBundleAs(credential: Credential, runId: string, outDir: string): Promise<string[]> {
  const who = await authorize(credential, 'export_run', { type: 'run', id: assertRunId(runId) });
  const files = await exportBundle(await resolveRunDir(runId), outDir);
  await auditRunAction(actorOf(who), runId, {
    action: 'run_exported',
    resource_type: 'run',
    resource_id: runId,
    status: 'success',
    source: credential.source ?? 'cli',
    result: 'exported',
    details: { out: resolvePath(outDir), files: files.map((f) => basename(f)) },
  });
  return files;
}
