import type { Actor, OverrideChange, OverrideRecord, Review } from '../schemas/lifecycle';
import type { RunRef } from '../schemas/run';
import type { DelegationAuditFields } from '../lib/governance';
import { auditRefusal, authorizeReview } from '../lib/lifecycle/access';
import { approveDeployment, lockRun } from '../lib/lifecycle/lock';
import { fileOverride, notifyPendingReview, recordReview } from '../lib/lifecycle/overrides';
import {
  auditReproduction,
  compareReproduction,
  groupReproducedFeatures,
  prepareReproduction,
} from '../lib/lifecycle/reproduce';
import { writeBinningTables } from '../lib/lifecycle/versions';
import { describeVersion, resolveRunDir, resolveRunFolder } from '../lib/run';
import { guarded } from './failures';

/** A reproduction of version `version` of a run, named by the lifecycle workflow (`v<n>-g<generation>-h<length>`). */
export interface ReproductionRef {
  runId: string;
  version: number;
  repro: string;
}

/**
 * Activities of the run lifecycle: thin adapters over lib/lifecycle. Payloads name runs, versions and reproductions
 * by id; the folders are resolved here, inside the data directory.
 */
export function createLifecycleActivities() {
  return {
    /** The binning tables of a run or version as its artifact (`binning/tables.json`), written before the manifest. */
    binningTables: (ref: RunRef) =>
      guarded(async () => {
        const folder = await resolveRunFolder(ref);
        return writeBinningTables(folder.root, folder.dir);
      }),
    describeVersion: (input: { runId: string; version: number }) =>
      guarded(async () => describeVersion(await resolveRunDir(input.runId), input.version)),
    fileOverride: (input: {
      runId: string;
      overrideId: string;
      fromVersion: number;
      version: number;
      change: OverrideChange;
      reason: string;
      actor: Actor;
    }) => guarded(async () => fileOverride({ ...input, runDir: await resolveRunDir(input.runId) })),
    notifyPendingReview: (input: { runId: string; override: OverrideRecord; rocAuc: number | null }) =>
      guarded(() => notifyPendingReview(input.runId, input.override, input.rocAuc)),
    authorizeReview: (input: { token: string; runId: string; overrideId: string }) =>
      guarded(() => authorizeReview(input.token, input.runId, input.overrideId)),
    recordReview: (input: {
      runId: string;
      override: OverrideRecord;
      review: Review;
      delegation: DelegationAuditFields | null;
    }) => guarded(async () => recordReview({ ...input, runDir: await resolveRunDir(input.runId) })),
    auditRefusal: (input: { runId: string; actor: Actor; operation: string; message: string }) =>
      guarded(() => auditRefusal(input)),
    prepareReproduction: (input: ReproductionRef) =>
      guarded(async () => prepareReproduction(await resolveRunDir(input.runId), input.version, input.repro)),
    groupReproducedFeatures: (input: ReproductionRef) =>
      guarded(async () => groupReproducedFeatures((await resolveRunFolder(input)).dir)),
    compareReproduction: (input: ReproductionRef & { by: Actor }) =>
      guarded(async () => {
        const meta = { version: input.version, by: input.by, at: new Date().toISOString() };
        const result = await compareReproduction(await resolveRunDir(input.runId), input.repro, meta);
        await auditReproduction(input.runId, result);
        return result;
      }),
    lockRun: (input: {
      runId: string;
      version: number;
      reproducibilityPassed: boolean;
      actor: Actor;
      reason: string;
    }) => guarded(async () => lockRun({ ...input, runDir: await resolveRunDir(input.runId) })),
    approveDeployment: (input: { runId: string; actor: Actor; reason: string }) =>
      guarded(async () => approveDeployment({ ...input, runDir: await resolveRunDir(input.runId) })),
  };
}

export type LifecycleActivities = ReturnType<typeof createLifecycleActivities>;
