/**
 * The governed operations of a run's lifecycle, as its workflow asks for them. Each one authorizes the capability
 * the request carries (claimed for the workflow execution and step that present it, the user's role looked up now),
 * re-reads the run's records, refuses what they do not allow (audited), and only then changes them. Nothing is taken
 * from the payload but the request the capability was issued for: version numbers, override ids and the acting user
 * all come from the records and the capability, so a workflow or activity started by hand cannot steer a change.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  OVERRIDE_PERMISSION,
  reproductionWorkflowId,
  type Actor,
  type LifecycleView,
  type OverrideChange,
  type Review,
} from '../../schemas/lifecycle';
import type { ArtifactRef } from '../../schemas/run';
import {
  authorizeCapability,
  canApproveDelegated,
  capabilityIdentity,
  isAllowed,
  permit,
  type Claimant,
} from '../governance';
import {
  lifecycleView,
  newestVersion,
  readRunInfo,
  reproDirName,
  reproductions,
  resolveRunDir,
  RunLockedError,
  writeBuildFailure,
  writeReproFailure,
  type WorkflowExecution,
} from '../run';
import { actorOf, refuseAs, REVIEW_PERMISSION } from './access';
import { LifecycleStateError } from './errors';
import { approveDeployment, lockRun } from './lock';
import { fileOverride, notifyPendingReview, recordReview } from './overrides';
import { requestReproduction } from './reproduce';

/** Where an operation comes from: the run, the workflow execution (from the activity's context) and its step. */
export interface OperationContext {
  runId: string;
  execution: WorkflowExecution;
  /** The workflow's number for this operation: a replayed signal is another step, refused its used capability. */
  step: string;
  /** Whether the Temporal server holds a schedule of this id (the worker asks its server; absent outside one). */
  scheduleOnServer?: (scheduleId: string) => Promise<boolean>;
}

/** What every operation returns: its message, who acted, and the run's state as its records now say. */
export interface OperationOutcome {
  message: string;
  /** The acting user (from the capability), or null for the lifecycle's own follow-ups. */
  by: string | null;
  view: LifecycleView;
}

const claimantOf = (ctx: OperationContext): Claimant => ({ ...ctx.execution, step: ctx.step });
/** How a record names the execution and step that made it: a retried activity recognises its own change. */
const claimOf = (ctx: OperationContext): string => `${ctx.execution.workflowRunId}:${ctx.step}`;

type Operation = 'fileOverride' | 'reviewOverride' | 'runReproducibility' | 'lockRun' | 'approveDeployment';

/**
 * Refuses (audited as `lifecycle_refused`) an operation the run's state does not allow: a locked run, a rejected run
 * (rejection is final), a run busy with a version build or a reproduction, and, where `pendingBlocks` names it, a run
 * whose override waits for review.
 */
async function assertAllowedNow(
  ctx: OperationContext,
  view: LifecycleView,
  operation: Operation,
  actor: Actor,
  pendingBlocks: string | null,
): Promise<void> {
  const refuse = (error: Error): Promise<never> => refuseAs(actor, ctx.runId, operation, error);
  if (view.lock) await refuse(new RunLockedError(ctx.runId, view.lock.locked_by, view.lock.locked_at));
  if (view.status === 'rejected') {
    const by = view.overrides.find((o) => o.status === 'rejected')?.review?.by.userId ?? 'a validator';
    await refuse(
      new LifecycleStateError(
        `run ${ctx.runId} was rejected by ${by}: rejection is final; create a new run without the override`,
      ),
    );
  }
  if (view.job)
    await refuse(new LifecycleStateError(`run ${ctx.runId} is busy: ${view.job.detail}; try again when it finishes`));
  if (pendingBlocks && view.status === 'manual_override_pending_review')
    await refuse(new LifecycleStateError(pendingBlocks));
}

export interface FiledOverrideOutcome extends OperationOutcome {
  overrideId: string;
  version: number;
  nSplits: number;
  retrain: boolean;
  artifacts: ArtifactRef[];
}

/** Files an override (permission by its kind): the next version's folder, its records, the audited diff. */
export async function fileOverrideOperation(
  ctx: OperationContext,
  capability: unknown,
  request: { change: OverrideChange; reason: string },
): Promise<FiledOverrideOutcome> {
  const runDir = await resolveRunDir(ctx.runId);
  const info = await readRunInfo(runDir);
  const feature = 'feature' in request.change ? request.change.feature : undefined;
  const identity = await authorizeCapability(
    capability,
    { op: 'fileOverride', runId: ctx.runId, request },
    claimantOf(ctx),
    OVERRIDE_PERMISSION[request.change.kind],
    feature
      ? { type: 'binning_table', id: `${ctx.runId}/${feature}`, runId: ctx.runId, ownerId: info.createdBy.userId }
      : { type: 'model', id: ctx.runId, runId: ctx.runId, ownerId: info.createdBy.userId },
  );
  const actor = actorOf(identity);
  const before = await lifecycleView(ctx.runId, runDir);
  // A retried activity finds the version it created for this capability and builds on it again.
  const retried = before.overrides.find((o) => o.claim === claimOf(ctx));
  if (!retried) {
    const last = before.overrides.at(-1);
    await assertAllowedNow(
      ctx,
      before,
      'fileOverride',
      actor,
      `override ${last?.id} of run ${ctx.runId} waits for review; file the next one after the review`,
    );
  }
  const version = retried?.version ?? (await newestVersion(runDir)) + 1;
  const overrideId = retried?.id ?? `ov-${before.overrides.length + 1}`;
  const filed = await fileOverride({
    runId: ctx.runId,
    runDir,
    overrideId,
    fromVersion: before.currentVersion,
    version,
    change: request.change,
    reason: request.reason,
    actor,
    claim: claimOf(ctx),
  });
  return {
    message: `override ${overrideId} filed; version ${version} is being built, then validators review it`,
    by: actor.userId,
    view: await lifecycleView(ctx.runId, runDir),
    overrideId,
    version,
    nSplits: filed.nSplits,
    retrain: filed.retrain,
    artifacts: filed.artifacts,
  };
}

/**
 * The lifecycle's follow-up when version `version` was built: validators are told it waits for review. A review can
 * land first (the records show the version built as soon as its build wrote them); then nobody needs telling.
 */
export async function versionBuilt(runId: string, version: number): Promise<OperationOutcome> {
  const runDir = await resolveRunDir(runId);
  const view = await lifecycleView(runId, runDir);
  const override = view.overrides.find((o) => o.version === version);
  if (override?.status === 'approved' || override?.status === 'rejected')
    return { message: `version ${version} built; ${override.id} was already ${override.status}`, by: null, view };
  if (!override || override.status !== 'pending_review')
    throw new LifecycleStateError(`run ${runId} version ${version} is not a built version waiting for review`);
  const rocAuc = view.versions.find((v) => v.version === version)?.rocAuc ?? null;
  await notifyPendingReview(runId, override, rocAuc);
  return { message: `version ${version} ready; validators notified`, by: null, view };
}

/** The lifecycle's follow-up when the build of version `version` failed: recorded, so the run moves on. */
export async function versionFailed(runId: string, version: number, error: string): Promise<OperationOutcome> {
  const runDir = await resolveRunDir(runId);
  const override = (await lifecycleView(runId, runDir)).overrides.find((o) => o.version === version);
  if (override?.status !== 'retraining')
    throw new LifecycleStateError(`run ${runId} version ${version} is not being built`);
  await writeBuildFailure(runDir, version, error);
  return { message: `version ${version} failed: ${error}`, by: null, view: await lifecycleView(runId, runDir) };
}

/**
 * Reviews an override: VALIDATOR/ADMIN by the matrix, or the ANALYST a MODELER delegated it to; never its author.
 * Records the decision in the version's folder (scoring picks the newest approved version), audits, notifies.
 */
export async function reviewOverrideOperation(
  ctx: OperationContext,
  capability: unknown,
  request: { overrideId: string; decision: 'approve' | 'reject'; reason: string },
): Promise<OperationOutcome> {
  const runDir = await resolveRunDir(ctx.runId);
  const resource = { type: 'override', id: request.overrideId, runId: ctx.runId };
  const identity = await capabilityIdentity(
    capability,
    { op: 'reviewOverride', runId: ctx.runId, request },
    claimantOf(ctx),
    resource,
  );
  let delegation = null;
  if (!isAllowed(identity, REVIEW_PERMISSION, resource).allowed) {
    const delegated = await canApproveDelegated(identity, ctx.runId, request.overrideId);
    if (delegated.allowed) delegation = delegated.audit;
    else await permit(identity, REVIEW_PERMISSION, resource, 'workflow');
  }
  const actor = actorOf(identity);
  const before = await lifecycleView(ctx.runId, runDir);
  const override = before.overrides.find((o) => o.id === request.overrideId);
  const refuse = (message: string): Promise<never> =>
    refuseAs(actor, ctx.runId, 'reviewOverride', new LifecycleStateError(message));
  const retried = override?.review?.claim === claimOf(ctx);
  if (!retried) {
    await assertAllowedNow(ctx, before, 'reviewOverride', actor, null);
    if (!override) return refuse(`run ${ctx.runId} has no override ${request.overrideId}`);
    if (override.status !== 'pending_review')
      return refuse(`override ${request.overrideId} is ${override.status}, not pending review`);
    if (override.requestedBy.userId === actor.userId)
      return refuse(`${actor.userId} filed override ${request.overrideId} and cannot review it`);
  }
  const review: Review = {
    decision: request.decision,
    by: actor,
    reason: request.reason,
    at: new Date().toISOString(),
    claim: claimOf(ctx),
    ...(delegation ? { delegatedBy: delegation.delegated_by, delegationId: delegation.delegation_id } : {}),
  };
  await recordReview({ runId: ctx.runId, runDir, override: override!, review, delegation });
  const how = delegation ? ` (delegated by ${delegation.delegated_by})` : '';
  const decided = request.decision === 'approve' ? 'approved' : 'rejected';
  return {
    message: `override ${request.overrideId} ${decided} by ${actor.userId}${how}`,
    by: actor.userId,
    view: await lifecycleView(ctx.runId, runDir),
  };
}

export interface ReproductionOutcome extends OperationOutcome {
  version: number;
  repro: string;
}

/** The lifecycle's follow-up when reproduction `repro` failed to run: recorded, so the run moves on. */
export async function reproductionFailed(runId: string, repro: string, error: string): Promise<OperationOutcome> {
  const runDir = await resolveRunDir(runId);
  const test = (await reproductions(runDir)).find((r) => r.name === repro);
  if (!test || test.result !== null || test.failed !== null)
    throw new LifecycleStateError(`run ${runId} has no reproducibility test ${repro} in progress`);
  await writeReproFailure(join(runDir, reproDirName(repro)), error);
  return { message: `reproducibility test failed: ${error}`, by: null, view: await lifecycleView(runId, runDir) };
}

/** Asks for the reproducibility test of the current version: its folder and request record, for the child. */
export async function reproductionOperation(
  ctx: OperationContext,
  capability: unknown,
  request: Record<string, never>,
): Promise<ReproductionOutcome> {
  const runDir = await resolveRunDir(ctx.runId);
  const identity = await authorizeCapability(
    capability,
    { op: 'runReproducibility', runId: ctx.runId, request },
    claimantOf(ctx),
    'run_reproducibility',
    { type: 'run', id: ctx.runId, runId: ctx.runId },
  );
  const actor = actorOf(identity);
  const before = await lifecycleView(ctx.runId, runDir);
  const claim = claimOf(ctx);
  const retried = (await reproductions(runDir)).find((r) => r.request.claim === claim);
  if (!retried)
    await assertAllowedNow(
      ctx,
      before,
      'runReproducibility',
      actor,
      `run ${ctx.runId} has an override pending review; review it first`,
    );
  const version = retried?.request.version ?? before.currentVersion;
  // Named after the request's claim, so a retried activity finds the folder it created.
  const repro = retried?.name ?? `v${version}-${createHash('sha256').update(claim).digest('hex').slice(0, 12)}`;
  await requestReproduction(
    runDir,
    repro,
    { version, by: actor, at: new Date().toISOString(), claim },
    reproductionWorkflowId(ctx.runId, repro),
  );
  return {
    message: `reproducing version ${version}; the result lands in state.reproducibility`,
    by: actor.userId,
    view: await lifecycleView(ctx.runId, runDir),
    version,
    repro,
  };
}

/** Locks the current version once every requirement holds (seed-3 §5), from the records, never from the payload. */
export async function lockOperation(
  ctx: OperationContext,
  capability: unknown,
  request: { reason: string },
): Promise<OperationOutcome> {
  const runDir = await resolveRunDir(ctx.runId);
  const identity = await authorizeCapability(
    capability,
    { op: 'lockRun', runId: ctx.runId, request },
    claimantOf(ctx),
    'lock_run',
    { type: 'run', id: ctx.runId, runId: ctx.runId },
  );
  const actor = actorOf(identity);
  const before = await lifecycleView(ctx.runId, runDir);
  const retried = before.lock?.claim === claimOf(ctx);
  if (!retried)
    await assertAllowedNow(
      ctx,
      before,
      'lockRun',
      actor,
      `run ${ctx.runId} has an override pending review; it cannot be locked or deployed until reviewed`,
    );
  const version = before.currentVersion;
  const reproduced = before.reproducibility?.version === version && before.reproducibility.passed;
  await lockRun({
    runId: ctx.runId,
    runDir,
    version,
    reproducibilityPassed: reproduced,
    actor,
    reason: request.reason,
    claim: claimOf(ctx),
    ...(ctx.scheduleOnServer ? { scheduleOnServer: ctx.scheduleOnServer } : {}),
  });
  return {
    message: `run ${ctx.runId} locked (version ${version})`,
    by: actor.userId,
    view: await lifecycleView(ctx.runId, runDir),
  };
}

/** Approves a locked run for deployment: `deployment.json` points at it (the scoring service reloads). */
export async function deploymentOperation(
  ctx: OperationContext,
  capability: unknown,
  request: { reason: string },
): Promise<OperationOutcome> {
  const runDir = await resolveRunDir(ctx.runId);
  const identity = await authorizeCapability(
    capability,
    { op: 'approveDeployment', runId: ctx.runId, request },
    claimantOf(ctx),
    'approve_deployment',
    { type: 'run', id: ctx.runId, runId: ctx.runId },
  );
  const actor = actorOf(identity);
  await approveDeployment({ runId: ctx.runId, runDir, actor, reason: request.reason, claim: claimOf(ctx) });
  return {
    message: `run ${ctx.runId} approved for deployment`,
    by: actor.userId,
    view: await lifecycleView(ctx.runId, runDir),
  };
}

/**
 * The state of a lifecycle (re)starting: builds and reproductions its previous execution left unfinished cannot be
 * finished by this one (its children ended with it), so they are recorded as interrupted; then the view.
 */
export async function resumeLifecycle(runId: string): Promise<OperationOutcome> {
  const runDir = await resolveRunDir(runId);
  const view = await lifecycleView(runId, runDir);
  const interrupted: string[] = [];
  for (const o of view.overrides.filter((o) => o.status === 'retraining')) {
    await writeBuildFailure(runDir, o.version, 'interrupted: the lifecycle restarted while the version was built');
    interrupted.push(`version ${o.version}`);
  }
  for (const r of (await reproductions(runDir)).filter((r) => r.result === null && r.failed === null)) {
    await writeReproFailure(join(runDir, reproDirName(r.name)), 'interrupted: the lifecycle restarted while it ran');
    interrupted.push(`reproduction ${r.name}`);
  }
  return {
    message: interrupted.length ? `resumed; interrupted: ${interrupted.join(', ')}` : 'resumed from the run records',
    by: null,
    view: interrupted.length ? await lifecycleView(runId, runDir) : view,
  };
}

/** The lifecycle's state as the run's records say now (after a child workflow ended). */
export async function currentLifecycle(runId: string): Promise<LifecycleView> {
  return lifecycleView(runId, await resolveRunDir(runId));
}
