/** Overrides and their review (seed-3 §3): filing audits the full diff; reviews audit the decision and notify. */
import { join } from 'node:path';
import {
  OVERRIDE_AUDIT_ACTION,
  type Actor,
  type OverrideChange,
  type OverrideRecord,
  type Review,
  versionBuildWorkflowId,
} from '../../schemas/lifecycle';
import type { ArtifactRef } from '../../schemas/run';
import { appendAudit, type DelegationAuditFields } from '../governance';
import { notify } from '../notify';
import { auditRunAction } from './access';
import { registerFolderWriter, startStepRecord, versionDirName, writeOverrideRecord, writeVersionReview } from '../run';
import { createVersion, planOverride } from './versions';

export interface BuiltVersionInputs {
  before: unknown;
  after: unknown;
  retrain: boolean;
  nSplits: number;
  artifacts: ArtifactRef[];
}

/** What the lifecycle workflow passes to {@link fileOverride}. */
export interface FileOverrideInput {
  runId: string;
  runDir: string;
  overrideId: string;
  fromVersion: number;
  version: number;
  change: OverrideChange;
  reason: string;
  actor: Actor;
  /** The execution and step whose capability files it (see lib/run/lifecycle.ts). */
  claim: string;
}

/**
 * Files an override: checks it against the current version, creates the next version's folder with the override's
 * record and the owner of its build (the child workflow `<run>-v<version>`), and audits the action with user, time,
 * full before/after diff and reason (seed-3 §3 step 2).
 */
export async function fileOverride(input: FileOverrideInput): Promise<BuiltVersionInputs> {
  const fromDir = join(input.runDir, versionDirName(input.fromVersion));
  const plan = await planOverride(input.runDir, fromDir, input.change);
  const created = await createVersion(input.runDir, fromDir, input.version, plan);
  await startStepRecord(created.dir, created.artifacts);
  await writeOverrideRecord(input.runDir, {
    id: input.overrideId,
    change: input.change,
    reason: input.reason,
    requestedBy: input.actor,
    requestedAt: new Date().toISOString(),
    before: plan.before,
    after: plan.after,
    version: input.version,
    fromVersion: input.fromVersion,
    claim: input.claim,
  });
  await registerFolderWriter(created.dir, {
    workflowId: versionBuildWorkflowId(input.runId, input.version),
    workflowRunId: null,
  });
  const feature = 'feature' in input.change ? input.change.feature : null;
  await auditRunAction(input.actor, input.runId, {
    action: OVERRIDE_AUDIT_ACTION[input.change.kind],
    resource_type: feature ? 'binning_table' : 'model',
    resource_id: feature ? `${input.runId}/${feature}` : `${input.runId}/v${input.version}`,
    status: 'success',
    before: plan.before,
    after: plan.after,
    reason: input.reason,
    result: 'pending_review',
    details: { override_id: input.overrideId, version: input.version },
  });
  return {
    before: plan.before,
    after: plan.after,
    retrain: plan.retrain,
    nSplits: created.nSplits,
    artifacts: created.artifacts,
  };
}

/** Alerts every validator that an override waits for review (seed-3 §3 step 3). */
export async function notifyPendingReview(
  runId: string,
  override: OverrideRecord,
  rocAuc: number | null,
): Promise<void> {
  await notify({
    kind: 'override_pending_review',
    to: { roles: ['VALIDATOR'], users: [] },
    subject: `run ${runId}: ${override.change.kind} by ${override.requestedBy.userId} waits for review`,
    body: `${override.reason}\nversion ${override.version}${rocAuc === null ? '' : `, OOF ROC-AUC ${rocAuc.toFixed(4)}`}`,
    run_id: runId,
    correlation_id: runId,
    details: { override_id: override.id, change: override.change, before: override.before, after: override.after },
  });
}

/**
 * Audits a review (both people when delegated), records it in the version's folder (`review.json`: scoring picks
 * the newest approved version from these) and tells the modeler who filed the override.
 */
export async function recordReview(input: {
  runId: string;
  runDir: string;
  override: OverrideRecord;
  review: Review;
  delegation: DelegationAuditFields | null;
}): Promise<void> {
  const { runId, override, review } = input;
  const approved = review.decision === 'approve';
  await appendAudit({
    user_id: review.by.userId,
    user_role: review.by.role,
    temporary_role: review.by.temporaryRole ?? false,
    action: approved ? 'override_approved' : 'override_rejected',
    resource_type: 'override',
    resource_id: override.id,
    correlation_id: runId,
    status: 'success',
    reason: review.reason,
    source: 'workflow',
    result: approved ? 'approved' : 'rejected (final)',
    details: { requested_by: override.requestedBy.userId, version: override.version, kind: override.change.kind },
    ...(input.delegation ?? {}),
  });
  await writeVersionReview(input.runDir, { ...review, version: override.version, overrideId: override.id });
  await notify({
    kind: approved ? 'override_approved' : 'override_rejected',
    to: { roles: [], users: [override.requestedBy.userId] },
    subject: `run ${runId}: your ${override.change.kind} override ${override.id} was ${approved ? 'approved' : 'rejected'} by ${review.by.userId}`,
    body: approved
      ? review.reason
      : `${review.reason}\nThe override stays in the run's history; create a new run without it.`,
    run_id: runId,
    correlation_id: runId,
    details: { override_id: override.id, ...(input.delegation ?? {}) },
  });
}
