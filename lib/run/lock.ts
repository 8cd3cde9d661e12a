/** `lock.json` of a locked run (seed-3 §5): the locked version and every frozen artifact with its sha256. */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { LockRecord } from '../../schemas/lifecycle';
import type { ArtifactRef } from '../../schemas/run';
import { readVerified, writeFileAfter } from '../artifacts';
import { ArtifactIntegrityError } from '../errors';
import { commitPinnedRecord, pinnedSignature, RecordSignatureError, signRecord, verifyPinnedRecord } from '../keys';
import { LOCK_FILE } from './layout';

const LOCK_PIN = 'lock';

/** Thrown on any attempt to change a locked run (seed-3 §5 message: who locked it, and when). */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
  constructor(runId: string, lockedBy: string, lockedAt: string, what?: string) {
    super(
      what
        ? `Run ${runId} ${what}; it is locked by ${lockedBy} (since ${lockedAt}).`
        : `Run ${runId} is locked by ${lockedBy} (since ${lockedAt}) for deployment. Cannot modify locked runs.`,
    );
  }
}

/**
 * What `lock.json` holds: the lock record plus every frozen artifact (paths relative to the run folder), the
 * metadata tables frozen with it among them, signed with the keyring's key (lib/keys) over all of it.
 */
export interface RunLockFile extends LockRecord {
  runId: string;
  versionDir: string;
  deployment: { approved_by: string; approved_at: string; reason: string; claim?: string } | null;
  artifacts: ArtifactRef[];
}

/**
 * Signs and writes `lock.json`, then pins its signature in the keyring (so an older copy put back is refused).
 * `beforeCommit` (the audit entry) runs once the file is written and before it is put in place: when it fails, the
 * lock is not changed.
 */
export async function writeLock(runDir: string, lock: RunLockFile, beforeCommit?: () => Promise<void>): Promise<void> {
  const signed = await signRecord(lock);
  await commitPinnedRecord(LOCK_PIN, lock.runId, signed.signature, () =>
    writeFileAfter(join(runDir, LOCK_FILE), `${JSON.stringify(signed, null, 2)}\n`, async () => beforeCommit?.()),
  );
}

/**
 * The lock of the run in `runDir`, or null when it is not locked; its signature checked against the keyring.
 * @throws RecordSignatureError when lock.json is unsigned, edited, another run's, an older copy, or was deleted
 *   from a run the keyring knows is locked.
 */
export async function readLock(runDir: string): Promise<RunLockFile | null> {
  const runId = basename(runDir);
  let raw: RunLockFile;
  try {
    raw = JSON.parse(await readFile(join(runDir, LOCK_FILE), 'utf8')) as RunLockFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (await pinnedSignature(LOCK_PIN, runId))
      throw new RecordSignatureError(
        `run ${runId} is locked (the keyring holds its lock's signature) but its lock.json was deleted: restore it from a backup; the run is refused until then`,
      );
    return null;
  }
  const what = `lock.json of run ${runId}`;
  const lock = await verifyPinnedRecord(raw, what, LOCK_PIN, runId);
  if (lock.runId !== runId) throw new RecordSignatureError(`${what} is the lock of run ${lock.runId}: refused`);
  return lock;
}

/** The lock of a run with every frozen artifact re-verified (null when unlocked); a tampered file is named. */
export async function verifyLockedRun(runDir: string): Promise<RunLockFile | null> {
  const lock = await readLock(runDir);
  if (!lock) return null;
  for (const a of lock.artifacts) {
    try {
      await readVerified(runDir, a);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new ArtifactIntegrityError(`artifact ${a.path} of locked run ${lock.runId} is missing`);
      throw new ArtifactIntegrityError(`locked run ${lock.runId}: ${(e as Error).message}`);
    }
  }
  return lock;
}
