import { existsSync } from 'node:fs';
import { lstat, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PathOutsideError } from './errors';

/**
 * The project checkout: the nearest folder above this module holding package.json (lib/ in the sources, a folder
 * of .build/js/ in the prebuilt programs).
 */
export const PROJECT_ROOT = (() => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
  }
})();

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

/** The first component of `path` below `root` that is a symbolic link (for the error message), else `path`. */
async function firstLinkBelow(root: string, path: string): Promise<string> {
  let p = root;
  for (const part of relative(root, path).split(sep)) {
    p = join(p, part);
    const info = await lstat(p).catch(() => null);
    if (!info) break;
    if (info.isSymbolicLink()) return p;
  }
  return path;
}

/**
 * Refuses a symbolic link below the data directory on the way to `path`: every folder from the data directory down to
 * `path`'s parent (and `path` itself with `self`, for a folder about to be used or a file about to be read) must be
 * what it says, or a link planted by someone who can write the data directory would make a process write (or read)
 * elsewhere: a missing `~/.profile`, another run's folder. The data directory itself may be a link (a mounted
 * volume); paths outside it (the keyring, a user's output file) are not checked. The check compares the real path of
 * the part that exists with its lexical path: one `realpath` call (the data directory's is cached). Writers that
 * create the final component in place add O_NOFOLLOW (`appendText` in lib/artifacts.ts); rename-based writes replace
 * a link rather than follow it. A link swapped in between the check and the write is not caught (Node has no openat).
 * @throws PathOutsideError naming the link.
 */
export async function refuseLinksInDataDir(path: string, { self = false } = {}): Promise<void> {
  const root = dataDir();
  const target = resolve(path);
  const checked = self ? target : dirname(target);
  const rel = relative(root, checked);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return;
  // The deepest part that exists must have no link on its way; a missing part may be a dangling link itself.
  for (let p = checked; p !== root; p = dirname(p)) {
    let real: string;
    try {
      real = await realpath(p);
    } catch (e) {
      if (!['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      if ((await lstat(p).catch(() => null))?.isSymbolicLink()) throw symlinkRefused(p);
      continue;
    }
    const lexical = (realRoot: string): string => join(realRoot, relative(root, p));
    // The data directory's own real path is cached; a mismatch looks again (it may have been moved or remounted).
    if (real !== lexical(await realDataDir(root)) && real !== lexical(await realDataDir(root, true)))
      throw symlinkRefused(await firstLinkBelow(root, p));
    return;
  }
}

let realRootCache: { root: string; real: string } | null = null;

/** The real path of the data directory `root` (it exists: something below it does). */
async function realDataDir(root: string, fresh = false): Promise<string> {
  if (fresh || realRootCache?.root !== root) realRootCache = { root, real: await realpath(root) };
  return realRootCache.real;
}

/** The error for a symbolic link met inside the data directory. */
export const symlinkRefused = (path: string): PathOutsideError =>
  new PathOutsideError(
    `${path} is a symbolic link inside the data directory ${dataDir()}: refused (no process follows a link below the data directory; remove it)`,
  );

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
