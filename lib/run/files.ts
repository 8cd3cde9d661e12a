/**
 * How pipeline steps touch the files of a run, version or reproduction folder: the one seam an object-store backend
 * replaces (with lib/artifacts, which writes and verifies artifacts). Steps name files by their path inside the
 * folder (lib/run/layout.ts), never by joining paths themselves. DuckDB reads and writes Parquet at `tableAt`: a
 * local path here; an object store would give its URL, which DuckDB's httpfs extension reads and writes.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { ensureDir } from '../artifacts';
import { ArtifactIntegrityError } from '../errors';
import { refuseLinksInDataDir } from '../paths';

/** `rel` inside folder `dir`; a path that would leave the folder (a planted record, a hostile config) is refused. */
function inside(dir: string, rel: string): string {
  const within = relative(dir, join(dir, rel));
  if (within === '' || within.startsWith('..') || isAbsolute(within))
    throw new ArtifactIntegrityError(`path ${JSON.stringify(rel)} leaves its run folder ${dir}`);
  return join(dir, within);
}

/** `rel` inside folder `dir`, checked to be reached through no symbolic link below the data directory. */
async function insideNoLink(dir: string, rel: string): Promise<string> {
  const path = inside(dir, rel);
  await refuseLinksInDataDir(path, { self: true });
  return path;
}

export const readRunText = async (dir: string, rel: string): Promise<string> =>
  readFile(await insideNoLink(dir, rel), 'utf8');

export const readRunBytes = async (dir: string, rel: string): Promise<Buffer> => readFile(await insideNoLink(dir, rel));

/** Where DuckDB reads the table file `rel` of the folder. */
export const tableAt = (dir: string, rel: string): string => inside(dir, rel);

/**
 * Where DuckDB writes the table file `rel` of the folder, its parent made first. DuckDB opens the file in place, so
 * a link there, or on its way below the data directory, is refused.
 */
export async function tableForWriting(dir: string, rel: string): Promise<string> {
  const path = await insideNoLink(dir, rel);
  await ensureDir(dirname(path));
  return path;
}

/** The files under `sub` of a folder (every file when `sub` is ''), as sorted paths relative to the folder. */
export async function listRunFiles(dir: string, sub = ''): Promise<string[]> {
  const base = sub ? inside(dir, sub) : dir;
  const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split('\\').join('/'))
    .sort();
}

/** How many files (and bytes) a folder holds, not counting the file `except` at its top. */
export async function folderContents(dir: string, except: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || (entry.parentPath === dir && entry.name === except)) continue;
    files++;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return { files, bytes };
}

/** Removes everything in a folder but the file `keep` at its top. */
export async function removeFolderContents(dir: string, keep: string): Promise<void> {
  for (const name of await readdir(dir)) if (name !== keep) await rm(join(dir, name), { recursive: true, force: true });
}
