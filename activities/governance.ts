import { appendAudit } from '../lib/governance';
import { expireElevation } from '../lib/governance/users';
import { elevationWorkflowId } from '../schemas/governance';
import { callingWorkflow } from './caller';
import { guarded } from './failures';

/** Activities of governance: thin adapters over lib/governance, for workflows (elevation timers). */
export function createGovernanceActivities() {
  return {
    /**
     * Ends an elevation whose time has come, by the expiry the user store records (never the timer's input);
     * idempotent. For the elevation's own `elevationExpiry` workflow only.
     */
    expireElevation: (input: { userId: string; elevationId: string }) =>
      guarded(async () => {
        await callingWorkflow(['elevationExpiry'], (id) => id === elevationWorkflowId(input.userId, input.elevationId));
        return expireElevation(input);
      }),
    /**
     * Audits a workflow that refused to run because nothing legitimate started it (a child started without its
     * parent): for those workflows only, which call it about themselves. The entry says only what the activity knows
     * of its caller; a text from the workflow would let anyone who can start one write their words into the log.
     */
    auditRefusedStart: () =>
      guarded(async () => {
        const caller = await callingWorkflow(['modelVersionPipeline', 'reproduceRun', 'runLifecycle']);
        await appendAudit({
          user_id: 'anonymous',
          user_role: 'NONE',
          action: 'permission_denied',
          attempted_action: caller.workflowType,
          status: 'denied',
          reason: `${caller.workflowType} ${caller.workflowId} runs only as a child its run's lifecycle starts: refused`,
          resource_type: 'workflow',
          resource_id: caller.workflowId,
          source: 'workflow',
          result: 'refused',
        });
      }),
  };
}

export type GovernanceActivities = ReturnType<typeof createGovernanceActivities>;
