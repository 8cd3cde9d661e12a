import lockfile from 'proper-lockfile';
import { refuseLinksInDataDir } from './paths';

/** Lock options: many short waits, because several processes (CLI, worker, service) write at once. */
const LOCK_OPTIONS = {
  realpath: false,
  stale: 10_000,
  retries: { retries: 2000, factor: 1.1, minTimeout: 2, maxTimeout: 50, randomize: true },
} as const;

/**
 * Runs `fn` while holding an exclusive cross-process lock on `path` (proper-lockfile: an atomic mkdir of
 * `<path>.lock`, refreshed while held, considered stale after 10 s if its holder died). The folder must exist.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  await refuseLinksInDataDir(path);
  const release = await lockfile.lock(path, { ...LOCK_OPTIONS, lockfilePath: `${path}.lock` });
  try {
    return await fn();
  } finally {
    await release();
  }
}
