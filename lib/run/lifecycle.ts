/**
 * The durable records of a run's lifecycle and the state they add up to. The `runLifecycle` workflow holds a copy of
 * this state to answer queries, but the records are the truth: a lifecycle workflow terminated and started again
 * rebuilds its state from them (a locked run comes back locked), and every governed change re-reads them first.
 *
 * - `versions/v<n>/override.json`: the override version n was built for; `manifest.json` once built, or
 *   `build-failed.json`; `review.json` once a validator decided.
 * - `repro/<name>/request.json`: who asked for a reproducibility test of which version; `reproducibility.json` once
 *   it ran.
 * - `lock.json`: the lock, and the deployment approval.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type {
  Actor,
  LifecycleView,
  ModelVersion,
  OverrideRecord,
  ReproducibilityResult,
  RunStatus,
} from '../../schemas/lifecycle';
import {
  BUILD_FAILED_FILE,
  MODEL_FILE,
  OVERRIDE_RECORD_FILE,
  REPRO_FAILED_FILE,
  REPRO_REQUEST_FILE,
  REPRODUCIBILITY_FILE,
  versionDirName,
} from './layout';
import { readLock } from './lock';
import { tryManifest } from './manifest';
import { readMetrics, readRunInfo } from './records';
import { readRunRecord, writeRunRecord } from './signedRecord';
import { newestVersion, readVersionReview } from './versions';

/** What `override.json` holds: the override as filed (its status comes from the version's other records). */
export type FiledOverride = Omit<OverrideRecord, 'status' | 'error' | 'review'> & {
  fromVersion: number;
  claim: string;
};

/** Writes the record of the override version `filed.version` is built for, into the version's folder. */
export async function writeOverrideRecord(runDir: string, filed: FiledOverride): Promise<void> {
  await writeRunRecord(join(runDir, versionDirName(filed.version), OVERRIDE_RECORD_FILE), filed);
}

/** Records why version `version` was not built (a failed step, or an interrupted lifecycle). */
export async function writeBuildFailure(runDir: string, version: number, error: string): Promise<void> {
  await writeRunRecord(join(runDir, versionDirName(version), BUILD_FAILED_FILE), {
    version,
    error,
    at: new Date().toISOString(),
  });
}

const reproRequestSchema = z.strictObject({
  version: z.number().int().min(1),
  by: z.object({ userId: z.string(), role: z.string(), temporaryRole: z.boolean().optional() }),
  at: z.string(),
  claim: z.string(),
});
export type ReproRequest = { version: number; by: Actor; at: string; claim: string };

/** Writes who asked for reproduction `repro` of which version. */
export async function writeReproRequest(reproDir: string, request: ReproRequest): Promise<void> {
  await writeRunRecord(join(reproDir, REPRO_REQUEST_FILE), request);
}

/** Records why a reproduction never finished (a failed step, or its lifecycle restarted while it ran). */
export async function writeReproFailure(reproDir: string, error: string): Promise<void> {
  await writeRunRecord(join(reproDir, REPRO_FAILED_FILE), { at: new Date().toISOString(), error });
}

/** The request of a reproduction folder; refuses a folder that has none (no test was asked for there). */
export async function readReproRequest(reproDir: string): Promise<ReproRequest> {
  const raw = await readRunRecord<unknown>(join(reproDir, REPRO_REQUEST_FILE));
  if (raw === null) throw new Error(`${reproDir} has no ${REPRO_REQUEST_FILE}: no reproducibility test was requested`);
  return reproRequestSchema.parse(raw) as ReproRequest;
}

/** What one version folder's records say, each read once (so its version and its override always agree). */
async function versionFolder(runDir: string, version: number) {
  const dir = join(runDir, versionDirName(version));
  const [manifest, filed, failure, review] = await Promise.all([
    tryManifest(dir),
    version === 1 ? null : readRunRecord<FiledOverride>(join(dir, OVERRIDE_RECORD_FILE)),
    version === 1 ? null : readRunRecord<{ error: string }>(join(dir, BUILD_FAILED_FILE)),
    version === 1 ? null : readVersionReview(dir),
  ]);
  const metrics = manifest ? await readMetrics(dir).catch(() => null) : null;
  return { version, manifest, filed, failure, review, metrics };
}
type VersionFolder = Awaited<ReturnType<typeof versionFolder>>;

/**
 * A built version: its folder has a manifest and, past version 1, the signed record of the override it was built for
 * and no build failure (a folder completed by a workflow other than the one its lifecycle started is not a version).
 */
function versionRecord({ version, manifest, filed, failure, metrics }: VersionFolder): ModelVersion | null {
  if (!manifest) return null;
  if (version > 1 && (!filed || failure)) return null;
  return {
    version,
    modelSha256: manifest.artifacts.find((a) => a.path === MODEL_FILE)?.sha256 ?? null,
    rocAuc: metrics?.oof.rocAuc ?? null,
    threshold: metrics?.oof.threshold ?? null,
    createdAt: manifest.createdAt,
    overrideId: filed?.id ?? null,
  };
}

function overrideRecord({ manifest, filed, failure, review }: VersionFolder): OverrideRecord | null {
  if (!filed) return null;
  const { fromVersion: _from, ...override } = filed;
  if (review) {
    const { version: _v, overrideId: _o, ...decision } = review;
    return { ...override, status: review.decision === 'approve' ? 'approved' : 'rejected', review: decision };
  }
  if (failure) return { ...override, status: 'failed', error: failure.error };
  return { ...override, status: manifest ? 'pending_review' : 'retraining' };
}

/** A reproducibility test of the run: who asked, the result once it ran, or that it never will. */
export interface Reproduction {
  name: string;
  request: ReproRequest;
  result: ReproducibilityResult | null;
  /** Why it never finished, when it will not. */
  failed: string | null;
}

/** Every reproducibility test of the run, oldest first. */
export async function reproductions(runDir: string): Promise<Reproduction[]> {
  const names = await readdir(join(runDir, 'repro')).catch(() => [] as string[]);
  const found = await Promise.all(
    names.map(async (name) => {
      const dir = join(runDir, 'repro', name);
      const request = await readReproRequest(dir).catch(() => null);
      if (!request) return null;
      const [result, failure] = await Promise.all([
        readRunRecord<ReproducibilityResult>(join(dir, REPRODUCIBILITY_FILE)),
        readRunRecord<{ error: string }>(join(dir, REPRO_FAILED_FILE)),
      ]);
      return { name, request, result, failed: failure?.error ?? null };
    }),
  );
  return found
    .filter((r): r is NonNullable<typeof r> => r !== null)
    .sort((a, b) => a.request.at.localeCompare(b.request.at));
}

/**
 * The state of a run's lifecycle as its records say: versions, overrides with their reviews, the latest
 * reproducibility result, lock, deployment, the job in progress, and the status they add up to.
 */
export async function lifecycleView(runId: string, runDir: string): Promise<LifecycleView> {
  const info = await readRunInfo(runDir);
  const newest = await newestVersion(runDir);
  const folders = await Promise.all(Array.from({ length: newest }, (_, i) => versionFolder(runDir, i + 1)));
  const versions = folders.map(versionRecord).filter((v): v is ModelVersion => v !== null);
  const overrides = folders.map(overrideRecord).filter((o): o is OverrideRecord => o !== null);
  const tests = await reproductions(runDir);
  const lock = await readLock(runDir);
  const building = overrides.find((o) => o.status === 'retraining');
  const running = tests.find((t) => t.result === null && t.failed === null);
  const job = building
    ? {
        kind: 'retrain' as const,
        startedAt: building.requestedAt,
        detail: `building version ${building.version} for override ${building.id}`,
      }
    : running
      ? {
          kind: 'reproduce' as const,
          startedAt: running.request.at,
          detail: `reproducing version ${running.request.version}`,
        }
      : null;
  const currentVersion = Math.max(1, ...versions.map((v) => v.version));
  const last = overrides.at(-1);
  const status: RunStatus = lock
    ? 'locked'
    : overrides.some((o) => o.status === 'rejected')
      ? 'rejected'
      : last?.status === 'pending_review' || last?.status === 'retraining'
        ? 'manual_override_pending_review'
        : last?.status === 'approved'
          ? 'approved'
          : overrides.some((o) => o.status === 'approved')
            ? 'approved'
            : 'trained';
  // A test recorded as failed has no result, whatever a later write left in its folder.
  const lastResult = tests.filter((t) => t.result !== null && t.failed === null).at(-1)?.result ?? null;
  return {
    runId,
    ownerId: info.createdBy.userId,
    status,
    currentVersion,
    versions,
    overrides,
    reproducibility: lastResult,
    lock: lock
      ? {
          locked_by: lock.locked_by,
          locked_at: lock.locked_at,
          reason: lock.reason,
          deployment_approved: lock.deployment_approved,
          version: lock.version,
          ...(lock.claim ? { claim: lock.claim } : {}),
        }
      : null,
    deployment: lock?.deployment
      ? { approvedBy: lock.deployment.approved_by, at: lock.deployment.approved_at, reason: lock.deployment.reason }
      : null,
    job,
  };
}
