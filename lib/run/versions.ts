/**
 * Model versions of a run: version 1 is the trained run, an override builds version n+1 in `versions/v<n+1>/`.
 * Readers and writers of the records that say what a version is: its override spec, its review, its summary.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EMPTY_OVERRIDE_SPEC, overrideSpecSchema, type OverrideSpec, type Review } from '../../schemas/lifecycle';
import { InputError, UnknownRunError } from '../errors';
import { fileExists } from '../data/raw';
import { MODEL_FILE, OVERRIDE_SPEC_FILE, REVIEW_FILE, RUN_INFO_FILE, versionDirName } from './layout';
import { readLock } from './lock';
import { readManifest } from './manifest';
import { readMetrics, readRunInfo } from './records';
import { readRunRecord, writeRunRecord } from './signedRecord';

/** The newest model version found in a run folder (version 1 is the run itself). */
export async function newestVersion(runDir: string): Promise<number> {
  const names = await readdir(join(runDir, 'versions')).catch(() => [] as string[]);
  return Math.max(1, ...names.map((n) => Number(/^v(\d+)$/.exec(n)?.[1] ?? 0)));
}

/** The override spec of a version folder; the empty spec for a folder without one (version 1). */
export async function readOverrideSpec(versionDir: string): Promise<OverrideSpec> {
  try {
    return overrideSpecSchema.parse(JSON.parse(await readFile(join(versionDir, OVERRIDE_SPEC_FILE), 'utf8')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_OVERRIDE_SPEC;
    throw e;
  }
}

export interface VersionReview extends Review {
  version: number;
  overrideId: string;
}

/** Writes the review of version `review.version` into its folder (idempotent: a retried activity rewrites it). */
export async function writeVersionReview(runDir: string, review: VersionReview): Promise<void> {
  if (review.version === 1) throw new InputError('version 1 is the trained run itself; it has no override to review');
  await writeRunRecord(join(runDir, versionDirName(review.version), REVIEW_FILE), review);
}

/** The review recorded in a version's folder, or null when it was never reviewed. */
export async function readVersionReview(versionDir: string): Promise<VersionReview | null> {
  return readRunRecord<VersionReview>(join(versionDir, REVIEW_FILE));
}

/**
 * The version an unlocked run is scored with: its newest version a validator approved, else the trained run
 * (version 1). A version pending review, rejected or failed is never picked. (A locked run scores its locked
 * version: see openRunModel.)
 */
export async function latestApprovedVersion(runDir: string): Promise<number> {
  for (let v = await newestVersion(runDir); v > 1; v--) {
    const review = await readVersionReview(join(runDir, versionDirName(v)));
    if (review?.decision === 'approve') return v;
  }
  return 1;
}

/**
 * A model version of a run and its folder: `explicit` when given (UnknownRunError naming the versions there are),
 * else the version the run's model means: the locked version of a locked run, else the newest approved version,
 * else version 1. Readers of any version (reports, exports, downloads) use it; scoring adds that a locked run scores
 * only its locked version.
 */
export async function resolveVersion(
  runId: string,
  runDir: string,
  explicit?: number,
): Promise<{ version: number; dir: string }> {
  if (explicit === undefined) {
    const version = (await readLock(runDir))?.version ?? (await latestApprovedVersion(runDir));
    return { version, dir: join(runDir, versionDirName(version)) };
  }
  const dir = join(runDir, versionDirName(explicit));
  if (!Number.isInteger(explicit) || explicit < 1 || !(await fileExists(join(dir, RUN_INFO_FILE))))
    throw new UnknownRunError(`run ${runId} has no version ${explicit} (versions 1..${await newestVersion(runDir)})`);
  return { version: explicit, dir };
}

/** What the lifecycle workflow needs to know about a finished run or version, read from its folder. */
export interface VersionSummary {
  ownerId: string;
  modelSha256: string | null;
  rocAuc: number | null;
  threshold: number | null;
}

export async function describeVersion(runDir: string, version: number): Promise<VersionSummary> {
  const dir = join(runDir, versionDirName(version));
  const [info, manifest, metrics] = await Promise.all([readRunInfo(runDir), readManifest(dir), readMetrics(dir)]);
  return {
    ownerId: info.createdBy.userId,
    modelSha256: manifest.artifacts.find((a) => a.path === MODEL_FILE)?.sha256 ?? null,
    rocAuc: metrics.oof.rocAuc,
    threshold: metrics.oof.threshold,
  };
}
