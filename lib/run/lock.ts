/** `lock.json` of a locked run (seed-3 §5): the locked version and every frozen artifact with its sha256. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LockRecord } from '../../schemas/lifecycle';
import type { ArtifactRef } from '../../schemas/run';
import { readVerified } from '../artifacts';
import { ArtifactIntegrityError } from '../errors';
import { LOCK_FILE } from './layout';

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

/** What `lock.json` holds: the lock record plus every frozen artifact (paths relative to the run folder). */
export interface RunLockFile extends LockRecord {
  runId: string;
  versionDir: string;
  deployment: { approved_by: string; approved_at: string; reason: string; claim?: string } | null;
  artifacts: ArtifactRef[];
}

/** The lock of the run in `runDir`, or null when it is not locked. */
export async function readLock(runDir: string): Promise<RunLockFile | null> {
  try {
    return JSON.parse(await readFile(join(runDir, LOCK_FILE), 'utf8')) as RunLockFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
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
