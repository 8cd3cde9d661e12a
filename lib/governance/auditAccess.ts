import type { AuditEntry, AuditQuery } from '../../schemas/governance';
import { appendAudit, backupAudit, checkpointAudit, type BackupReport } from './audit';
import { proveEntry, verifyAudit, type EntryProof, type VerifyOptions, type VerifyReport } from './auditVerify';
import type { Checkpoint } from './checkpoints';
import { parseAuditQuery, queryAudit, renderAudit } from './auditQuery';
import { authorize, type Credential } from './authorize';

/** Audit queries as a user (view_audit_logs: ANALYST and above, VALIDATOR, ADMIN). */
export async function queryAuditAs(
  credential: Credential,
  filters: AuditQuery | Record<string, unknown>,
): Promise<AuditEntry[]> {
  const q = parseAuditQuery(filters as Record<string, unknown>);
  await authorize(credential, 'view_audit_logs', { type: 'audit_log' });
  return queryAudit(q);
}

/** Verifies the log as a user (view_audit_logs); `options.dir` checks a backup folder instead of the live log. */
export async function verifyAuditAs(credential: Credential, options: VerifyOptions = {}): Promise<VerifyReport> {
  await authorize(credential, 'view_audit_logs', { type: 'audit_log' });
  return verifyAudit(options);
}

/** An entry's inclusion proof against the latest checkpoint (view_audit_logs). */
export async function proveEntryAs(credential: Credential, auditId: string): Promise<EntryProof> {
  await authorize(credential, 'view_audit_logs', { type: 'audit_log' });
  return proveEntry(auditId);
}

/** Signs a checkpoint of the live log now (manage_backups: ADMIN); the checkpoint is what is returned. */
export async function checkpointAuditAs(credential: Credential): Promise<Checkpoint> {
  await authorize(credential, 'manage_backups', { type: 'audit_log' });
  return checkpointAudit('manual');
}

/** Exports matching entries as JSONL or CSV (export_audit_logs: VALIDATOR, ADMIN). The export itself is audited. */
export async function exportAuditAs(
  credential: Credential,
  filters: AuditQuery | Record<string, unknown>,
  format: 'jsonl' | 'csv',
): Promise<{ content: string; entries: number }> {
  const q = parseAuditQuery(filters as Record<string, unknown>);
  const actor = await authorize(credential, 'export_audit_logs', { type: 'audit_log' });
  const entries = await queryAudit(q);
  await appendAudit({
    user_id: actor.userId,
    user_role: actor.role,
    action: 'audit_export',
    resource_type: 'audit_log',
    status: 'success',
    source: credential.source ?? 'cli',
    result: 'completed',
    temporary_role: actor.temporaryRole ?? false,
    details: { format, entries: entries.length, filters: q },
  });
  return { content: renderAudit(entries, format), entries: entries.length };
}

/** Rotates and backs up the log (manage_backups: ADMIN). Audited as `audit_backup` after the rotation. */
export async function backupAuditAs(credential: Credential, dest?: string): Promise<BackupReport> {
  const actor = await authorize(credential, 'manage_backups', { type: 'audit_log' });
  const started = Date.now();
  const report = await backupAudit(dest);
  await appendAudit({
    user_id: actor.userId,
    user_role: actor.role,
    action: 'audit_backup',
    resource_type: 'audit_log',
    resource_id: report.dest,
    status: 'success',
    source: credential.source ?? 'cli',
    duration_ms: Date.now() - started,
    result: 'completed',
    temporary_role: actor.temporaryRole ?? false,
    details: { rotated: report.rotated, copied: report.copied.length, segments: report.segments },
  });
  return report;
}
