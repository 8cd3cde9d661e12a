import { join } from 'node:path';
import type { Actor, OverrideRecord, Review } from '../schemas/lifecycle';
import type { DelegationAuditFields } from '../lib/governance';
import { auditRefusal, authorizeReview } from '../lib/lifecycle/access';
import { approveDeployment, lockRun } from '../lib/lifecycle/lock';
import { fileOverride, notifyPendingReview, recordReview, type FileOverrideInput } from '../lib/lifecycle/overrides';
import {
  auditReproduction,
  compareReproduction,
  groupReproducedFeatures,
  prepareReproduction,
} from '../lib/lifecycle/reproduce';
import { describeVersion } from '../lib/lifecycle/run';
import { writeBinningTables } from '../lib/lifecycle/versions';
import type { RunRef } from '../lib/pipeline/run';
import { guarded } from './failures';

/** Activities of the run lifecycle (issue 6): thin adapters over lib/lifecycle; workflows pass folders and ids. */
export function createLifecycleActivities() {
  return {
    /** The run's binning tables as an artifact (`binning/tables.json`), written before the manifest. */
    binningTables: (ref: RunRef) => guarded(() => writeBinningTables(ref.runDir, ref.runDir)),
    describeVersion: (input: { runDir: string; versionDir: string }) =>
      guarded(() => describeVersion(input.runDir, input.versionDir)),
    fileOverride: (input: FileOverrideInput) => guarded(() => fileOverride(input)),
    notifyPendingReview: (input: { runId: string; override: OverrideRecord; rocAuc: number | null }) =>
      guarded(() => notifyPendingReview(input.runId, input.override, input.rocAuc)),
    authorizeReview: (input: { token: string; runId: string; overrideId: string }) =>
      guarded(() => authorizeReview(input.token, input.runId, input.overrideId)),
    recordReview: (input: {
      runId: string;
      runDir: string;
      override: OverrideRecord;
      review: Review;
      delegation: DelegationAuditFields | null;
    }) => guarded(() => recordReview(input)),
    auditRefusal: (input: { runId: string; actor: Actor; operation: string; message: string }) =>
      guarded(() => auditRefusal(input)),
    prepareReproduction: (input: { runDir: string; versionDir: string; reproDir: string }) =>
      guarded(() =>
        prepareReproduction(input.runDir, join(input.runDir, input.versionDir), join(input.runDir, input.reproDir)),
      ),
    groupReproducedFeatures: (reproPath: string) => guarded(() => groupReproducedFeatures(reproPath)),
    compareReproduction: (input: {
      runId: string;
      runDir: string;
      versionDir: string;
      reproDir: string;
      version: number;
      by: Actor;
    }) =>
      guarded(async () => {
        const meta = { version: input.version, by: input.by, at: new Date().toISOString() };
        const versionPath = join(input.runDir, input.versionDir);
        const { result } = await compareReproduction(versionPath, join(input.runDir, input.reproDir), meta);
        await auditReproduction(input.runId, result);
        return result;
      }),
    lockRun: (input: Parameters<typeof lockRun>[0]) => guarded(() => lockRun(input)),
    approveDeployment: (input: Parameters<typeof approveDeployment>[0]) => guarded(() => approveDeployment(input)),
  };
}

export type LifecycleActivities = ReturnType<typeof createLifecycleActivities>;
