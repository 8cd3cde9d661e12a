import { readFile } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import { manifestSchema, type ArtifactRef, type RunManifest } from '../../schemas/run';
import { readVerified, verifyArtifact, writeFileAtomic } from '../artifacts';
import { ArtifactIntegrityError } from '../errors';
import { RecordSignatureError, signRecord, verifyRecord, type RecordSignature } from '../keys';
import { MANIFEST_FILE } from './layout';

/**
 * Writes a folder's manifest, artifacts sorted by path, signed with the keyring's key; returns its path. `folder` is
 * where it lies inside its run folder ('.', `versions/v<n>` or `repro/<name>`): signed with it, so a manifest copied
 * into another run or version is refused.
 */
export async function writeManifest(dir: string, manifest: RunManifest, folder: string): Promise<string> {
  const path = join(dir, MANIFEST_FILE);
  const sorted = {
    ...manifest,
    folder,
    artifacts: [...manifest.artifacts].sort((a, b) => a.path.localeCompare(b.path)),
  };
  const signed = await signRecord(manifestSchema.parse(sorted));
  await writeFileAtomic(path, `${JSON.stringify(signed, null, 2)}\n`);
  return path;
}

/**
 * The manifest of a run, version or reproduction folder, its signature checked: the artifacts it lists (and their
 * sha256) are what access-perm wrote there. Throws (ENOENT) while the folder is incomplete.
 * @throws RecordSignatureError when it is unsigned, edited, or another folder's.
 */
export async function readManifest(dir: string): Promise<RunManifest> {
  const path = join(dir, MANIFEST_FILE);
  const raw = JSON.parse(await readFile(path, 'utf8')) as RunManifest & { signature?: RecordSignature };
  const what = `manifest ${path}`;
  if (!raw.signature)
    throw new RecordSignatureError(
      `${what} is not signed (written before manifests were signed, or outside access-perm): refused; train the run again`,
    );
  const manifest = manifestSchema.parse(await verifyRecord(raw, what));
  // The run folder is named by its run id; the folder the manifest was signed for must be this one.
  const parts = (manifest.folder ?? '.') === '.' ? [] : manifest.folder!.split('/');
  const here = resolve(dir).split(sep);
  const root = here.slice(0, here.length - parts.length);
  if (here.slice(root.length).join('/') !== parts.join('/') || basename(root.join(sep)) !== manifest.runId)
    throw new RecordSignatureError(
      `${what} is the manifest of ${manifest.folder === '.' ? `run ${manifest.runId}` : `${manifest.folder} of run ${manifest.runId}`}, copied here: refused`,
    );
  return manifest;
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

/**
 * The record of `path` in a finished folder's signed manifest, its file's bytes checked (so a step builds on what
 * the folder's run wrote, not on a file edited since), or null when the manifest does not list it.
 */
export async function finishedFile(dir: string, path: string): Promise<{ ref: ArtifactRef; bytes: Buffer } | null> {
  const ref = (await readManifest(dir)).artifacts.find((a) => a.path === path);
  return ref ? { ref, bytes: await readVerified(dir, ref) } : null;
}

/** Checks files of a finished folder against its signed manifest; names the first one that is missing or differs. */
export async function verifyFinishedFiles(dir: string, paths: string[]): Promise<void> {
  const manifest = await readManifest(dir);
  for (const path of paths) {
    const ref = manifest.artifacts.find((a) => a.path === path);
    if (!ref) throw new ArtifactIntegrityError(`${path} is not listed in ${join(dir, MANIFEST_FILE)}`);
    await verifyArtifact(dir, ref);
  }
}
