import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, isAbsolute } from 'node:path';
import type { ArtifactRef } from '../schemas/run';
import { ArtifactIntegrityError } from './errors';
import { sha256File, sha256Hex } from './hash';

/** Writes a file atomically (temp file + rename) so readers never see a half-written artifact. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

function relativeTo(runDir: string, path: string): string {
  const rel = isAbsolute(path) ? relative(runDir, path) : path;
  if (rel.startsWith('..')) throw new Error(`artifact ${path} is outside the run folder ${runDir}`);
  return rel.split('\\').join('/');
}

/** Writes an artifact into the run folder and returns its content address. */
export async function writeArtifact(
  runDir: string,
  relPath: string,
  data: string | Uint8Array,
  role: string,
): Promise<ArtifactRef> {
  await writeFileAtomic(join(runDir, relPath), data);
  return { path: relativeTo(runDir, relPath), role, sha256: sha256Hex(data), bytes: Buffer.byteLength(data) };
}

/** Hashes a file some other writer produced (e.g. DuckDB's Parquet COPY). */
export async function registerArtifact(runDir: string, relPath: string, role: string): Promise<ArtifactRef> {
  const full = join(runDir, relPath);
  const [sha256, info] = await Promise.all([sha256File(full), stat(full)]);
  return { path: relativeTo(runDir, relPath), role, sha256, bytes: info.size };
}

function checkHash(ref: ArtifactRef, actual: string): void {
  if (actual !== ref.sha256) {
    throw new ArtifactIntegrityError(`artifact ${ref.path} was modified: sha256 ${actual} ≠ recorded ${ref.sha256}`);
  }
}

/** Reads an artifact and checks its bytes against the recorded hash; a mismatch names the file. */
export async function readVerified(runDir: string, ref: ArtifactRef): Promise<Buffer> {
  const bytes = await readFile(join(runDir, ref.path));
  checkHash(ref, sha256Hex(bytes));
  return bytes;
}

/** Checks an artifact against the recorded hash without holding it in memory (streamed); a mismatch names the file. */
export async function verifyArtifact(runDir: string, ref: ArtifactRef): Promise<void> {
  checkHash(ref, await sha256File(join(runDir, ref.path)));
}
