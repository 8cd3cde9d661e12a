/**
 * Reproducibility test (seed-3 §5, "golden comparison"): re-run a version's exact config on the same data,
 * verified by content hash, in `repro/<name>/`, and compare model file hash, OOF metrics and OOF predictions.
 * The lifecycle records who asked and for which version (`request.json`) and which child workflow builds it; the
 * child's steps read both from there, so a `reproduceRun` started by hand has nothing to work on.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReproducibilityResult } from '../../schemas/lifecycle';
import type { ArtifactRef } from '../../schemas/run';
import { ensureDir, registerArtifact, writeFileAtomic } from '../artifacts';
import { inputFiles } from '../data/raw';
import { ArtifactIntegrityError, InputError } from '../errors';
import { canonicalJson, sha256File } from '../hash';
import {
  assertFolderWriter,
  CONFIG_FILE,
  finishedFile,
  FEATURES_FILE,
  METRICS_FILE,
  MODEL_FILE,
  oofFile,
  OVERRIDE_SPEC_FILE,
  readOverrideSpec,
  readReproRequest,
  readRunConfig,
  readRunInfo,
  registerFolderWriter,
  REPRODUCIBILITY_FILE,
  reproDirName,
  RUN_INFO_FILE,
  verifyFinishedFiles,
  versionDirName,
  writeReproRequest,
  writeRunRecord,
  type ReproRequest,
  type WorkflowExecution,
  recordStep,
  startStepRecord,
  verifyStepRecord,
} from '../run';
import { auditRunAction } from './access';
import { applyCategoryGroups } from './versions';

/** Creates the folder of reproduction `repro` with its request, owned by the child workflow `builder`. */
export async function requestReproduction(
  runDir: string,
  repro: string,
  request: ReproRequest,
  builder: string,
): Promise<void> {
  const dir = join(runDir, reproDirName(repro));
  await ensureDir(dir);
  await writeReproRequest(dir, request);
  await startStepRecord(dir, []);
  await registerFolderWriter(dir, { workflowId: builder, workflowRunId: null });
}

/**
 * The reproduction's first step: checks that `execution` owns the folder and that every input file still has the
 * sha256 the run recorded (a changed file is named), then copies the version's config, run info and override spec.
 */
export async function prepareReproduction(
  runDir: string,
  repro: string,
  execution: WorkflowExecution,
): Promise<{ nSplits: number; version: number }> {
  const reproDir = join(runDir, reproDirName(repro));
  await assertFolderWriter(reproDir, execution);
  const { version } = await readReproRequest(reproDir);
  const versionDir = join(runDir, versionDirName(version));
  // The version is reproduced from its inputs as its signed manifest recorded them, never as found.
  await verifyFinishedFiles(versionDir, [CONFIG_FILE, RUN_INFO_FILE]);
  await verifyFinishedFiles(runDir, [RUN_INFO_FILE]);
  const info = await readRunInfo(runDir);
  const config = await readRunConfig(versionDir);
  const paths = inputFiles(config);
  for (const [table, recorded] of Object.entries(info.dataFiles)) {
    const path = paths[table];
    if (path === undefined)
      throw new InputError(`the run recorded input table ${table}, which its config does not name`);
    const actual = await sha256File(path).catch(() => 'missing');
    if (actual !== recorded)
      throw new InputError(`input data changed since the run: ${path} sha256 ${actual} ≠ recorded ${recorded}`);
  }
  const copied: ArtifactRef[] = [];
  for (const file of [CONFIG_FILE, RUN_INFO_FILE, OVERRIDE_SPEC_FILE]) {
    const recorded = await finishedFile(versionDir, file);
    if (!recorded) continue;
    await writeFileAtomic(join(reproDir, file), recorded.bytes);
    copied.push(recorded.ref);
  }
  await recordStep(reproDir, copied);
  return { nSplits: config.validation.n_splits, version };
}

/** Applies the version's category groups to the freshly engineered features of a reproduction. */
export async function groupReproducedFeatures(
  runDir: string,
  repro: string,
  execution: WorkflowExecution,
): Promise<void> {
  const reproDir = join(runDir, reproDirName(repro));
  await assertFolderWriter(reproDir, execution);
  await verifyStepRecord(reproDir);
  const path = join(reproDir, FEATURES_FILE);
  await applyCategoryGroups(path, path, await readOverrideSpec(reproDir));
  await recordStep(reproDir, [await registerArtifact(reproDir, FEATURES_FILE, 'features')]);
}

/**
 * Compares reproduction `repro` with the version it reproduces, writes the result as `reproducibility.json` in the
 * reproduction's folder (the result names it relative to the run folder) and audits the test in the name of who
 * asked for it (from the request record).
 */
export async function compareReproduction(
  runId: string,
  runDir: string,
  repro: string,
  execution: WorkflowExecution,
): Promise<ReproducibilityResult> {
  const reproDir = join(runDir, reproDirName(repro));
  await assertFolderWriter(reproDir, execution);
  // What is compared is what this test's own steps wrote: a file copied in since (the version's model) is refused.
  await verifyStepRecord(reproDir);
  const request = await readReproRequest(reproDir);
  const versionDir = join(runDir, versionDirName(request.version));
  const checks: ReproducibilityResult['checks'] = [];
  const check = (name: string, expected: string, actual: string) =>
    checks.push({ name, passed: expected === actual, expected, actual });
  // The version's side is what its signed manifest recorded (files checked), not whatever lies in its folder now.
  const recorded = async (file: string) => {
    const found = await finishedFile(versionDir, file);
    if (!found) throw new ArtifactIntegrityError(`${file} is not listed in the manifest of ${versionDir}`);
    return found;
  };
  check('model file sha256', (await recorded(MODEL_FILE)).ref.sha256, await sha256File(join(reproDir, MODEL_FILE)));
  const oof = (text: string) => canonicalJson((JSON.parse(text) as { oof: unknown }).oof);
  check(
    'OOF metrics',
    oof((await recorded(METRICS_FILE)).bytes.toString('utf8')),
    oof(await readFile(join(reproDir, METRICS_FILE), 'utf8')),
  );
  const nSplits = (await readRunConfig(versionDir)).validation.n_splits;
  for (let fold = 0; fold < nSplits; fold++)
    check(
      `OOF predictions fold ${fold} sha256`,
      (await recorded(oofFile(fold))).ref.sha256,
      await sha256File(join(reproDir, oofFile(fold))),
    );
  const result: ReproducibilityResult = {
    version: request.version,
    by: request.by,
    at: new Date().toISOString(),
    passed: checks.every((c) => c.passed),
    checks,
    artifact: `${reproDirName(repro)}/${REPRODUCIBILITY_FILE}`,
  };
  await writeRunRecord(join(reproDir, REPRODUCIBILITY_FILE), result);
  const failed = result.checks.filter((c) => !c.passed).map((c) => c.name);
  await auditRunAction(result.by, runId, {
    action: 'reproducibility_test',
    resource_type: 'run',
    resource_id: `${runId}/v${result.version}`,
    status: result.passed ? 'success' : 'failure',
    result: result.passed ? 'reproduced exactly' : `not reproduced: ${failed.join(', ')}`,
    after: { version: result.version, passed: result.passed, checks: result.checks.length, failed },
  });
  return result;
}
