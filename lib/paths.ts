import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PathOutsideError } from './errors';

/** The project checkout (parent of lib/). */
export const PROJECT_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** Where runs, the embedded server's database and other state live: ACCESS_PERM_DATA_DIR or `<project>/.data`. */
export function dataDir(): string {
  const fromEnv = process.env.ACCESS_PERM_DATA_DIR;
  return fromEnv ? resolve(fromEnv) : join(PROJECT_ROOT, '.data');
}

/** The real path of `path`, resolving symlinks of the part that exists (the rest may not have been created yet). */
async function realpathOfExisting(path: string): Promise<string> {
  const missing: string[] = [];
  for (let p = resolve(path); ;) {
    try {
      return join(await realpath(p), ...missing.reverse());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const parent = dirname(p);
      if (parent === p) return resolve(path);
      missing.push(basename(p));
      p = parent;
    }
  }
}

/** True when `path`, symlinks resolved, is `root` or lies below it. */
export async function isInside(root: string, path: string): Promise<boolean> {
  const rel = relative(await realpathOfExisting(root), await realpathOfExisting(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * `path` (relative paths against the data directory) after checking that it stays inside the data directory, symlinks
 * resolved; `what` names the setting in the error.
 * @throws PathOutsideError naming the path and the data directory.
 */
export async function insideDataDir(path: string, what: string): Promise<string> {
  const root = dataDir();
  const absolute = resolve(root, path);
  if (!(await isInside(root, absolute)))
    throw new PathOutsideError(
      `${what} ${path} is outside the data directory ${root}: everything written stays inside it`,
    );
  return absolute;
}

/**
 * `path` (absolute, or relative to the working directory) after checking that it lies in one of `roots`, symlinks
 * resolved; `what` names the input in the error.
 * @throws PathOutsideError naming the path and the folders it may come from.
 */
export async function insideRoots(path: string, roots: readonly string[], what: string): Promise<string> {
  const absolute = resolve(path);
  for (const root of roots) if (await isInside(root, absolute)) return absolute;
  throw new PathOutsideError(
    `${what} ${absolute} is outside the folders workflows may read (${roots.join(', ')}): move it into the data directory, or ask an ADMIN to add its folder to read_roots in the keyring's settings.json`,
  );
}
