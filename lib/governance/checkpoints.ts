/**
 * Signed checkpoints of the audit log: at a moment, the log held `tree_size` entries whose RFC 9162 Merkle root is
 * `root_hash`, signed with the keyring's Ed25519 key. They sit in `<audit dir>/checkpoints.jsonl`; the latest one is
 * also kept in the keyring, so removing the checkpoints (or the whole log) is noticed by whoever holds the keyring,
 * and an auditor who saved any checkpoint can check, with the public key alone, that the log only grew from it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { appendText, writeFileAtomic } from '../artifacts';
import { keyringDir, signRecord, verifyRecord, type RecordSignature } from '../keys';

export const CHECKPOINTS_FILE = 'checkpoints.jsonl';
/** Names the log a checkpoint belongs to, so a signature made for another kind of record never passes for one. */
const LOG_NAME = 'access-perm-audit';

export const CHECKPOINT_REASONS = ['rotation', 'interval', 'manual', 'migration'] as const;

export const checkpointSchema = z.strictObject({
  log: z.literal(LOG_NAME),
  tree_size: z.number().int().nonnegative(),
  root_hash: z.string().regex(/^[0-9a-f]{64}$/),
  timestamp: z.string().datetime(),
  reason: z.enum(CHECKPOINT_REASONS),
  signature: z.strictObject({ alg: z.literal('Ed25519'), key_id: z.string().min(1), value: z.string().min(1) }),
});
export type Checkpoint = z.infer<typeof checkpointSchema> & { signature: RecordSignature };

export const checkpointsPath = (dir: string): string => join(dir, CHECKPOINTS_FILE);
/** The keyring's copy of the live log's latest checkpoint. */
export const keyringCheckpointPath = (): string => join(keyringDir(), 'audit-checkpoint.json');

/** A checkpoint of a tree of `treeSize` entries with root `rootHash`, signed now with the keyring's current key. */
export async function signCheckpoint(
  treeSize: number,
  rootHash: Buffer,
  reason: Checkpoint['reason'],
): Promise<Checkpoint> {
  return signRecord({
    log: LOG_NAME,
    tree_size: treeSize,
    root_hash: rootHash.toString('hex'),
    timestamp: new Date().toISOString(),
    reason,
  });
}

/** Parses a checkpoint (a line of checkpoints.jsonl, a saved copy); a message naming what is wrong, or the checkpoint. */
export function parseCheckpoint(text: string, where: string): Checkpoint | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `${where} is not JSON`;
  }
  const parsed = checkpointSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return `${where} is not a checkpoint: ${issue.path.join('.') || '(root)'} ${issue.message}`;
  }
  return parsed.data as Checkpoint;
}

/** Whether `keys` verify the checkpoint's signature; a message naming the problem when not. */
export async function checkpointSignatureProblem(
  checkpoint: Checkpoint,
  where: string,
  keys: Map<string, KeyObject>,
): Promise<string | null> {
  try {
    await verifyRecord(checkpoint, where, keys);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

export interface CheckpointLine {
  line: number;
  checkpoint: Checkpoint | null;
  /** Why the line is not a checkpoint (null when it is one). */
  problem: string | null;
}

/** The lines of a log folder's checkpoints.jsonl, in order (empty when there is none). */
export async function readCheckpoints(dir: string): Promise<CheckpointLine[]> {
  let text: string;
  try {
    text = await readFile(checkpointsPath(dir), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  if (text === '') return [];
  // Every line as the writer wrote it (compact JSON, then a newline): anything else was edited by hand.
  const complete = text.endsWith('\n');
  const lines = (complete ? text.slice(0, -1) : text).split('\n');
  return lines.map((raw, i) => {
    const where = `${CHECKPOINTS_FILE} line ${i + 1}`;
    let parsed = parseCheckpoint(raw, where);
    if (typeof parsed !== 'string' && JSON.stringify(parsed) !== raw) parsed = `${where} is not as it was written`;
    if (!complete && i === lines.length - 1) parsed = `${where} is incomplete (no newline at its end)`;
    return typeof parsed === 'string'
      ? { line: i + 1, checkpoint: null, problem: parsed }
      : { line: i + 1, checkpoint: parsed, problem: null };
  });
}

/** Appends a checkpoint to a log folder's checkpoints.jsonl (fsynced, owner-only). */
export async function appendCheckpoint(dir: string, checkpoint: Checkpoint): Promise<void> {
  await appendText(checkpointsPath(dir), `${JSON.stringify(checkpoint)}\n`, { mode: 0o600, sync: true });
}

/** Keeps the live log's latest checkpoint in the keyring too. */
export async function saveKeyringCheckpoint(checkpoint: Checkpoint): Promise<void> {
  await writeFileAtomic(keyringCheckpointPath(), `${JSON.stringify(checkpoint, null, 2)}\n`, 0o600);
}

/** The keyring's copy of the live log's latest checkpoint; null when there is none yet (or no keyring here). */
export async function readKeyringCheckpoint(): Promise<Checkpoint | null> {
  let text: string;
  try {
    text = await readFile(keyringCheckpointPath(), 'utf8');
  } catch (e) {
    if (['ENOENT', 'EACCES'].includes((e as NodeJS.ErrnoException).code ?? '')) return null;
    throw e;
  }
  const parsed = parseCheckpoint(text, keyringCheckpointPath());
  return typeof parsed === 'string' ? null : parsed;
}
