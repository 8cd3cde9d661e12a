/**
 * Where a run lives. A run folder is `<data dir>/<artifacts.dir>/<run id>` (artifacts.dir defaults to `runs`), and
 * the one rule that finds it from the id alone is the run index: `<data dir>/run-index/<run id>.json`, written when
 * the run is prepared, names the folder relative to the data directory. Runs prepared before the index existed live
 * in `<data dir>/runs/<run id>`.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import type { RunRef } from '../../schemas/run';
import { ensureDir } from '../artifacts';
import { UnknownRunError } from '../errors';
import { dataDir, insideDataDir, refuseLinksInDataDir } from '../paths';
import { reproDirName, versionDirName } from './layout';

/** The default `artifacts.dir`: run folders below `<data dir>/runs`. */
export const DEFAULT_RUNS_DIR = 'runs';

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Run ids double as folder names and workflow ids: letters, digits, '.', '_', '-', at most 128 characters. */
export function assertRunId(runId: string): string {
  if (!RUN_ID.test(runId) || runId.includes('..')) {
    throw new UnknownRunError(
      `invalid run id ${JSON.stringify(runId.slice(0, 80))}: use letters, digits, '.', '_' or '-' (at most 128 characters)`,
    );
  }
  return runId;
}

/** A new run id: UTC time plus random suffix, readable and sortable (`run-20261122-013000-4f2a9c`). */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const suffix = Math.floor(Math.random() * 0xffffff)
    .toString(16)
    .padStart(6, '0');
  return `run-${stamp}-${suffix}`;
}

const indexDir = (): string => join(dataDir(), 'run-index');
const indexFile = (runId: string): string => join(indexDir(), `${assertRunId(runId)}.json`);

const indexEntrySchema = z.strictObject({ runId: z.string(), dir: z.string().min(1) });

async function readIndexEntry(runId: string): Promise<z.infer<typeof indexEntrySchema> | null> {
  let text: string;
  try {
    await refuseLinksInDataDir(indexFile(runId), { self: true });
    text = await readFile(indexFile(runId), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const entry = indexEntrySchema.safeParse(JSON.parse(text));
  if (!entry.success || entry.data.runId !== runId)
    throw new UnknownRunError(`${indexFile(runId)} is not a valid run index entry for ${runId}`);
  return entry.data;
}

/**
 * The folder of run `runId`, from the run index (checked to lie inside the data directory), else the default
 * location; either way reached through no symbolic link below the data directory (a run folder replaced by a link to
 * another folder is refused, not read or written). The folder may not exist (an unknown run); callers that need it
 * say so.
 * @throws UnknownRunError for an invalid id; PathOutsideError when an index entry points outside the data directory,
 *   or the folder or a folder on its way is a symbolic link.
 */
export async function resolveRunDir(runId: string): Promise<string> {
  const entry = await readIndexEntry(assertRunId(runId));
  const dir = entry
    ? await insideDataDir(entry.dir, `run ${runId}'s folder`)
    : join(dataDir(), DEFAULT_RUNS_DIR, runId);
  await refuseLinksInDataDir(dir, { self: true });
  return dir;
}

/**
 * Creates the folder of a new run below `artifactsDir` (the config's `artifacts.dir`, relative to the data
 * directory, which it may not leave) and records it in the run index. Preparing the same run id again (a retried
 * step, a run re-run in place) finds the same folder; the same id below another artifacts.dir is refused.
 */
export async function createRunDir(runId: string, artifactsDir: string): Promise<string> {
  const root = await insideDataDir(artifactsDir, 'artifacts.dir');
  const dir = join(root, assertRunId(runId));
  const existing = await readIndexEntry(runId);
  const relativeDir = relative(dataDir(), dir);
  if (existing && existing.dir !== relativeDir)
    throw new UnknownRunError(`run id ${runId} is taken: it lives in ${existing.dir}; choose another run id`);
  await ensureDir(dir);
  if (!existing) {
    await ensureDir(indexDir());
    const entry = `${JSON.stringify({ runId, dir: relativeDir })}\n`;
    await writeFile(indexFile(runId), entry, { flag: 'wx' }).catch((e: NodeJS.ErrnoException) => {
      // Another process registered the id in the meantime: only the same folder is fine.
      if (e.code !== 'EEXIST') throw e;
    });
    const now = await readIndexEntry(runId);
    if (now?.dir !== relativeDir)
      throw new UnknownRunError(`run id ${runId} is taken: it lives in ${now?.dir}; choose another run id`);
  }
  return dir;
}

/** A run found by {@link allRunDirs}: its folder, or why its index entry cannot be used. */
export type FoundRun = { runId: string; dir: string } | { runId: string; dir: null; problem: string };

/** Every run id with its folder: the index, plus runs in the default folder prepared before the index existed. */
export async function allRunDirs(): Promise<FoundRun[]> {
  const found = new Map<string, FoundRun>();
  const legacyRoot = join(dataDir(), DEFAULT_RUNS_DIR);
  for (const d of await readdir(legacyRoot, { withFileTypes: true }).catch(() => [])) {
    if (d.isDirectory() && RUN_ID.test(d.name)) found.set(d.name, { runId: d.name, dir: join(legacyRoot, d.name) });
  }
  for (const name of await readdir(indexDir()).catch(() => [] as string[])) {
    const runId = name.replace(/\.json$/, '');
    if (!RUN_ID.test(runId)) continue;
    // One bad entry must not hide the other runs: it is listed with its problem.
    const entry = await resolveRunDir(runId).then(
      (dir): FoundRun => ({ runId, dir }),
      (e: Error): FoundRun => ({ runId, dir: null, problem: e.message }),
    );
    found.set(runId, entry);
  }
  return [...found.values()];
}

/** A folder of a run resolved for a step: the run folder itself, or a version or reproduction folder inside it. */
export interface RunFolder {
  runId: string;
  /** The run folder itself (where the run's own records and lock live). */
  root: string;
  /** The folder the step reads and writes: `root`, `root/versions/v<n>` or `root/repro/<name>`. */
  dir: string;
}

/** Resolves a payload's run reference (ids only, never paths) to its folders. */
export async function resolveRunFolder(ref: RunRef): Promise<RunFolder> {
  const root = await resolveRunDir(ref.runId);
  const inner = ref.repro !== undefined ? reproDirName(ref.repro) : versionDirName(ref.version ?? 1);
  return { runId: ref.runId, root, dir: join(root, inner) };
}

/** The folder of a run itself (version 1), for code that works on a run folder it already found. */
export const runFolderAt = (runId: string, root: string): RunFolder => ({ runId, root, dir: root });
