import { randomUUID } from 'node:crypto';
import type { Delegation, ResolvedIdentity } from '../../schemas/governance';
import { appendAudit } from './audit';
import { authorize, effectiveRole, isAllowed, type Credential } from './authorize';
import { GovernanceError } from './errors';
import { fileStore } from './store';

/** Audit fields that record both people of a delegated approval (the modeler stays accountable). */
export interface DelegationAuditFields {
  delegated_by: string;
  delegated_to: string;
  delegation_id: string;
}

/**
 * A MODELER (anyone with binning_override) delegates the approval of override `overrideId` of run `runId` to a
 * named ANALYST (seed-3 §6). The delegator is recorded as originator and stays accountable. Audited as
 * `delegation_created` with delegated_by / delegated_to.
 */
export async function delegateApproval(
  credential: Credential,
  input: { overrideId: string; runId: string; delegateTo: string; reason: string },
): Promise<Delegation> {
  const reason = input.reason?.trim();
  if (!reason) throw new GovernanceError('a reason is required to delegate an approval');
  const actor = await authorize(credential, 'binning_override', {
    type: 'override',
    id: input.overrideId,
    runId: input.runId,
  });
  const users = await fileStore.read('users');
  const delegate = users.users[input.delegateTo];
  if (!delegate) throw new GovernanceError(`unknown user ${input.delegateTo}`);
  if (delegate.userId === actor.userId) throw new GovernanceError('an approval cannot be delegated to oneself');
  if (effectiveRole(delegate).role !== 'ANALYST')
    throw new GovernanceError(
      `approvals are delegated to an ANALYST; ${delegate.userId} is ${effectiveRole(delegate).role}`,
    );
  const delegation: Delegation = {
    id: `dlg-${randomUUID().slice(0, 12)}`,
    overrideId: input.overrideId,
    runId: input.runId,
    delegatedBy: actor.userId,
    delegatedTo: delegate.userId,
    createdAt: new Date().toISOString(),
    reason,
    status: 'active',
  };
  await fileStore.mutate(
    'delegations',
    (doc) => {
      for (const d of Object.values(doc.delegations)) {
        if (d.overrideId === input.overrideId && d.status === 'active')
          throw new GovernanceError(`override ${input.overrideId} is already delegated to ${d.delegatedTo}`);
      }
      doc.delegations[delegation.id] = delegation;
    },
    async () => {
      await appendAudit({
        user_id: actor.userId,
        user_role: actor.role,
        action: 'delegation_created',
        correlation_id: input.runId,
        resource_type: 'override',
        resource_id: input.overrideId,
        status: 'success',
        reason,
        source: credential.source ?? 'cli',
        result: 'completed',
        temporary_role: actor.temporaryRole ?? false,
        delegated_by: actor.userId,
        delegated_to: delegate.userId,
        delegation_id: delegation.id,
      });
    },
  );
  return delegation;
}

export type DelegatedApprovalDecision =
  { allowed: true; delegation: Delegation; audit: DelegationAuditFields } | { allowed: false; reason: string };

/**
 * Whether `identity` (already authenticated) may approve override `overrideId` of run `runId` through a delegation:
 * an active delegation to this user, the user still an ANALYST, and the delegator still allowed to make overrides.
 * On success, `audit` holds the fields the approval's audit entry must carry (both people). Reads only.
 */
export async function canApproveDelegated(
  identity: ResolvedIdentity,
  runId: string,
  overrideId: string,
): Promise<DelegatedApprovalDecision> {
  const [delegations, users] = await Promise.all([fileStore.read('delegations'), fileStore.read('users')]);
  // Override ids repeat across runs (every run has an ov-1): a delegation names both.
  const delegation = Object.values(delegations.delegations).find(
    (d) => d.runId === runId && d.overrideId === overrideId && d.status === 'active',
  );
  if (!delegation) return { allowed: false, reason: `override ${overrideId} has no active delegation` };
  if (delegation.delegatedTo !== identity.userId)
    return { allowed: false, reason: `override ${overrideId} is delegated to ${delegation.delegatedTo}, not to you` };
  if (identity.role !== 'ANALYST')
    return { allowed: false, reason: `delegated approvals are for ANALYSTs; your role is now ${identity.role}` };
  const delegator = users.users[delegation.delegatedBy];
  if (
    !delegator ||
    !isAllowed({ userId: delegator.userId, role: effectiveRole(delegator).role }, 'binning_override').allowed
  )
    return {
      allowed: false,
      reason: `${delegation.delegatedBy}, who delegated it, may no longer make overrides; ask a MODELER`,
    };
  return {
    allowed: true,
    delegation,
    audit: { delegated_by: delegation.delegatedBy, delegated_to: delegation.delegatedTo, delegation_id: delegation.id },
  };
}
