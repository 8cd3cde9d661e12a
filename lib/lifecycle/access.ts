/** Who acts on a run's lifecycle, and how what they did (or were refused) is audited. */
import type { Actor } from '../../schemas/lifecycle';
import type { ResolvedIdentity } from '../../schemas/governance';
import type { AuditInput } from '../../schemas/governance';
import { appendAudit } from '../governance';

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
 * Refuses an operation the run's records do not allow: audits the attempt as `lifecycle_refused` and throws `error`
 * carrying who was refused (`userId`), for the workflow's journal.
 */
export async function refuseAs(actor: Actor, runId: string, operation: string, error: Error): Promise<never> {
  await auditRefusal({ runId, actor, operation, message: error.message });
  throw Object.assign(error, { userId: actor.userId });
}
