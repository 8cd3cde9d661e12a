import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, isAbsolute } from 'node:path';
import type { ArtifactRef } from '../schemas/run';
import { ArtifactIntegrityError } from './errors';
import { sha256File, sha256Hex } from './hash';
import { refuseLinksInDataDir, symlinkRefused } from './paths';

/** Creates folder `dir` (and its parents), refusing a symbolic link on its way below the data directory. */
export async function ensureDir(dir: string, mode?: number): Promise<void> {
  await refuseLinksInDataDir(dir, { self: true });
  await mkdir(dir, { recursive: true, mode });
}

/**
 * Appends `text` to `path` (created with `mode` when missing; fsynced with `sync`): the append-only logs (audit log,
 * checkpoints, outbox, inference log). A link in place of the file (O_NOFOLLOW) or on its way below the data
 * directory is refused, never followed.
 * @throws PathOutsideError naming the link.
 */
export async function appendText(path: string, text: string, { mode = 0o644, sync = false } = {}): Promise<void> {
  await refuseLinksInDataDir(path);
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
  const fh = await open(path, flags, mode).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'ELOOP' ? symlinkRefused(path) : e;
  });
  try {
    await fh.write(text);
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A file written next to its destination and flushed, not yet in place: `commit` renames it, `discard` removes it. */
export interface PreparedFile {
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/**
 * Writes `data` to a temporary file beside `path` (owner-only, flushed to disk) without replacing `path` yet: a full
 * disk or a read-only folder fails here, before anything depends on the write. A failed write leaves no temp file.
 */
export async function prepareFile(path: string, data: string | Uint8Array, mode = 0o644): Promise<PreparedFile> {
  // The temp file is created exclusively (never through a link) and renamed over `path` (a link there is replaced,
  // not followed): only the folders on the way can lead elsewhere, so they are checked, again before the rename.
  await ensureDir(dirname(path));
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const discard = () => rm(tmp, { force: true });
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (mode !== 0o600) await chmod(tmp, mode);
  } catch (e) {
    await discard();
    throw e;
  }
  return {
    commit: async () => {
      try {
        await refuseLinksInDataDir(path);
        await rename(tmp, path);
      } catch (e) {
        await discard();
        throw e;
      }
    },
    discard,
  };
}

/**
 * Writes `data` to `path` only once `beforeCommit` succeeded: the file is written beside `path` first (a full disk or
 * a read-only folder fails before anything else happens), then `beforeCommit` runs (the change's audit entry), then
 * the file is put in place. When `beforeCommit` fails nothing is left, so a change that cannot be audited is not made.
 */
export async function writeFileAfter<T>(
  path: string,
  data: string | Uint8Array,
  beforeCommit: () => Promise<T>,
  mode?: number,
): Promise<T> {
  const file = await prepareFile(path, data, mode);
  let result: T;
  try {
    result = await beforeCommit();
  } catch (e) {
    await file.discard();
    throw e;
  }
  await file.commit();
  return result;
}

/** Writes a file atomically (temp file + rename) so readers never see a half-written file, nor a temp file left. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await (await prepareFile(path, data, mode)).commit();
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
  await refuseLinksInDataDir(full, { self: true });
  const [sha256, info] = await Promise.all([sha256File(full), stat(full)]);
  return { path: relativeTo(runDir, relPath), role, sha256, bytes: info.size };
}

function checkHash(ref: ArtifactRef, actual: string): void {
  if (actual !== ref.sha256) {
    throw new ArtifactIntegrityError(`artifact ${ref.path} was modified: sha256 ${actual} ≠ recorded ${ref.sha256}`);
  }
}

/**
 * Where a recorded artifact lies: inside its run folder, whatever the record says (a record planted in the data
 * directory must not make a reader open files elsewhere).
 */
export function artifactPath(runDir: string, ref: ArtifactRef): string {
  const rel = relative(runDir, join(runDir, ref.path));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
    throw new ArtifactIntegrityError(`artifact path ${JSON.stringify(ref.path)} leaves its run folder ${runDir}`);
  return join(runDir, rel);
}

/** Reads an artifact and checks its bytes against the recorded hash; a mismatch names the file. */
export async function readVerified(runDir: string, ref: ArtifactRef): Promise<Buffer> {
  const path = artifactPath(runDir, ref);
  await refuseLinksInDataDir(path, { self: true });
  const bytes = await readFile(path);
  checkHash(ref, sha256Hex(bytes));
  return bytes;
}

/** Checks an artifact against the recorded hash without holding it in memory (streamed); a mismatch names the file. */
export async function verifyArtifact(runDir: string, ref: ArtifactRef): Promise<void> {
  const path = artifactPath(runDir, ref);
  await refuseLinksInDataDir(path, { self: true });
  checkHash(ref, await sha256File(path));
}
