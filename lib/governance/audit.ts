import { chmod, copyFile, mkdir, open, readdir, readFile, rename, stat } from 'node:fs/promises';
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
} from '../../schemas/governance';
import { writeFileAtomic } from '../artifacts';
import { canonicalJson, sha256File, sha256Hex } from '../hash';
import { AuditWriteError, GovernanceError } from './errors';
import { governanceDir, withLock } from './store';

export const ACTIVE_FILE = 'audit_log.jsonl';
const ARCHIVE_DIR = 'archive';
const HEAD_FILE = 'head.json';
const SEGMENT = /^audit_log\.(\d{6})\.jsonl$/;

/** The live audit folder: `<dataDir>/governance/audit` (active file, archive/ segments, head.json). */
export const auditDir = (): string => join(governanceDir(), 'audit');
export const auditLogPath = (): string => join(auditDir(), ACTIVE_FILE);

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

/** The hash of an entry: sha256 over the canonical JSON of every field except `hash` (prev_hash included). */
export function entryHash(entry: Omit<AuditEntry, 'hash'> & { hash?: string }): string {
  const { hash: _omit, ...rest } = entry;
  return sha256Hex(canonicalJson(rest));
}

// ---------------------------------------------------------------------------------------------------------------
// Files of the chain

interface HeadSegment {
  file: string;
  entries: number;
  last_hash: string;
  sha256: string;
}

/** head.json: where the chain ends, so removing entries at the end (or whole segments) is detected too. */
interface Head {
  version: 1;
  entries: number;
  last_hash: string;
  last_audit_id: string | null;
  segments: HeadSegment[];
}

const emptyHead = (): Head => ({ version: 1, entries: 0, last_hash: GENESIS_HASH, last_audit_id: null, segments: [] });

async function writeHead(dir: string, head: Head): Promise<void> {
  await writeFileAtomic(join(dir, HEAD_FILE), `${JSON.stringify(head, null, 2)}\n`);
  await chmod(join(dir, HEAD_FILE), 0o600);
}

async function readHead(dir: string): Promise<Head | null> {
  try {
    return JSON.parse(await readFile(join(dir, HEAD_FILE), 'utf8')) as Head;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new GovernanceError(`audit head ${join(dir, HEAD_FILE)} is unreadable: ${(e as Error).message}`);
  }
}

/** The archived segments of a log folder, in chain order. */
async function segmentFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(join(dir, ARCHIVE_DIR));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => SEGMENT.test(n))
    .sort()
    .map((n) => join(dir, ARCHIVE_DIR, n));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Every file of the chain in order: archive segments, then the active file (when it exists). */
export async function auditFiles(dir = auditDir()): Promise<string[]> {
  const files = await segmentFiles(dir);
  const active = join(dir, ACTIVE_FILE);
  if (await exists(active)) files.push(active);
  return files;
}

/** The last complete line of a file, reading backwards; null for a missing or empty file. */
async function lastLine(path: string): Promise<string | null> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const size = (await fh.stat()).size;
    if (size === 0) return null;
    const tail = Buffer.alloc(1);
    await fh.read(tail, 0, 1, size - 1);
    if (tail[0] !== 0x0a)
      throw new AuditWriteError(`audit log ${path} ends with a partial line: run \`access-perm audit verify\``);
    const chunks: Buffer[] = [];
    let pos = size - 1;
    while (pos > 0) {
      const len = Math.min(65536, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, pos);
      chunks.unshift(buf);
      const all = Buffer.concat(chunks);
      const nl = all.lastIndexOf(0x0a);
      if (nl >= 0) return all.subarray(nl + 1).toString('utf8');
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await fh.close();
  }
}

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

async function countLines(path: string): Promise<number> {
  const text = await readFile(path, 'utf8');
  return text.length === 0 ? 0 : text.split('\n').length - 1;
}

/** Moves the active file into archive/ as the next segment and records it in head.json. Caller holds the lock. */
async function rotateLocked(dir: string): Promise<HeadSegment | null> {
  const active = join(dir, ACTIVE_FILE);
  if (!(await exists(active)) || (await stat(active)).size === 0) return null;
  const head = (await readHead(dir)) ?? emptyHead();
  const segments = await segmentFiles(dir);
  const lastNo = segments.length > 0 ? Number(SEGMENT.exec(basename(segments[segments.length - 1]!))![1]) : 0;
  const name = `audit_log.${String(lastNo + 1).padStart(6, '0')}.jsonl`;
  await mkdir(join(dir, ARCHIVE_DIR), { recursive: true, mode: 0o700 });
  const tip = await chainTip(dir);
  const target = join(dir, ARCHIVE_DIR, name);
  await rename(active, target);
  const segment: HeadSegment = {
    file: `${ARCHIVE_DIR}/${name}`,
    entries: await countLines(target),
    last_hash: tip.hash,
    sha256: await sha256File(target),
  };
  head.segments.push(segment);
  await writeHead(dir, head);
  return segment;
}

async function appendLocked(input: AuditInput): Promise<AuditEntry> {
  const dir = auditDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const now = new Date().toISOString();
  let tip = await chainTip(dir);
  // Daily rotation: the first entry of a new UTC day starts a new file; the chain continues across files.
  if (tip.inActive && tip.timestamp && dayOf(tip.timestamp) !== dayOf(now)) {
    await rotateLocked(dir);
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
  const line = `${JSON.stringify(draft)}\n`;
  const fh = await open(join(dir, ACTIVE_FILE), 'a', 0o600);
  try {
    await fh.write(line);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const head = (await readHead(dir)) ?? emptyHead();
  head.entries += 1;
  head.last_hash = entry.hash;
  head.last_audit_id = entry.audit_id;
  await writeHead(dir, head);
  return entry;
}

/**
 * Appends one entry to the audit log: stamps UTC timestamp, audit_id and the hash chain, checks the invariants,
 * and writes it under a cross-process lock with fsync, so concurrent writers never interleave or lose entries.
 * `ip_address` is dropped unless ACCESS_PERM_AUDIT_IP_ADDRESS=1.
 *
 * @example await appendAudit({ user_id: 'ana', user_role: 'MODELER', action: 'bin_override', status: 'success', ... })
 */
export async function appendAudit(input: AuditInput): Promise<AuditEntry> {
  return withLock('audit', () => appendLocked(input));
}

// ---------------------------------------------------------------------------------------------------------------
// Verification

export const TAMPER = {
  malformed: 'malformed',
  edited: 'edited',
  removed: 'removed',
  reordered: 'reordered',
} as const;
export type TamperKind = (typeof TAMPER)[keyof typeof TAMPER];

export interface VerifyProblem {
  kind: TamperKind;
  file: string;
  /** 1-based line in `file`; 0 when the problem is a whole file or the end of the chain. */
  line: number;
  audit_id: string | null;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  dir: string;
  files: string[];
  entries: number;
  /** The first bad entry, in chain order. */
  problem: VerifyProblem | null;
  warnings: string[];
}

interface Loaded {
  file: string;
  line: number;
  raw: string;
  entry: Record<string, unknown> | null;
}

/**
 * Walks every file of the chain in order and checks each entry's hash, its link to the entry before, and the
 * end of the chain against head.json. Reports the first bad entry: edited (hash mismatch), removed (link to an
 * entry that is not there), reordered (link to an entry that comes later) or malformed.
 */
export async function verifyAudit(dir = auditDir()): Promise<VerifyReport> {
  const files = await auditFiles(dir);
  const loaded: Loaded[] = [];
  const fail = (problem: VerifyProblem): VerifyReport => ({
    ok: false,
    dir,
    files,
    entries: loaded.length,
    problem,
    warnings: [],
  });
  const head = await readHead(dir);
  // Whole segments recorded in head.json must still exist.
  for (const seg of head?.segments ?? []) {
    if (!files.includes(join(dir, seg.file)))
      return fail({
        kind: TAMPER.removed,
        file: seg.file,
        line: 0,
        audit_id: null,
        message: `segment ${seg.file} (${seg.entries} entries) was removed`,
      });
  }
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) {
      const n = text.split('\n').length;
      return fail({
        kind: TAMPER.malformed,
        file,
        line: n,
        audit_id: null,
        message: `line ${n} of ${basename(file)} is incomplete (a torn write or an edit)`,
      });
    }
    const lines = text.length === 0 ? [] : text.slice(0, -1).split('\n');
    lines.forEach((raw, i) => {
      let entry: Record<string, unknown> | null = null;
      try {
        const v = JSON.parse(raw) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) entry = v as Record<string, unknown>;
      } catch {
        entry = null;
      }
      loaded.push({ file, line: i + 1, raw, entry });
    });
  }
  const position = new Map<string, number>();
  loaded.forEach((l, i) => {
    if (typeof l.entry?.hash === 'string') position.set(l.entry.hash, i);
  });
  let expectedPrev = GENESIS_HASH;
  for (let i = 0; i < loaded.length; i++) {
    const l = loaded[i]!;
    const where = { file: l.file, line: l.line };
    const auditId = typeof l.entry?.audit_id === 'string' ? l.entry.audit_id : null;
    const at = `${basename(l.file)} line ${l.line}${auditId ? ` (${auditId})` : ''}`;
    if (!l.entry)
      return fail({ kind: TAMPER.malformed, ...where, audit_id: null, message: `${at} is not a JSON object` });
    const parsed = auditEntrySchema.safeParse(l.entry);
    if (!parsed.success)
      return fail({
        kind: TAMPER.malformed,
        ...where,
        audit_id: auditId,
        message: `${at} is not a valid entry: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
      });
    const e = parsed.data;
    if (entryHash(l.entry as AuditEntry) !== e.hash)
      return fail({
        kind: TAMPER.edited,
        ...where,
        audit_id: auditId,
        message: `${at} was edited: its content no longer matches its hash`,
      });
    if (e.prev_hash !== expectedPrev) {
      const target = position.get(e.prev_hash);
      if (target !== undefined && target > i)
        return fail({
          kind: TAMPER.reordered,
          ...where,
          audit_id: auditId,
          message: `${at} is out of order: it follows an entry that now comes later (${basename(loaded[target]!.file)} line ${loaded[target]!.line})`,
        });
      if (target !== undefined)
        return fail({
          kind: TAMPER.reordered,
          ...where,
          audit_id: auditId,
          message: `${at} is out of order: the entry it follows is at ${basename(loaded[target]!.file)} line ${loaded[target]!.line}`,
        });
      return fail({
        kind: TAMPER.removed,
        ...where,
        audit_id: auditId,
        message: `the entry before ${at} was removed or rewritten: its prev_hash matches no entry`,
      });
    }
    expectedPrev = e.hash;
  }
  const warnings: string[] = [];
  if (head && head.last_hash !== expectedPrev) {
    const headPos = position.get(head.last_hash);
    if (headPos !== undefined && headPos < loaded.length - 1) {
      warnings.push(
        `head.json is ${loaded.length - 1 - headPos} entries behind the log (a writer stopped between append and head update)`,
      );
    } else {
      const missing = head.entries - loaded.length;
      const last = loaded[loaded.length - 1];
      return fail({
        kind: TAMPER.removed,
        file: last?.file ?? join(dir, ACTIVE_FILE),
        line: 0,
        audit_id: head.last_audit_id,
        message: `${missing > 0 ? `${missing} ` : ''}entries at the end of the log were removed: the chain should end at ${head.last_audit_id ?? 'an entry'} (hash ${head.last_hash.slice(0, 12)}…)`,
      });
    }
  }
  if (!head && loaded.length > 0) warnings.push('head.json is missing: removal of the last entries cannot be checked');
  return { ok: true, dir, files, entries: loaded.length, problem: null, warnings };
}

// ---------------------------------------------------------------------------------------------------------------
// Backup / rotation

export interface BackupReport {
  dest: string;
  rotated: string | null;
  copied: string[];
  unchanged: string[];
  segments: number;
  entries: number;
}

/** Where `audit backup` writes by default: `<dataDir>/governance/backups/audit`. */
export const defaultBackupDir = (): string => join(governanceDir(), 'backups', 'audit');

/**
 * Daily backup: rotates the active file into a new archive segment (segments are immutable; the next file's first
 * prev_hash is the previous file's last hash), then copies new segments and head.json to `dest`. A segment already
 * in `dest` with other bytes is an error (one of the two copies was changed). `dest` verifies with `audit verify --dir`.
 */
export async function backupAudit(dest = defaultBackupDir()): Promise<BackupReport> {
  return withLock('audit', async () => {
    const dir = auditDir();
    const rotated = await rotateLocked(dir);
    await mkdir(join(dest, ARCHIVE_DIR), { recursive: true, mode: 0o700 });
    const copied: string[] = [];
    const unchanged: string[] = [];
    const head = (await readHead(dir)) ?? emptyHead();
    for (const seg of head.segments) {
      const from = join(dir, seg.file);
      const to = join(dest, seg.file);
      if (await exists(to)) {
        if ((await sha256File(to)) !== (await sha256File(from)))
          throw new GovernanceError(
            `backup ${to} differs from ${from}: one of them was changed; run audit verify on both`,
          );
        unchanged.push(seg.file);
        continue;
      }
      await copyFile(from, `${to}.tmp`);
      await rename(`${to}.tmp`, to);
      copied.push(seg.file);
    }
    await writeHead(dest, head);
    return {
      dest,
      rotated: rotated?.file ?? null,
      copied,
      unchanged,
      segments: head.segments.length,
      entries: head.entries,
    };
  });
}
