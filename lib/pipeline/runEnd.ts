import { join } from 'node:path';
import { runEndSchema, type RunEnd } from '../../schemas/run';
import { prepareFile } from '../artifacts';
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
 * A run that failed before its folder existed (a refused capability, a bad config), or a folder another execution
 * owns, gets the audit entry only. An end already recorded by an earlier attempt is not recorded again.
 */
export async function recordRunEnd(
  runId: string,
  ended: Omit<RunEnd, 'at'>,
  execution: WorkflowExecution,
): Promise<{ recorded: 'folder_and_audit' | 'audit_only' | 'already' }> {
  const end = runEndSchema.parse({ ...ended, at: new Date().toISOString() });
  const dir = await resolveRunDir(runId);
  const owned = (await fileExists(join(dir, RUN_INFO_FILE))) && (await ownedBy(dir, execution));
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
  const file = await prepareFile(join(dir, RUN_END_FILE), `${JSON.stringify(end, null, 2)}\n`);
  try {
    await audit();
  } catch (e) {
    await file.discard();
    throw e;
  }
  await file.commit();
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
