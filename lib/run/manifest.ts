import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { manifestSchema, type RunManifest } from '../../schemas/run';
import { writeFileAtomic } from '../artifacts';
import { MANIFEST_FILE } from './layout';

/** Writes a folder's manifest, artifacts sorted by path; returns its path. */
export async function writeManifest(dir: string, manifest: RunManifest): Promise<string> {
  const path = join(dir, MANIFEST_FILE);
  const sorted = { ...manifest, artifacts: [...manifest.artifacts].sort((a, b) => a.path.localeCompare(b.path)) };
  await writeFileAtomic(path, `${JSON.stringify(manifestSchema.parse(sorted), null, 2)}\n`);
  return path;
}

/** The manifest of a run, version or reproduction folder; throws (ENOENT) while the folder is incomplete. */
export async function readManifest(dir: string): Promise<RunManifest> {
  return manifestSchema.parse(JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')));
}

/** The manifest, or null when the folder has none yet (a run that failed or is still running). */
export async function tryManifest(dir: string): Promise<RunManifest | null> {
  try {
    return await readManifest(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
