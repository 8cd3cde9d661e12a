/**
 * The audit log's files as they lie on disk: archived segments (`archive/audit_log.NNNNNN.jsonl`, numbered from 1
 * with no gaps) then the active `audit_log.jsonl`; every line an entry, every entry a leaf of the Merkle tree the
 * checkpoints sign. Reading only: the writer is audit.ts, the verifier auditVerify.ts.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEntry } from '../../schemas/governance';
import { canonicalJson, sha256Hex } from '../hash';
import { AuditWriteError } from './errors';
import { governanceDir } from './storeDir';

export const ACTIVE_FILE = 'audit_log.jsonl';
export const ARCHIVE_DIR = 'archive';
export const SEGMENT = /^audit_log\.(\d{6})\.jsonl$/;
export const segmentName = (n: number): string => `audit_log.${String(n).padStart(6, '0')}.jsonl`;

/** The live audit folder: `<dataDir>/governance/audit` (active file, archive/ segments, checkpoints.jsonl). */
export const auditDir = (): string => join(governanceDir(), 'audit');
export const auditLogPath = (): string => join(auditDir(), ACTIVE_FILE);

/** The hash of an entry: sha256 over the canonical JSON of every field except `hash` (prev_hash included). */
export function entryHash(entry: Omit<AuditEntry, 'hash'> & { hash?: string }): string {
  const { hash: _omit, ...rest } = entry;
  return sha256Hex(canonicalJson(rest));
}

/** The archived segments of a log folder, in chain order. */
export async function segmentFiles(dir: string): Promise<string[]> {
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

export async function exists(path: string): Promise<boolean> {
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
export async function lastLine(path: string): Promise<string | null> {
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

/** One line of the log, where it is, and the entry it parses to (null when it is not a JSON object). */
export interface LogLine {
  file: string;
  line: number;
  raw: string;
  entry: Record<string, unknown> | null;
}

export interface LoadedLog {
  files: string[];
  lines: LogLine[];
  /** A file whose last line is incomplete (a torn write or an edit), with that line's number. */
  partial: { file: string; line: number } | null;
}

/** Every line of every file of a log folder, in order. */
export async function readAuditLog(dir = auditDir()): Promise<LoadedLog> {
  const files = await auditFiles(dir);
  const lines: LogLine[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n'))
      return { files, lines, partial: { file, line: text.split('\n').length } };
    const raws = text.length === 0 ? [] : text.slice(0, -1).split('\n');
    raws.forEach((raw, i) => {
      let entry: Record<string, unknown> | null = null;
      try {
        const v = JSON.parse(raw) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) entry = v as Record<string, unknown>;
      } catch {
        entry = null;
      }
      lines.push({ file, line: i + 1, raw, entry });
    });
  }
  return { files, lines, partial: null };
}
