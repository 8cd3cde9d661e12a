import { join } from 'node:path';
import { runEndSchema, type RunEnd } from '../../schemas/run';
import { writeFileAfter } from '../artifacts';
import { fileExists } from '../data/raw';
import { FolderWriteRefusedError } from '../errors';
import { appendAudit } from '../governance/audit';
import {
  assertFolderWriter,
  readRunEnd,
  readRunInfo,
  resolveRunDir,
  RUN_END_FILE,
  RUN_INFO_FILE,
  type WorkflowExecution,
} from '../run';

/** The audit identity of a training pipeline ending by itself: failures and cancellations are the system's record. */
export const PIPELINE_ACTOR = 'system:pipeline';

/**
 * Records how a training run ended without a manifest: audited as `run_failed` (the error as reason) or
 * `run_cancelled` (by `system:pipeline`: who asked for a cancellation is the `run_cancel_requested` entry before it;
 * a cancellation sent straight to Temporal has none), then `end.json` in the run folder, when `execution` owns it.
 * A run that failed before its folder existed (a refused capability, a bad config) gets the audit entry only. An
 * execution that does not own the existing folder of `runId` (a start refused under a finished run's id, or a
 * workflow started on the Temporal server to put words in the log) did not end that run: its report is audited as
 * refused, without its text. An end already recorded by an earlier attempt is not recorded again.
 */
export async function recordRunEnd(
  runId: string,
  ended: Omit<RunEnd, 'at'>,
  execution: WorkflowExecution,
): Promise<{ recorded: 'folder_and_audit' | 'audit_only' | 'already' | 'refused' }> {
  const end = runEndSchema.parse({ ...ended, at: new Date().toISOString() });
  const dir = await resolveRunDir(runId);
  const exists = await fileExists(join(dir, RUN_INFO_FILE));
  const owned = exists && (await ownedBy(dir, execution));
  if (exists && !owned) {
    await appendAudit({
      user_id: 'anonymous',
      user_role: 'NONE',
      action: 'permission_denied',
      attempted_action: 'recordRunEnd',
      status: 'denied',
      resource_type: 'run',
      resource_id: runId,
      correlation_id: runId,
      reason: `workflow ${execution.workflowId} (execution ${execution.workflowRunId}) reported ending ${end.state}, but it does not own run ${runId}: not the run's end`,
      source: 'worker',
      result: 'refused',
    });
    return { recorded: 'refused' };
  }
  const info = owned ? await readRunInfo(dir) : null;
  const audit = () =>
    appendAudit({
      user_id: PIPELINE_ACTOR,
      user_role: 'SYSTEM',
      action: end.state === 'failed' ? 'run_failed' : 'run_cancelled',
      resource_type: 'run',
      resource_id: runId,
      correlation_id: runId,
      status: end.state === 'failed' ? 'failure' : 'success',
      before: { state: 'running', step: end.step },
      after: { state: end.state },
      reason: end.error.slice(0, 1000),
      source: 'worker',
      result: end.state,
      details: { step: end.step, ...(info ? { created_by: info.createdBy.userId } : {}) },
    });
  if (!owned) {
    await audit();
    return { recorded: 'audit_only' };
  }
  if (await readRunEnd(dir)) return { recorded: 'already' };
  await writeFileAfter(join(dir, RUN_END_FILE), `${JSON.stringify(end, null, 2)}\n`, audit);
  return { recorded: 'folder_and_audit' };
}

async function ownedBy(dir: string, execution: WorkflowExecution): Promise<boolean> {
  try {
    await assertFolderWriter(dir, execution);
    return true;
  } catch (e) {
    if (e instanceof FolderWriteRefusedError) return false;
    throw e;
  }
}
