import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  AUDIT_ID,
  auditEntrySchema,
  GENESIS_HASH,
  MANUAL_ACTIONS,
  MUTATION_ACTIONS,
  RUN_SCOPED_RESOURCES,
  type AuditEntry,
  type AuditInput,
  type ResolvedIdentity,
} from '../../schemas/governance';
import { appendText, ensureDir } from '../artifacts';
import { sha256File, sha256Hex } from '../hash';
import { refuseLinksInDataDir } from '../paths';
import { keyringPublicKeys } from '../keys';
import { readSettings } from '../settings';
import {
  ACTIVE_FILE,
  ARCHIVE_DIR,
  auditDir,
  entryHash,
  exists,
  lastLine,
  SEGMENT,
  segmentFiles,
  segmentName,
} from './auditLog';
import { examineLog, keyringProblem } from './auditVerify';
import {
  appendCheckpoint,
  CHECKPOINTS_FILE,
  readCheckpoints,
  readKeyringCheckpoint,
  saveKeyringCheckpoint,
  signCheckpoint,
  type Checkpoint,
} from './checkpoints';
import { AuditWriteError, GovernanceError } from './errors';
import { leafHash, rootHash } from './merkle';
import { governanceDir, withLock } from './storeDir';

export { ACTIVE_FILE, auditDir, auditFiles, auditLogPath, entryHash } from './auditLog';

/** Set to 1 to keep `ip_address` in entries (seed-3 §4 shows it; an IP address is personal data, so off by default). */
export const IP_OPT_IN_ENV = 'ACCESS_PERM_AUDIT_IP_ADDRESS';

// ---------------------------------------------------------------------------------------------------------------
// Invariants

/** Key fragments never allowed anywhere in an entry (compared lowercase, without '_' or '-'). */
export const DENIED_KEY_FRAGMENTS = [
  'token',
  'secret',
  'password',
  'passwd',
  'authorization',
  'apikey',
  'privatekey',
  'credential',
  'cookie',
  'email',
  'phone',
  'ssn',
  'ipaddress',
] as const;

const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}/;
const BEARER = /\bbearer\s+[A-Za-z0-9._~+/-]{8,}/i;
const EMAIL_LIKE = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/;

function scanForSecrets(value: unknown, path: string, problems: string[], topLevel: boolean): void {
  if (typeof value === 'string') {
    if (JWT_LIKE.test(value) || BEARER.test(value)) problems.push(`${path} holds a token`);
    else if (EMAIL_LIKE.test(value)) problems.push(`${path} holds an e-mail address (PII)`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => scanForSecrets(v, `${path}[${i}]`, problems, false));
    return;
  }
  if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      const normal = key.toLowerCase().replace(/[^a-z0-9]/g, '');
      const allowedIp = topLevel && key === 'ip_address';
      if (!allowedIp && DENIED_KEY_FRAGMENTS.some((f) => normal.includes(f)))
        problems.push(`${path ? `${path}.` : ''}${key} is a denied key (secrets and PII are never logged)`);
      else scanForSecrets(v, path ? `${path}.${key}` : key, problems, false);
    }
  }
}

/**
 * Checks an entry against the seed-3 §4 invariants; throws AuditWriteError listing every problem.
 * Schema (exact fields, UTC timestamp, non-empty user_id), denylist of secret/PII keys and token-looking values,
 * reason for manual actions, before/after for mutations, correlation id for run-scoped resources.
 */
export function checkAuditEntry(entry: unknown): AuditEntry {
  const problems: string[] = [];
  const parsed = auditEntrySchema.safeParse(entry);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.') || '(entry)'}: ${issue.message}`);
  }
  scanForSecrets(entry, '', problems, true);
  if (parsed.success) {
    const e = parsed.data;
    if ((MANUAL_ACTIONS as readonly string[]).includes(e.action) && !e.reason?.trim())
      problems.push(`reason is required for the manual action ${e.action}`);
    if (
      (MUTATION_ACTIONS as readonly string[]).includes(e.action) &&
      e.status === 'success' &&
      (e.before == null || e.after == null)
    )
      problems.push(`before and after are required for the mutation ${e.action}`);
    if (e.resource_type && (RUN_SCOPED_RESOURCES as readonly string[]).includes(e.resource_type) && !e.correlation_id)
      problems.push(`correlation_id (the run id) is required for resource_type ${e.resource_type}`);
  }
  if (problems.length > 0) throw new AuditWriteError(`audit entry rejected: ${problems.join('; ')}`);
  return parsed.data as AuditEntry;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

interface Tip {
  hash: string;
  auditId: string | null;
  timestamp: string | null;
  /** True when the tip is in the active file (false: the active file is empty or missing). */
  inActive: boolean;
}

async function chainTip(dir: string): Promise<Tip> {
  const activeLine = await lastLine(join(dir, ACTIVE_FILE));
  const segments = await segmentFiles(dir);
  const line = activeLine ?? (segments.length > 0 ? await lastLine(segments[segments.length - 1]!) : null);
  if (line === null) return { hash: GENESIS_HASH, auditId: null, timestamp: null, inActive: false };
  let parsed: { hash?: unknown; audit_id?: unknown; timestamp?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    throw new AuditWriteError('the last audit entry is not valid JSON: run `access-perm audit verify`');
  }
  if (typeof parsed.hash !== 'string' || typeof parsed.audit_id !== 'string')
    throw new AuditWriteError('the last audit entry has no hash: run `access-perm audit verify`');
  return {
    hash: parsed.hash,
    auditId: parsed.audit_id,
    timestamp: typeof parsed.timestamp === 'string' ? parsed.timestamp : null,
    inActive: activeLine !== null,
  };
}

const dayOf = (iso: string): string => iso.slice(0, 10).replaceAll('-', '');

function nextAuditId(tip: Tip, now: string): string {
  const day = dayOf(now);
  const m = tip.auditId ? AUDIT_ID.exec(tip.auditId) : null;
  const seq = m && m[1] === day ? Number(m[2]) + 1 : 1;
  const writer = String(process.pid % 100000).padStart(5, '0');
  return `audit_${day}_${String(seq).padStart(3, '0')}_${writer}`;
}

/** Moves the active file into archive/ as the next segment; its name, or null when there was nothing to move. */
async function rotateLocked(dir: string): Promise<string | null> {
  const active = join(dir, ACTIVE_FILE);
  if (!(await exists(active)) || (await stat(active)).size === 0) return null;
  const segments = await segmentFiles(dir);
  const lastNo = segments.length > 0 ? Number(SEGMENT.exec(basename(segments[segments.length - 1]!))![1]) : 0;
  await ensureDir(join(dir, ARCHIVE_DIR), 0o700);
  const name = `${ARCHIVE_DIR}/${segmentName(lastNo + 1)}`;
  await refuseLinksInDataDir(active);
  await rename(active, join(dir, name));
  return name;
}

/** Why a write failed, in words, for the errors people are likely to meet. */
const WRITE_FAILURES: Record<string, string> = {
  ENOSPC: 'the disk is full (ENOSPC)',
  EDQUOT: 'the disk quota is exceeded (EDQUOT)',
  EROFS: 'the file system is read-only (EROFS)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
};

/** Stamps, checks and appends one entry (fsynced); the caller holds the audit lock. */
async function writeEntryLocked(dir: string, input: AuditInput): Promise<AuditEntry> {
  const now = new Date().toISOString();
  let tip = await chainTip(dir);
  // Daily rotation: the first entry of a new UTC day starts a new file; the chain continues across files.
  if (tip.inActive && tip.timestamp && dayOf(tip.timestamp) !== dayOf(now)) {
    await rotateLocked(dir);
    await checkpointQuietly('rotation');
    tip = await chainTip(dir);
  }
  const { ip_address, ...rest } = input;
  const keepIp = process.env[IP_OPT_IN_ENV] === '1' && ip_address !== undefined;
  // Field order follows seed-3 §4; the hash is over canonical (sorted) JSON, so order does not affect it.
  const draft: Record<string, unknown> = {
    timestamp: now,
    audit_id: nextAuditId(tip, now),
    correlation_id: rest.correlation_id ?? null,
    user_id: rest.user_id,
    user_role: rest.user_role,
    action: rest.action,
    resource_type: rest.resource_type ?? null,
    resource_id: rest.resource_id ?? null,
    status: rest.status,
    before: rest.before ?? null,
    after: rest.after ?? null,
    reason: rest.reason ?? null,
    ...(keepIp ? { ip_address } : {}),
    source: rest.source ?? 'cli',
    duration_ms: rest.duration_ms ?? null,
    result: rest.result ?? null,
    temporary_role: rest.temporary_role ?? false,
  };
  for (const [k, v] of Object.entries(rest)) if (!(k in draft) && v !== undefined) draft[k] = v;
  draft.prev_hash = tip.hash;
  draft.hash = entryHash(draft as Omit<AuditEntry, 'hash'>);
  const entry = checkAuditEntry(draft);
  const path = join(dir, ACTIVE_FILE);
  try {
    await appendText(path, `${JSON.stringify(draft)}\n`, { mode: 0o600, sync: true });
  } catch (e) {
    // A link planted in place of the log (or of a folder on its way) is refused with its own message.
    if ((e as Error).name === 'PathOutsideError')
      throw new AuditWriteError(`cannot write the audit log ${path}: ${(e as Error).message}`);
    const code = (e as NodeJS.ErrnoException).code;
    const why = code ? (WRITE_FAILURES[code] ?? code) : (e as Error).message;
    throw new AuditWriteError(`cannot write the audit log ${path}: ${why}`);
  }
  return entry;
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoints

/** Thrown when the log fails verification, so no checkpoint is signed over it. */
export class AuditIntegrityError extends GovernanceError {
  override name = 'AuditIntegrityError';
}

/**
 * Signs a checkpoint of the live log as it is now; the caller holds the audit lock. The log is verified first (its
 * chain, every checkpoint, and the keyring's copy of the latest), so a tampered log is never signed. A `migration`
 * checkpoint first audits the migration (the chain as it stood verified, now covered by signatures).
 */
async function checkpointLocked(reason: Checkpoint['reason']): Promise<Checkpoint> {
  const dir = auditDir();
  const { leaves, checkpoints, problem } = await examineLog(dir, await keyringPublicKeys());
  const kept = problem ?? keyringProblem(dir, await readKeyringCheckpoint(), checkpoints);
  if (kept) throw new AuditIntegrityError(`the audit log is not checkpointed, it fails verification: ${kept.message}`);
  if (reason === 'migration') {
    await writeEntryLocked(dir, {
      user_id: 'system',
      user_role: 'SYSTEM',
      action: 'audit_log_migrated',
      resource_type: 'audit_log',
      status: 'success',
      source: 'system',
      result: 'completed',
      details: {
        entries: leaves.length,
        note: 'hash chain verified as it stood, covered by signed checkpoints from now',
      },
    });
    leaves.push(leafHash((await lastLine(join(dir, ACTIVE_FILE)))!));
  }
  const checkpoint = await signCheckpoint(leaves.length, rootHash(leaves), reason);
  await appendCheckpoint(dir, checkpoint);
  await saveKeyringCheckpoint(checkpoint);
  return checkpoint;
}

/** A log written before checkpoints existed: entries, and no checkpoint in the folder or the keyring. */
async function needsMigration(dir: string): Promise<boolean> {
  if (await readKeyringCheckpoint()) return false;
  return (await readCheckpoints(dir)).length === 0 && (await chainTip(dir)).hash !== GENESIS_HASH;
}

/**
 * A checkpoint where a failure must not stop the caller (an entry is already written): warns on stderr instead.
 * `when` decides whether one is due (always, by default).
 */
async function checkpointQuietly(
  reason: Checkpoint['reason'],
  when: () => Promise<boolean> = async () => true,
): Promise<void> {
  try {
    if (await when()) await checkpointLocked(reason);
  } catch (e) {
    process.stderr.write(`access-perm: warning: ${(e as Error).message}\n`);
  }
}

/** Whether the live log's latest checkpoint (as the keyring keeps it) is older than the configured interval. */
async function checkpointDue(): Promise<boolean> {
  const kept = await readKeyringCheckpoint();
  if (!kept) return true;
  const minutes = (await readSettings()).audit.checkpoint_interval_minutes;
  return Date.now() - Date.parse(kept.timestamp) >= minutes * 60_000;
}

/**
 * Signs a checkpoint of the live log now (`audit checkpoint`, the worker's timer); migrates a log from before
 * checkpoints. Needs the keyring's private key.
 * @throws AuditIntegrityError when the log fails verification.
 */
export async function checkpointAudit(reason: Checkpoint['reason'] = 'manual'): Promise<Checkpoint> {
  return withLock('audit', async () => {
    const dir = auditDir();
    await ensureDir(dir, 0o700);
    return checkpointLocked((await needsMigration(dir)) ? 'migration' : reason);
  });
}

/**
 * Keeps the live log checkpointed while a long-running process holding the key runs (the worker, the scoring
 * service): every minute, signs a checkpoint when the latest is older than the interval, so entries written by
 * short-lived processes (the CLI) do not wait longer than that, and quiet periods still get fresh signed heads.
 * Returns a function that stops it.
 */
export function keepAuditCheckpointed(
  onError: (e: unknown) => void = (e) => process.stderr.write(`access-perm: warning: ${(e as Error).message}\n`),
): () => void {
  let running = false;
  const tick = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      if ((await exists(auditDir())) && (await checkpointDue())) await checkpointAudit('interval');
    } catch (e) {
      onError(e);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), 60_000);
  timer.unref();
  return () => clearInterval(timer);
}

/** The audit fields that say who acted: the user, the role in force, and whether it is a temporary one. */
export const actorFields = (identity: Pick<ResolvedIdentity, 'userId' | 'role' | 'temporaryRole'>) => ({
  user_id: identity.userId,
  user_role: identity.role,
  temporary_role: identity.temporaryRole ?? false,
});

/**
 * Audits that a signed record written before records of its kind were sequenced was accepted as it stood (`text`,
 * by its sha256) and pinned at sequence 1: from then on an older copy is refused.
 */
export async function auditAdoption(
  action: AuditInput['action'],
  resource: Pick<AuditInput, 'resource_type' | 'resource_id'>,
  text: string,
  note: string,
): Promise<void> {
  await appendAudit({
    user_id: 'system',
    user_role: 'SYSTEM',
    action,
    ...resource,
    status: 'success',
    source: 'system',
    result: 'completed',
    details: { sha256: sha256Hex(text), sequence: 1, note },
  });
}

/**
 * Appends one entry to the audit log: stamps UTC timestamp, audit_id and the hash chain, checks the invariants,
 * and writes it under a cross-process lock with fsync, so concurrent writers never interleave or lose entries.
 * When the latest checkpoint is older than the interval, signs a new one (the writer holds the keyring); a log from
 * before checkpoints is migrated first.
 * `ip_address` is dropped unless ACCESS_PERM_AUDIT_IP_ADDRESS=1.
 *
 * @example await appendAudit({ user_id: 'ana', user_role: 'MODELER', action: 'bin_override', status: 'success', ... })
 */
export async function appendAudit(input: AuditInput): Promise<AuditEntry> {
  return withLock('audit', async () => {
    const dir = auditDir();
    await ensureDir(dir, 0o700);
    if (await needsMigration(dir)) await checkpointQuietly('migration');
    const entry = await writeEntryLocked(dir, input);
    // The entry is written: nothing after it may fail the caller's action (a bad settings.json included).
    await checkpointQuietly('interval', checkpointDue);
    return entry;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Backup / rotation

export interface BackupReport {
  dest: string;
  rotated: string | null;
  copied: string[];
  unchanged: string[];
  segments: number;
  /** Entries the latest checkpoint covers: all of them, since the backup checkpoints after rotating. */
  entries: number;
}

/**
 * Copies `from` to `to` through a temporary file, so `to` is whole or absent; a failed copy leaves nothing. The temp
 * file is created exclusively under a random name (a link planted there is not written through).
 */
async function copyInPlace(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await refuseLinksInDataDir(to);
    await copyFile(from, tmp, constants.COPYFILE_EXCL);
    await rename(tmp, to);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Where `audit backup` writes by default: `<dataDir>/governance/backups/audit`. */
export const defaultBackupDir = (): string => join(governanceDir(), 'backups', 'audit');

/**
 * Daily backup: rotates the active file into a new archive segment (segments are immutable; the next file's first
 * prev_hash is the previous file's last hash), signs a checkpoint over everything, then copies new segments and the
 * checkpoints to `dest`. A segment already in `dest` with other bytes is an error (one of the two copies was
 * changed). `dest` verifies on its own: `audit verify --dir DEST` (with `--public-key` off this machine).
 * @throws AuditIntegrityError when the live log fails verification (nothing is copied).
 */
export async function backupAudit(dest = defaultBackupDir()): Promise<BackupReport> {
  return withLock('audit', async () => {
    const dir = auditDir();
    await ensureDir(dir, 0o700);
    // A log from before checkpoints is migrated first, so the migration entry is in the segment being backed up.
    if (await needsMigration(dir)) await checkpointLocked('migration');
    const rotated = await rotateLocked(dir);
    const checkpoint = await checkpointLocked(rotated ? 'rotation' : 'manual');
    await ensureDir(join(dest, ARCHIVE_DIR), 0o700);
    const copied: string[] = [];
    const unchanged: string[] = [];
    const segments = await segmentFiles(dir);
    for (const from of segments) {
      const name = `${ARCHIVE_DIR}/${basename(from)}`;
      const to = join(dest, name);
      if (await exists(to)) {
        if ((await sha256File(to)) !== (await sha256File(from)))
          throw new GovernanceError(
            `backup ${to} differs from ${from}: one of them was changed; run audit verify on both`,
          );
        unchanged.push(name);
        continue;
      }
      await copyInPlace(from, to);
      copied.push(name);
    }
    await copyInPlace(join(dir, CHECKPOINTS_FILE), join(dest, CHECKPOINTS_FILE));
    return { dest, rotated, copied, unchanged, segments: segments.length, entries: checkpoint.tree_size };
  });
}
