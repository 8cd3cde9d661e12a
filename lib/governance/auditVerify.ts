/**
 * Verifying the audit log with public keys only: each entry's hash and link to the entry before (which names the
 * first edited, removed or reordered entry), then every signed checkpoint's signature and Merkle root over the
 * entries it covers (which catches a log rewritten end to end, hashes and all), the keyring's copy of the latest
 * checkpoint (which catches removed checkpoints), and an auditor's saved checkpoint (which catches everything else:
 * the log must have only grown from it). Entries after the last checkpoint are the unsigned tail, reported.
 */
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { auditEntrySchema, GENESIS_HASH } from '../../schemas/governance';
import { keyringPublicKeys, publicKeysFrom } from '../keys';
import { readSettings } from '../settings';
import {
  auditDir,
  entryHash,
  readAuditLog,
  SEGMENT,
  segmentFiles,
  segmentName,
  ARCHIVE_DIR,
  type LoadedLog,
} from './auditLog';
import {
  checkpointSignatureProblem,
  CHECKPOINTS_FILE,
  parseCheckpoint,
  readCheckpoints,
  readKeyringCheckpoint,
  type Checkpoint,
} from './checkpoints';
import { GovernanceError } from './errors';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  MerkleAccumulator,
  rootHash,
  verifyConsistency,
  verifyInclusion,
} from './merkle';

export const TAMPER = {
  malformed: 'malformed',
  edited: 'edited',
  removed: 'removed',
  reordered: 'reordered',
  /** The log no longer matches a signed checkpoint: rewritten, hashes and all. */
  rewritten: 'rewritten',
  /** A checkpoint whose signature does not hold. */
  forged: 'forged',
  /** Entries no valid checkpoint covers, when that is not allowed. */
  unsigned: 'unsigned',
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

export interface CheckpointSummary {
  tree_size: number;
  root_hash: string;
  timestamp: string;
  key_id: string;
}

export interface VerifyReport {
  ok: boolean;
  dir: string;
  files: string[];
  entries: number;
  /** Valid signed checkpoints, and the latest of them. */
  checkpoints: number;
  latest: CheckpointSummary | null;
  /** Entries after the latest checkpoint: no signature covers them yet. */
  unsigned: { entries: number; oldest: string | null };
  /** The saved checkpoint of `--since`, and the consistency proof from it to the latest checkpoint. */
  since: { tree_size: number; timestamp: string; proof: string[] } | null;
  /** The first problem, in chain order. */
  problem: VerifyProblem | null;
  warnings: string[];
}

export interface VerifyOptions {
  /** A log folder (a backup, an auditor's copy); the live log by default. */
  dir?: string;
  /** PEM public keys to check signatures with, instead of the keyring's (an auditor needs nothing else). */
  publicKeys?: readonly string[];
  /** A checkpoint saved earlier (a file): the log must contain it unchanged and have only grown since. */
  since?: string;
  /** Fail when any entry is not yet covered by a checkpoint. */
  strict?: boolean;
}

const summary = (c: Checkpoint): CheckpointSummary => ({
  tree_size: c.tree_size,
  root_hash: c.root_hash,
  timestamp: c.timestamp,
  key_id: c.signature.key_id,
});

const idOf = (entry: Record<string, unknown> | null): string | null =>
  typeof entry?.audit_id === 'string' ? entry.audit_id : null;

/** What a log folder holds, checked: its lines, their leaf hashes, its valid checkpoints, and its first problem. */
export interface ExaminedLog {
  log: LoadedLog;
  leaves: Buffer[];
  checkpoints: Checkpoint[];
  problem: VerifyProblem | null;
}

/** The segment numbers must run 1, 2, … with no gap: a removed segment is named even when no entry points at it. */
async function segmentGap(dir: string): Promise<VerifyProblem | null> {
  const numbers = (await segmentFiles(dir)).map((f) => Number(SEGMENT.exec(basename(f))![1]));
  for (let i = 0; i < numbers.length; i++) {
    if (numbers[i] !== i + 1) {
      const file = `${ARCHIVE_DIR}/${segmentName(i + 1)}`;
      return { kind: TAMPER.removed, file, line: 0, audit_id: null, message: `segment ${file} was removed` };
    }
  }
  return null;
}

/** Each entry: a valid entry, its content matching its hash, linked to the entry before. */
function chainProblem(log: LoadedLog): VerifyProblem | null {
  const { lines } = log;
  const position = new Map<string, number>();
  lines.forEach((l, i) => {
    if (typeof l.entry?.hash === 'string') position.set(l.entry.hash, i);
  });
  let expectedPrev = GENESIS_HASH;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const where = { file: l.file, line: l.line, audit_id: idOf(l.entry) };
    const at = `${basename(l.file)} line ${l.line}${where.audit_id ? ` (${where.audit_id})` : ''}`;
    if (!l.entry) return { kind: TAMPER.malformed, ...where, message: `${at} is not a JSON object` };
    const parsed = auditEntrySchema.safeParse(l.entry);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return {
        kind: TAMPER.malformed,
        ...where,
        message: `${at} is not a valid entry: ${issue.path.join('.')} ${issue.message}`,
      };
    }
    const e = parsed.data;
    // The writer writes compact JSON in its own key order; any other spelling of the same entry was edited.
    if (JSON.stringify(l.entry) !== l.raw)
      return { kind: TAMPER.edited, ...where, message: `${at} was edited: it is not as it was written` };
    if (entryHash(l.entry as never) !== e.hash)
      return { kind: TAMPER.edited, ...where, message: `${at} was edited: its content no longer matches its hash` };
    if (e.prev_hash !== expectedPrev) {
      const target = position.get(e.prev_hash);
      if (target !== undefined) {
        const other = `${basename(lines[target]!.file)} line ${lines[target]!.line}`;
        return {
          kind: TAMPER.reordered,
          ...where,
          message:
            target > i
              ? `${at} is out of order: it follows an entry that now comes later (${other})`
              : `${at} is out of order: the entry it follows is at ${other}`,
        };
      }
      return {
        kind: TAMPER.removed,
        ...where,
        message: `the entry before ${at} was removed or rewritten: its prev_hash matches no entry`,
      };
    }
    expectedPrev = e.hash;
  }
  return null;
}

/**
 * Each checkpoint: well-formed, signed by one of `keys`, covering no more entries than the log holds, never fewer
 * than the one before, and with the Merkle root of the entries it covers. One pass over the leaves.
 */
async function checkpointProblem(
  dir: string,
  leaves: readonly Buffer[],
  keys: Map<string, KeyObject>,
  valid: Checkpoint[],
): Promise<VerifyProblem | null> {
  const file = join(dir, CHECKPOINTS_FILE);
  const acc = new MerkleAccumulator();
  let previous: Checkpoint | null = null;
  for (const { line, checkpoint, problem } of await readCheckpoints(dir)) {
    const at = { file, line, audit_id: null };
    if (!checkpoint) return { kind: TAMPER.malformed, ...at, message: problem! };
    const name = `the checkpoint at ${CHECKPOINTS_FILE} line ${line} (${checkpoint.tree_size} entries, ${checkpoint.timestamp})`;
    const signatureProblem = await checkpointSignatureProblem(checkpoint, name, keys);
    if (signatureProblem) return { kind: TAMPER.forged, ...at, message: signatureProblem };
    if (previous && (checkpoint.tree_size < previous.tree_size || checkpoint.timestamp < previous.timestamp))
      return { kind: TAMPER.rewritten, ...at, message: `${name} goes back from the one before it` };
    if (checkpoint.tree_size > leaves.length)
      return {
        kind: TAMPER.removed,
        ...at,
        message: `${name} was signed over ${checkpoint.tree_size} entries and the log has ${leaves.length}: entries were removed`,
      };
    while (acc.size < checkpoint.tree_size) acc.append(leaves[acc.size]!);
    if (acc.root().toString('hex') !== checkpoint.root_hash)
      return {
        kind: TAMPER.rewritten,
        ...at,
        message: `the log's first ${checkpoint.tree_size} entries no longer match ${name}: entries were edited, removed, reordered or rewritten`,
      };
    valid.push(checkpoint);
    previous = checkpoint;
  }
  return null;
}

/** Reads a log folder and checks its chain and its checkpoints against `keys`. */
export async function examineLog(dir: string, keys: Map<string, KeyObject>): Promise<ExaminedLog> {
  const log = await readAuditLog(dir);
  const leaves = log.lines.map((l) => leafHash(l.raw));
  const checkpoints: Checkpoint[] = [];
  const partialProblem: VerifyProblem | null = log.partial && {
    kind: TAMPER.malformed,
    ...log.partial,
    audit_id: null,
    message: `line ${log.partial.line} of ${basename(log.partial.file)} is incomplete (a torn write or an edit)`,
  };
  const problem =
    (await segmentGap(dir)) ??
    partialProblem ??
    chainProblem(log) ??
    (await checkpointProblem(dir, leaves, keys, checkpoints));
  return { log, leaves, checkpoints, problem };
}

/** The keyring's copy of the latest checkpoint must be one of the log's: otherwise checkpoints were removed. */
export function keyringProblem(
  dir: string,
  kept: Checkpoint | null,
  checkpoints: readonly Checkpoint[],
): VerifyProblem | null {
  if (!kept || checkpoints.some((c) => c.signature.value === kept.signature.value)) return null;
  const last = checkpoints[checkpoints.length - 1];
  return {
    kind: kept.tree_size > (last?.tree_size ?? 0) ? TAMPER.removed : TAMPER.rewritten,
    file: join(dir, CHECKPOINTS_FILE),
    line: 0,
    audit_id: null,
    message: `the keyring holds a checkpoint of ${kept.tree_size} entries signed at ${kept.timestamp} that this log's checkpoints do not: ${last ? `they end at ${last.tree_size} entries` : 'it has none'}, so checkpoints (and the entries they covered) were removed or replaced`,
  };
}

/** The saved checkpoint must be signed, and the log must contain it: same root over its entries, then only growth. */
async function sinceCheck(
  path: string,
  leaves: readonly Buffer[],
  latest: Checkpoint | null,
  keys: Map<string, KeyObject>,
): Promise<{ problem: VerifyProblem | null; proof: string[]; saved: Checkpoint | null }> {
  const fail = (kind: TamperKind, message: string) => ({
    problem: { kind, file: path, line: 0, audit_id: null, message },
    proof: [],
    saved: null,
  });
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new GovernanceError(`cannot read the saved checkpoint ${path}: ${(e as Error).message}`);
  }
  const saved = parseCheckpoint(text, `the saved checkpoint ${path}`);
  if (typeof saved === 'string') throw new GovernanceError(saved);
  const signatureProblem = await checkpointSignatureProblem(saved, `the saved checkpoint ${path}`, keys);
  if (signatureProblem) return fail(TAMPER.forged, signatureProblem);
  if (!latest || latest.tree_size < saved.tree_size)
    return fail(
      TAMPER.removed,
      `the saved checkpoint covers ${saved.tree_size} entries (${saved.timestamp}); this log's checkpoints cover ${latest?.tree_size ?? 0}: the log was truncated or its checkpoints removed`,
    );
  if (rootHash(leaves, saved.tree_size).toString('hex') !== saved.root_hash)
    return fail(
      TAMPER.rewritten,
      `the log's first ${saved.tree_size} entries no longer match the saved checkpoint of ${saved.timestamp}: they were edited, removed, reordered or rewritten`,
    );
  // The proof an auditor could check with the two signed roots alone (no log needed), checked here too.
  const proof = saved.tree_size === 0 ? [] : consistencyProof(leaves, saved.tree_size, latest.tree_size);
  const consistent =
    saved.tree_size === 0 ||
    verifyConsistency(
      saved.tree_size,
      latest.tree_size,
      proof,
      Buffer.from(saved.root_hash, 'hex'),
      Buffer.from(latest.root_hash, 'hex'),
    );
  if (!consistent)
    return fail(TAMPER.rewritten, `the latest checkpoint does not extend the saved checkpoint of ${saved.timestamp}`);
  return { problem: null, proof: proof.map((p) => p.toString('hex')), saved };
}

/** The public keys signatures are checked with: the auditor's PEM files, else the keyring's. */
async function verifyingKeys(paths: readonly string[] | undefined): Promise<Map<string, KeyObject>> {
  if (paths?.length) {
    try {
      return await publicKeysFrom(paths.map((p) => resolve(p)));
    } catch (e) {
      throw new GovernanceError(`cannot read the public key: ${(e as Error).message}`);
    }
  }
  return keyringPublicKeys();
}

/** How long entries of the live log may wait for a checkpoint: twice the configured interval. */
export async function maxUnsignedMinutes(): Promise<number> {
  return 2 * (await readSettings()).audit.checkpoint_interval_minutes;
}

/**
 * Verifies a log folder (the live log by default) and reports its first problem. Needs only public keys: the
 * keyring's, or `publicKeys`. The live log also fails when its unsigned tail is older than the checkpoint interval
 * allows; any log fails with an unsigned tail under `strict`, and when it has entries but no checkpoint.
 */
export async function verifyAudit(options: VerifyOptions = {}): Promise<VerifyReport> {
  const live = auditDir();
  const dir = options.dir ? resolve(options.dir) : live;
  const keys = await verifyingKeys(options.publicKeys);
  const { log, leaves, checkpoints, problem: logProblem } = await examineLog(dir, keys);
  const latest = checkpoints[checkpoints.length - 1] ?? null;
  const signedSize = latest?.tree_size ?? 0;
  const firstUnsigned = log.lines[signedSize]?.entry;
  const oldest = typeof firstUnsigned?.timestamp === 'string' ? firstUnsigned.timestamp : null;
  const report: VerifyReport = {
    ok: true,
    dir,
    files: log.files,
    entries: leaves.length,
    checkpoints: checkpoints.length,
    latest: latest && summary(latest),
    unsigned: { entries: leaves.length - signedSize, oldest },
    since: null,
    problem: null,
    warnings: [],
  };
  const fail = (problem: VerifyProblem): VerifyReport => ({ ...report, ok: false, problem });
  if (logProblem) return fail(logProblem);
  if (dir === live && !options.publicKeys?.length) {
    const kept = keyringProblem(dir, await readKeyringCheckpoint(), checkpoints);
    if (kept) return fail(kept);
  }
  if (options.since) {
    const { problem, proof, saved } = await sinceCheck(resolve(options.since), leaves, latest, keys);
    if (problem) return fail(problem);
    report.since = { tree_size: saved!.tree_size, timestamp: saved!.timestamp, proof };
  }
  const tail = report.unsigned.entries;
  const where = { file: join(dir, CHECKPOINTS_FILE), line: 0, audit_id: idOf(log.lines[signedSize]?.entry ?? null) };
  if (tail > 0 && !latest)
    return fail({
      kind: TAMPER.unsigned,
      ...where,
      message: `no signed checkpoint covers this log's ${tail} entries: nothing proves they were not rewritten (a log from before checkpoints is migrated by \`access-perm audit checkpoint\`)`,
    });
  if (tail > 0 && options.strict)
    return fail({
      kind: TAMPER.unsigned,
      ...where,
      message: `${tail} entries since ${oldest} are not yet covered by a checkpoint (--strict)`,
    });
  if (tail > 0 && dir === live && oldest) {
    const ageMinutes = (Date.now() - Date.parse(oldest)) / 60_000;
    const allowed = await maxUnsignedMinutes();
    if (ageMinutes > allowed)
      return fail({
        kind: TAMPER.unsigned,
        ...where,
        message: `${tail} entries since ${oldest} have waited ${Math.round(ageMinutes)} min for a checkpoint (at most ${allowed} min allowed): is the worker running? \`access-perm audit checkpoint\` signs them now`,
      });
  }
  if (tail > 0) report.warnings.push(`${tail} entries since ${oldest} are not yet covered by a signed checkpoint`);
  return report;
}

// ---------------------------------------------------------------------------------------------------------------
// Inclusion proofs

/** That one entry is in the signed log: the entry's line, its place, the checkpoint, and the audit path. */
export interface EntryProof {
  audit_id: string;
  leaf_index: number;
  entry: string;
  proof: string[];
  checkpoint: Checkpoint;
}

/**
 * The inclusion proof of an entry against the latest checkpoint that covers it; the log is verified first, so no
 * proof is made from a tampered log.
 * @throws GovernanceError when the log fails verification, the entry does not exist, or no checkpoint covers it yet.
 */
export async function proveEntry(auditId: string, dir = auditDir()): Promise<EntryProof> {
  const { log, leaves, checkpoints, problem } = await examineLog(resolve(dir), await keyringPublicKeys());
  if (problem) throw new GovernanceError(`the audit log fails verification, so it proves nothing: ${problem.message}`);
  const index = log.lines.findIndex((l) => l.entry?.audit_id === auditId);
  if (index < 0) throw new GovernanceError(`no audit entry ${auditId}`);
  const latest = checkpoints[checkpoints.length - 1];
  if (!latest || latest.tree_size <= index)
    throw new GovernanceError(
      `${auditId} is after the latest checkpoint: \`access-perm audit checkpoint\` signs it, then prove it`,
    );
  return {
    audit_id: auditId,
    leaf_index: index,
    entry: log.lines[index]!.raw,
    proof: inclusionProof(leaves, index, latest.tree_size).map((p) => p.toString('hex')),
    checkpoint: latest,
  };
}

/**
 * Checks an entry proof with public keys alone (no log): the checkpoint's signature, then the entry's audit path
 * to its root. Returns the entry's audit id.
 * @throws GovernanceError naming what does not hold.
 */
export async function checkEntryProof(text: string, publicKeys?: readonly string[]): Promise<string> {
  let doc: EntryProof;
  try {
    doc = JSON.parse(text) as EntryProof;
  } catch {
    throw new GovernanceError('the proof is not JSON');
  }
  if (typeof doc.entry !== 'string' || !Array.isArray(doc.proof) || !Number.isInteger(doc.leaf_index))
    throw new GovernanceError('the proof lacks entry, leaf_index or proof');
  const checkpoint = parseCheckpoint(JSON.stringify(doc.checkpoint), "the proof's checkpoint");
  if (typeof checkpoint === 'string') throw new GovernanceError(checkpoint);
  const signatureProblem = await checkpointSignatureProblem(
    checkpoint,
    "the proof's checkpoint",
    await verifyingKeys(publicKeys),
  );
  if (signatureProblem) throw new GovernanceError(signatureProblem);
  const included = verifyInclusion(
    leafHash(doc.entry),
    doc.leaf_index,
    checkpoint.tree_size,
    doc.proof.map((p) => Buffer.from(String(p), 'hex')),
    Buffer.from(checkpoint.root_hash, 'hex'),
  );
  if (!included)
    throw new GovernanceError(
      `the entry is not entry ${doc.leaf_index} of the log signed at ${checkpoint.timestamp}: the proof does not hold`,
    );
  const entry = JSON.parse(doc.entry) as { audit_id?: unknown };
  return String(entry.audit_id);
}
