import type { ResolvedIdentity } from '../../schemas/governance';
import { RunStateError, UnknownRunError } from '../errors';
import { actorFields, appendAudit } from '../governance/audit';
import { authenticate, isAllowed, permit, type Credential } from '../governance/authorize';
import { showRun } from '../run';

const PERMISSION = 'cancel_run' as const;

/**
 * Who may cancel run `runId` (seed-3 "Cancel running job": ANALYST its own runs, MODELER and ADMIN any). A role
 * without the permission is refused before the run is looked up, so a denied caller learns nothing of it; an
 * ANALYST is checked against the run's creator. A run that already ended is refused by name.
 * @throws PermissionDeniedError, AuthenticationError, UnknownRunError, RunStateError
 */
export async function authorizeRunCancel(credential: Credential, runId: string): Promise<ResolvedIdentity> {
  const source = credential.source ?? 'cli';
  const resource = { type: 'run', id: runId };
  const identity = await authenticate(credential, { permission: PERMISSION, resource });
  const anyRun = isAllowed(identity, PERMISSION, resource).allowed;
  if (!anyRun && !isAllowed(identity, PERMISSION, { ...resource, ownerId: identity.userId }).allowed)
    await permit(identity, PERMISSION, resource, source);
  const run = await showRun(runId).catch((e: unknown) => {
    // A run still preparing has no run.json yet: whoever may cancel any run may cancel it (Temporal knows it).
    if (e instanceof UnknownRunError && anyRun) return null;
    if (e instanceof UnknownRunError && !anyRun)
      throw new UnknownRunError(`${e.message} (a run that has just started records its creator within seconds)`);
    throw e;
  });
  if (run) await permit(identity, PERMISSION, { ...resource, ownerId: run.info.createdBy.userId }, source);
  if (run && run.state !== 'running')
    throw new RunStateError(`run ${runId} is not running: it is ${run.state}; only a running run can be cancelled`);
  return identity;
}

/** Audits who asked for a run's cancellation and why (`run_cancel_requested`); the run's own end is audited apart. */
export async function auditCancelRequest(
  identity: ResolvedIdentity,
  runId: string,
  reason: string,
  source: Credential['source'] = 'cli',
): Promise<void> {
  await appendAudit({
    ...actorFields(identity),
    action: 'run_cancel_requested',
    resource_type: 'run',
    resource_id: runId,
    correlation_id: runId,
    status: 'success',
    before: { state: 'running' },
    after: { state: 'cancel_requested' },
    reason,
    source: source ?? 'cli',
    result: 'requested',
  });
}
