/** `lock.json` of a locked run (seed-3 §5); read by the pipeline too, so this module imports nothing heavy. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LockRecord } from '../../schemas/lifecycle';
import type { ArtifactRef } from '../../schemas/run';

export const LOCK_FILE = 'lock.json';

/** What `lock.json` holds: the lock record plus every frozen artifact (paths relative to the run folder). */
export interface RunLockFile extends LockRecord {
  runId: string;
  versionDir: string;
  deployment: { approved_by: string; approved_at: string; reason: string } | null;
  artifacts: ArtifactRef[];
}

export async function readLock(runDir: string): Promise<RunLockFile | null> {
  try {
    return JSON.parse(await readFile(join(runDir, LOCK_FILE), 'utf8')) as RunLockFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
