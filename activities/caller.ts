import { Context } from '@temporalio/activity';
import { appendAudit, CallerRefusedError } from '../lib/governance';
import type { WorkflowExecution } from '../lib/run';

/** Workflow types by name (the exports of workflows/index.ts). */
export type WorkflowType =
  | 'trainingPipeline'
  | 'modelVersionPipeline'
  | 'reproduceRun'
  | 'runLifecycle'
  | 'monitoringWorkflow'
  | 'elevationExpiry';

/** The workflow an activity runs for, as the server reports it (never from the activity's input). */
export interface CallingWorkflow extends WorkflowExecution {
  workflowType: WorkflowType;
}

/**
 * The workflow this activity runs for, when it is one of `types` and `expectedId` accepts its id; otherwise the
 * call is audited as `permission_denied` and refused before any side effect. Anyone who reaches the Temporal server
 * can start an activity on its own (`temporal activity start`) or from a workflow of their own: what the server
 * says about the caller is the one thing they cannot choose.
 */
export async function callingWorkflow(
  types: readonly WorkflowType[],
  expectedId: (id: string, type: WorkflowType) => boolean = () => true,
): Promise<CallingWorkflow> {
  const info = Context.current().info;
  const execution = info.workflowExecution;
  const type = info.workflowType as WorkflowType | undefined;
  const accepted =
    info.inWorkflow && execution && type && types.includes(type) && expectedId(execution.workflowId, type);
  if (accepted) return { workflowId: execution.workflowId, workflowRunId: execution.runId, workflowType: type };
  const who = info.inWorkflow
    ? `workflow ${type ?? '?'} ${execution?.workflowId ?? '?'}`
    : 'a standalone activity start';
  const message = `activity ${info.activityType} runs only inside ${types.join(' or ')} for its own run; refused ${who}`;
  await appendAudit({
    user_id: 'anonymous',
    user_role: 'NONE',
    action: 'permission_denied',
    attempted_action: info.activityType,
    status: 'denied',
    reason: message,
    resource_type: 'activity',
    resource_id: info.activityType,
    source: 'workflow',
    result: 'refused',
  });
  throw new CallerRefusedError(message);
}
