import { join } from 'node:path';
import { tombstoneSchema, type Tombstone } from '../../schemas/run';
import { writeFileAfter } from '../artifacts';
import { RunStateError } from '../errors';
import { actorFields, appendAudit } from '../governance/audit';
import { authorize, type Credential } from '../governance/authorize';
import { signRecord } from '../keys';
import { folderContents, lifecycleView, removeFolderContents, showRun, TOMBSTONE_FILE } from '../run';

/** States whose artifacts may not be removed, and what to do instead. */
const KEPT: Partial<Record<string, string>> = {
  locked: 'a locked run is immutable (seed-3): its artifacts are kept for as long as the lock',
  deployed: 'it is the deployed run: deploy another run first',
  running: 'it is still running: cancel it first (access-perm runs cancel)',
};

/**
 * Deletes a run's artifacts (`delete_run_artifacts`: MODELER, ADMIN; checked before the run is looked up). Refused
 * for a locked, deployed or running run, or one with a job in flight. Keeps a signed tombstone (who, when, why,
 * the state before, run.json and the manifest with every sha256), audited as `run_deleted` with the before state
 * before the tombstone is in place; then everything else of the folder is removed. The run id stays taken. A
 * deletion interrupted after its tombstone is finished by running it again, without a second audit entry.
 */
export async function deleteRunAs(
  credential: Credential,
  runId: string,
  reason: string,
): Promise<{ tombstone: Tombstone; resumed: boolean }> {
  const actor = await authorize(credential, 'delete_run_artifacts', { type: 'run', id: runId });
  const run = await showRun(runId);
  if (run.tombstone) {
    if ((await folderContents(run.runDir, TOMBSTONE_FILE)).files === 0)
      throw new RunStateError(
        `run ${runId} was already deleted by ${run.tombstone.deleted_by.userId} at ${run.tombstone.deleted_at}`,
      );
    await removeFolderContents(run.runDir, TOMBSTONE_FILE);
    return { tombstone: run.tombstone, resumed: true };
  }
  const why = KEPT[run.state];
  if (why) throw new RunStateError(`run ${runId} cannot be deleted: ${why}`);
  const job = run.manifest ? (await lifecycleView(runId, run.runDir)).job : null;
  if (job) throw new RunStateError(`run ${runId} cannot be deleted while it is ${job.detail}: wait until it is done`);

  const tombstone = tombstoneSchema.parse({
    format: 'access-perm/tombstone@1',
    runId,
    deleted_by: { userId: actor.userId, role: actor.role, temporaryRole: actor.temporaryRole ?? false },
    deleted_at: new Date().toISOString(),
    reason,
    state_before: run.state,
    info: run.info,
    manifest: run.manifest,
    removed: await folderContents(run.runDir, TOMBSTONE_FILE),
  });
  await writeFileAfter(
    join(run.runDir, TOMBSTONE_FILE),
    `${JSON.stringify(await signRecord(tombstone), null, 2)}\n`,
    () =>
      appendAudit({
        ...actorFields(actor),
        action: 'run_deleted',
        resource_type: 'run',
        resource_id: runId,
        correlation_id: runId,
        status: 'success',
        before: {
          state: run.state,
          files: tombstone.removed.files,
          bytes: tombstone.removed.bytes,
          artifacts: run.manifest?.artifacts.length ?? 0,
        },
        after: { state: 'deleted' },
        reason,
        source: credential.source ?? 'cli',
        result: 'completed',
      }),
  );
  await removeFolderContents(run.runDir, TOMBSTONE_FILE);
  return { tombstone, resumed: false };
}
