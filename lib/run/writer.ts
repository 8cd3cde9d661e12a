/**
 * Who may write a folder of a run: the one workflow execution that owns it. The run folder is owned by the training
 * pipeline that prepared it, a version folder by its `modelVersionPipeline` child, a reproduction folder by its
 * `reproduceRun` child. Pipeline steps check the owner before they write, and nothing writes a folder once its
 * manifest exists, so a workflow or activity started by hand against a run cannot change its files.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../artifacts';
import { fileExists } from '../data/raw';
import { FolderWriteRefusedError } from '../errors';
import { withFileLock } from '../lock';
import { refuseLinksInDataDir } from '../paths';
import { BUILD_FAILED_FILE, MANIFEST_FILE, REPRO_FAILED_FILE, RUN_END_FILE, WRITER_FILE } from './layout';

/** The workflow execution an activity runs for (from the activity's context, never from its input). */
export interface WorkflowExecution {
  workflowId: string;
  workflowRunId: string;
}

const writerSchema = z.strictObject({
  workflowId: z.string().min(1),
  /** Filled in by the first step of the execution when its creator could not know it (a child not yet started). */
  workflowRunId: z.string().min(1).nullable(),
});

/** Records the owner of a folder being created: the execution itself, or a child's workflow id before it starts. */
export async function registerFolderWriter(
  dir: string,
  owner: { workflowId: string; workflowRunId: string | null },
): Promise<void> {
  // Created exclusively, so a link in its place fails; the folders on its way are checked.
  await refuseLinksInDataDir(join(dir, WRITER_FILE));
  await writeFile(join(dir, WRITER_FILE), `${JSON.stringify(writerSchema.parse(owner))}\n`, { flag: 'wx' }).catch(
    async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
      const existing = writerSchema.parse(JSON.parse(await readFile(join(dir, WRITER_FILE), 'utf8')));
      if (existing.workflowId !== owner.workflowId || existing.workflowRunId !== owner.workflowRunId)
        throw new FolderWriteRefusedError(`${dir} belongs to workflow ${existing.workflowId} already`);
    },
  );
}

/**
 * Makes `execution` the owner of a run folder it prepares: a new folder, or one an earlier execution of the same run
 * id left unfinished (that execution is over: workflow ids are unique among running workflows). A complete run is
 * never prepared again.
 */
export async function takeOverRunFolder(dir: string, execution: WorkflowExecution): Promise<void> {
  if (await fileExists(join(dir, MANIFEST_FILE)))
    throw new FolderWriteRefusedError(`${dir} is a complete run: its artifacts never change; start a new run id`);
  const owner = { workflowId: execution.workflowId, workflowRunId: execution.workflowRunId };
  await writeFileAtomic(join(dir, WRITER_FILE), `${JSON.stringify(owner)}\n`);
  // The earlier execution's failure or cancellation is over: this one runs the folder now.
  await rm(join(dir, RUN_END_FILE), { force: true });
}

/**
 * Checks that `execution` may write `dir`: the folder is not complete (no manifest) and `execution` is its owner.
 * The first check of a child names its execution in the record; later ones must match it.
 * @throws FolderWriteRefusedError naming the folder, its owner and the refused execution.
 */
export async function assertFolderWriter(dir: string, execution: WorkflowExecution): Promise<void> {
  if (await fileExists(join(dir, MANIFEST_FILE)))
    throw new FolderWriteRefusedError(`${dir} is complete (its manifest is written): its artifacts never change`);
  // A build or test its lifecycle recorded as failed is over: whoever still runs steps there (a workflow started on
  // the Temporal server under the child's id) cannot complete it.
  for (const failed of [BUILD_FAILED_FILE, REPRO_FAILED_FILE])
    if (await fileExists(join(dir, failed)))
      throw new FolderWriteRefusedError(`${dir} was recorded as failed (${failed}): no step writes it again`);
  const path = join(dir, WRITER_FILE);
  const readOwner = () =>
    readFile(path, 'utf8')
      .then((t) => writerSchema.parse(JSON.parse(t)))
      .catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') throw new FolderWriteRefusedError(`${dir} has no owner record: no step may write it`);
        throw e;
      });
  const check = (owner: z.infer<typeof writerSchema>): void => {
    const mismatch =
      owner.workflowId !== execution.workflowId ||
      (owner.workflowRunId !== null && owner.workflowRunId !== execution.workflowRunId);
    if (mismatch)
      throw new FolderWriteRefusedError(
        `${dir} belongs to workflow ${owner.workflowId}${owner.workflowRunId ? ` (${owner.workflowRunId})` : ''}, not ${execution.workflowId} (${execution.workflowRunId})`,
      );
  };
  const owner = await readOwner();
  check(owner);
  if (owner.workflowRunId !== null) return;
  // A child's first step names its execution in the record, once: steps running at once agree under the lock.
  await withFileLock(path, async () => {
    const current = await readOwner();
    check(current);
    if (current.workflowRunId === null)
      await writeFileAtomic(path, `${JSON.stringify({ ...current, workflowRunId: execution.workflowRunId })}\n`);
  });
}
