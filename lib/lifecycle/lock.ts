/**
 * Validator mode (seed-3 §5): locking a run freezes the reviewed version's artifacts, listed with their sha256
 * in `lock.json`; every read of a locked run re-verifies them. Deployment approval and the deployment bundle
 * apply only to locked runs.
 */
import { copyFile, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Actor, LockRecord } from '../../schemas/lifecycle';
import { monitoringScheduleId } from '../../schemas/monitoring';
import type { ArtifactRef } from '../../schemas/run';
import { ensureDir, readVerified, registerArtifact, writeArtifact, writeFileAtomic } from '../artifacts';
import { fileExists, rawPaths } from '../data/raw';
import { readableInput } from '../settings';
import { ArtifactIntegrityError } from '../errors';
import { exportOnnx, parseModel } from '../gbdt';
import { hasMonitoringSchedule } from '../monitor/store';
import { notify } from '../notify';
import {
  FROZEN_METADATA,
  FROZEN_METADATA_DIR,
  LOCK_FILE,
  MANIFEST_FILE,
  MODEL_CARD_FILE,
  MODEL_FILE,
  ONNX_FILE,
  OVERRIDE_SPEC_FILE,
  readDeployment,
  readLock,
  readManifest,
  readRunConfig,
  readVersionReview,
  RunLockedError,
  type RunLockFile,
  tryManifest,
  verifyLockedRun,
  versionDirName,
  writeDeployment,
  writeLock,
} from '../run';
import { auditRunAction, refuseAs } from './access';
import { LifecycleStateError, LockRequirementError } from './errors';

export interface LockRequirement {
  name: string;
  met: boolean;
  detail: string;
}

/** Every lock requirement (seed-3 §5 "Locked Run Guarantees") with whether it is met, for messages and the CLI. */
export async function lockRequirements(
  runId: string,
  version: number,
  versionDir: string,
  reproducibilityPassed: boolean,
  scheduleOnServer?: (scheduleId: string) => Promise<boolean>,
): Promise<LockRequirement[]> {
  const manifest = await tryManifest(versionDir);
  const listed = (path: string) => manifest?.artifacts.find((a) => a.path === path);
  const verified = async (path: string) => {
    const ref = listed(path);
    if (!ref) return false;
    await readVerified(versionDir, ref);
    return true;
  };
  return [
    {
      name: 'override approved',
      met: version === 1 || (await readVersionReview(versionDir))?.decision === 'approve',
      detail: `version ${version} is locked only once a VALIDATOR approved the override it was built for`,
    },
    {
      name: 'reproducibility test passed',
      met: reproducibilityPassed,
      detail: 'run the reproducibility test on the current version',
    },
    {
      name: 'model card finalised',
      met: await verified(MODEL_CARD_FILE),
      detail: `${MODEL_CARD_FILE} in the version's manifest`,
    },
    {
      name: 'scoring spec exported',
      met: await verified(MODEL_FILE),
      detail: `${MODEL_FILE} in the version's manifest`,
    },
    {
      name: 'feature rewrite frozen',
      met: !(await fileExists(join(versionDir, OVERRIDE_SPEC_FILE))) || (await verified(OVERRIDE_SPEC_FILE)),
      detail: `${OVERRIDE_SPEC_FILE} (the version's category groups, applied before the ONNX graph) in the version's manifest`,
    },
    {
      name: 'monitoring schedule in place',
      // The signed plan, and (when the lock runs on a worker) the Schedule on the Temporal server that runs it.
      met:
        (await hasMonitoringSchedule(runId)) &&
        (!scheduleOnServer || (await scheduleOnServer(monitoringScheduleId(runId)))),
      detail: `none registered for ${runId}, or its Temporal Schedule is gone; an ADMIN sets it with access-perm monitor schedule --run ${runId} --current <csv>`,
    },
  ];
}

/**
 * Copies the metadata tables a seed-mode run joins at scoring time (users, apps) into the locked version's folder,
 * so the locked model keeps scoring with the data it was locked with; a flat-mode run has none.
 */
async function freezeMetadata(versionPath: string): Promise<ArtifactRef[]> {
  const config = await readRunConfig(versionPath);
  if (config.data.mode !== 'seed') return [];
  const paths = rawPaths(config);
  const refs: ArtifactRef[] = [];
  for (const table of ['users', 'apps'] as const) {
    const rel = join(FROZEN_METADATA_DIR, `${table}.csv`);
    const source = await readableInput(paths[table], `the ${table} table frozen with the lock`);
    refs.push(await writeArtifact(versionPath, rel, await readFile(source), FROZEN_METADATA[table]));
  }
  return refs;
}

/**
 * Locks the version after checking every requirement: exports the ONNX graph next to the scoring spec, freezes the
 * metadata tables, writes the signed `lock.json` with the frozen artifacts, audits `run_locked`, notifies. Refuses with every missing requirement.
 */
export async function lockRun(input: {
  runId: string;
  runDir: string;
  version: number;
  reproducibilityPassed: boolean;
  actor: Actor;
  reason: string;
  /** The execution and step whose capability locks it: a retried activity finds its own lock. */
  claim: string;
  scheduleOnServer?: (scheduleId: string) => Promise<boolean>;
}): Promise<LockRecord> {
  const existing = await readLock(input.runDir);
  if (existing) {
    if (existing.claim === input.claim) return existing;
    return refuseAs(
      input.actor,
      input.runId,
      'lockRun',
      new RunLockedError(input.runId, existing.locked_by, existing.locked_at),
    );
  }
  const versionDir = versionDirName(input.version);
  const versionPath = join(input.runDir, versionDir);
  const missing = (
    await lockRequirements(input.runId, input.version, versionPath, input.reproducibilityPassed, input.scheduleOnServer)
  ).filter((r) => !r.met);
  if (missing.length > 0) {
    const message = `run ${input.runId} cannot be locked yet, not met: ${missing.map((r) => `${r.name} — ${r.detail}`).join('; ')}`;
    return refuseAs(input.actor, input.runId, 'lockRun', new LockRequirementError(message));
  }
  const manifest = await readManifest(versionPath);
  // Versions evaluated since the graph became an evaluate artifact list it already (verified here); older ones get
  // it exported from their verified scoring spec.
  const evaluated = manifest.artifacts.find((a) => a.path === ONNX_FILE);
  let onnx: ArtifactRef;
  if (evaluated) {
    await readVerified(versionPath, evaluated);
    onnx = evaluated;
  } else {
    const spec = await readVerified(
      versionPath,
      manifest.artifacts.find((a) => a.path === MODEL_FILE)!,
    );
    onnx = await writeArtifact(versionPath, ONNX_FILE, exportOnnx(parseModel(spec.toString('utf8'))), 'model-onnx');
  }
  const frozen = [
    ...(evaluated ? manifest.artifacts : [...manifest.artifacts, onnx]),
    ...(await freezeMetadata(versionPath)),
  ];
  const prefix = versionDir === '.' ? '' : `${versionDir}/`;
  const record: LockRecord = {
    locked_by: input.actor.userId,
    locked_at: new Date().toISOString(),
    reason: input.reason,
    deployment_approved: false,
    version: input.version,
    claim: input.claim,
  };
  const lock: RunLockFile = {
    ...record,
    runId: input.runId,
    versionDir,
    deployment: null,
    artifacts: [...frozen, await registerArtifact(versionPath, MANIFEST_FILE, 'manifest')].map((a) => ({
      ...a,
      path: `${prefix}${a.path}`,
    })),
  };
  // Audited once lock.json is written and before it is put in place: a lock that cannot be audited is not made.
  await writeLock(input.runDir, lock, () =>
    auditRunAction(input.actor, input.runId, {
      action: 'run_locked',
      resource_type: 'run',
      resource_id: input.runId,
      status: 'success',
      reason: input.reason,
      result: 'locked',
      after: { version: input.version, onnx_sha256: onnx.sha256, artifacts: lock.artifacts.length },
    }),
  );
  await notify({
    kind: 'run_locked',
    to: { roles: ['VALIDATOR', 'MODELER'], users: [] },
    subject: `run ${input.runId} locked by ${input.actor.userId}`,
    body: input.reason,
    run_id: input.runId,
    correlation_id: input.runId,
  });
  return record;
}

/** Points deployment.json at an approved locked run, unless it already does. */
async function deployLocked(lock: RunLockFile): Promise<void> {
  const approval = lock.deployment!;
  const onnx = lock.artifacts.find((a) => a.role === 'model-onnx')!;
  const current = await readDeployment();
  if (current?.run_id === lock.runId && current.model_sha256 === onnx.sha256) return;
  await writeDeployment({
    run_id: lock.runId,
    model_sha256: onnx.sha256,
    deployed_at: approval.approved_at,
    deployed_by: approval.approved_by,
  });
}

/** Approves a locked run for deployment: records it in `lock.json`, points `deployment.json` at the run, audits. */
export async function approveDeployment(input: {
  runId: string;
  runDir: string;
  actor: Actor;
  reason: string;
  /** The execution and step whose capability approves it: a retried activity finds its own approval. */
  claim: string;
}) {
  const refuse = (error: Error): Promise<never> => refuseAs(input.actor, input.runId, 'approveDeployment', error);
  const lock = await verifyLockedRun(input.runDir);
  if (!lock)
    return refuse(new LifecycleStateError(`run ${input.runId} is not locked: lock it before approving its deployment`));
  if (lock.deployment) {
    if (lock.deployment.claim === input.claim) {
      await deployLocked(lock);
      return {
        approvedBy: lock.deployment.approved_by,
        at: lock.deployment.approved_at,
        reason: lock.deployment.reason,
      };
    }
    return refuse(
      new RunLockedError(
        input.runId,
        lock.locked_by,
        lock.locked_at,
        `was already approved for deployment by ${lock.deployment.approved_by}`,
      ),
    );
  }
  const onnx = lock.artifacts.find((a) => a.role === 'model-onnx')!;
  const at = new Date().toISOString();
  const updated: RunLockFile = {
    ...lock,
    deployment_approved: true,
    deployment: { approved_by: input.actor.userId, approved_at: at, reason: input.reason, claim: input.claim },
  };
  // Audited once the approved lock.json is written and before it is put in place: an approval that cannot be
  // audited is not made. The deployment record follows (a retried step writes it if it is missing).
  await writeLock(input.runDir, updated, () =>
    auditRunAction(input.actor, input.runId, {
      action: 'deployment_approved',
      resource_type: 'run',
      resource_id: input.runId,
      status: 'success',
      reason: input.reason,
      result: 'deployed',
      after: { model_sha256: onnx.sha256, version: lock.version },
    }),
  );
  await deployLocked(updated);
  return { approvedBy: input.actor.userId, at, reason: input.reason };
}

/**
 * The deployment bundle of an approved, locked run: model.onnx, model.json (with the threshold), the model card,
 * the manifest and lock.json, each verified before copying; threshold.json states the cut. A version trained on
 * rewritten features also ships its overrides.json: the graph expects its category groups applied to the inputs
 * (lib/binning/groups.ts), as `openRunModel` does.
 */
export async function exportBundle(runDir: string, outDir: string): Promise<string[]> {
  const lock = await verifyLockedRun(runDir);
  if (!lock)
    throw new LifecycleStateError(`run in ${runDir} is not locked: only locked runs are exported for deployment`);
  if (!lock.deployment_approved)
    throw new LifecycleStateError(
      `run ${lock.runId} is locked but not approved for deployment: a VALIDATOR or ADMIN approves it (access-perm deploy ${lock.runId} --reason …)`,
    );
  const prefix = lock.versionDir === '.' ? '' : `${lock.versionDir}/`;
  const wanted = [ONNX_FILE, MODEL_FILE, MODEL_CARD_FILE, MANIFEST_FILE].map((p) => `${prefix}${p}`);
  const spec = lock.artifacts.find((a) => a.path === `${prefix}${OVERRIDE_SPEC_FILE}`);
  if (spec) wanted.push(spec.path);
  await ensureDir(outDir);
  const written: string[] = [];
  const verified = new Map<string, Buffer>();
  // Each file is written from the bytes that were checked against the lock, never copied from the folder again.
  for (const path of wanted) {
    const ref = lock.artifacts.find((a) => a.path === path);
    if (!ref) throw new ArtifactIntegrityError(`locked run ${lock.runId} does not list ${path}`);
    verified.set(path, await readVerified(runDir, ref));
    await writeFileAtomic(join(outDir, basename(path)), verified.get(path)!);
    written.push(join(outDir, basename(path)));
  }
  const model = parseModel(verified.get(`${prefix}${MODEL_FILE}`)!.toString('utf8'));
  await writeFileAtomic(join(outDir, 'threshold.json'), `${JSON.stringify({ threshold: model.threshold }, null, 2)}\n`);
  await copyFile(join(runDir, LOCK_FILE), join(outDir, LOCK_FILE));
  return [...written, join(outDir, 'threshold.json'), join(outDir, LOCK_FILE)];
}
