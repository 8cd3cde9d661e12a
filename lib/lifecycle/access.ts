/**
 * Who may do what to a run's lifecycle: the governance choke point (`authorize`) plus the one rule it cannot
 * express alone — an ANALYST may review an override a MODELER delegated to them (seed-3 §6).
 */
import type { Actor } from '../../schemas/lifecycle';
import type { ResolvedIdentity } from '../../schemas/governance';
import type { AuditInput } from '../../schemas/governance';
import {
  appendAudit,
  authenticate,
  authorize,
  canApproveDelegated,
  isAllowed,
  type DelegationAuditFields,
} from '../governance';

export const actorOf = (identity: ResolvedIdentity): Actor => ({
  userId: identity.userId,
  role: identity.role,
  ...(identity.temporaryRole ? { temporaryRole: true } : {}),
});

/**
 * Audits what `actor` did to run `runId` (from a lifecycle workflow unless `entry.source` says otherwise): who (with
 * a temporary role marked), the run as correlation id, and the action's own fields.
 */
export async function auditRunAction(
  actor: Actor,
  runId: string,
  entry: Omit<AuditInput, 'user_id' | 'user_role' | 'temporary_role' | 'correlation_id' | 'source'> &
    Partial<Pick<AuditInput, 'source'>>,
): Promise<void> {
  await appendAudit({
    user_id: actor.userId,
    user_role: actor.role,
    temporary_role: actor.temporaryRole ?? false,
    correlation_id: runId,
    source: 'workflow',
    ...entry,
  });
}

/** Audits a refused operation on the run (locked, rejected, busy, unmet lock requirements) so the attempt is on record. */
export async function auditRefusal(input: {
  runId: string;
  actor: Actor;
  operation: string;
  message: string;
}): Promise<void> {
  await auditRunAction(input.actor, input.runId, {
    action: 'lifecycle_refused',
    attempted_action: input.operation,
    resource_type: 'run',
    resource_id: input.runId,
    status: 'failure',
    reason: input.message,
    result: 'refused',
  });
}

/** The permission a validator's review needs (seed-3 §2 "Approve for deployment": VALIDATOR, ADMIN). */
export const REVIEW_PERMISSION = 'approve_deployment' as const;

/**
 * Authorizes a review of override `overrideId`: VALIDATOR/ADMIN by the matrix, or the ANALYST it was delegated
 * to. A refusal goes through `authorize`, so it is audited as `permission_denied` with the §8 body.
 */
export async function authorizeReview(
  token: string,
  runId: string,
  overrideId: string,
): Promise<{ actor: Actor; delegation: DelegationAuditFields | null }> {
  const resource = { type: 'override', id: overrideId, runId };
  const identity = await authenticate({ token, source: 'workflow' }, { permission: REVIEW_PERMISSION, resource });
  if (isAllowed(identity, REVIEW_PERMISSION, resource).allowed) return { actor: actorOf(identity), delegation: null };
  const delegated = await canApproveDelegated(identity, overrideId);
  if (delegated.allowed) return { actor: actorOf(identity), delegation: delegated.audit };
  // Refuses (and audits) unless the role changed in the meantime.
  return {
    actor: actorOf(await authorize({ token, source: 'workflow' }, REVIEW_PERMISSION, resource)),
    delegation: null,
  };
}
