import { join } from 'node:path';
import { ensureDir } from '../artifacts';
import { withFileLock } from '../lock';
import { dataDir } from '../paths';

/** The governance store folder: `<dataDir>/governance` (users, tokens, delegations, audit log). */
export function governanceDir(): string {
  return join(dataDir(), 'governance');
}

/** Creates the folder readable by its owner only (no symbolic link on the way: see ensureDir). */
export async function ensureGovernanceDir(): Promise<string> {
  const dir = governanceDir();
  await ensureDir(dir, 0o700);
  return dir;
}

/**
 * Runs `fn` while holding an exclusive cross-process lock named `name` in the governance folder.
 * Proper-lockfile keys held locks by target path, so each lock name has its own (nested locks: users → audit).
 */
export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = await ensureGovernanceDir();
  return withFileLock(join(dir, name), fn);
}
