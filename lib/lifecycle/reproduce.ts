/**
 * Reproducibility test (seed-3 §5, "golden comparison"): re-run a version's exact config on the same data,
 * verified by content hash, in `repro/<name>/`, and compare model file hash, OOF metrics and OOF predictions.
 * The lifecycle records who asked and for which version (`request.json`) and which child workflow builds it; the
 * child's steps read both from there, so a `reproduceRun` started by hand has nothing to work on.
 */
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReproducibilityResult } from '../../schemas/lifecycle';
import { writeFileAtomic } from '../artifacts';
import { inputFiles } from '../data/raw';
import { InputError } from '../errors';
import { canonicalJson, sha256File } from '../hash';
import {
  assertFolderWriter,
  CONFIG_FILE,
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
  versionDirName,
  writeReproRequest,
  type ReproRequest,
  type WorkflowExecution,
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
  await mkdir(dir, { recursive: true });
  await writeReproRequest(dir, request);
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
  for (const file of [CONFIG_FILE, RUN_INFO_FILE, OVERRIDE_SPEC_FILE]) {
    await copyFile(join(versionDir, file), join(reproDir, file)).catch((e: NodeJS.ErrnoException) => {
      if (!(file === OVERRIDE_SPEC_FILE && e.code === 'ENOENT')) throw e;
    });
  }
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
  const path = join(reproDir, FEATURES_FILE);
  await applyCategoryGroups(path, path, await readOverrideSpec(reproDir));
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
  const request = await readReproRequest(reproDir);
  const versionDir = join(runDir, versionDirName(request.version));
  const checks: ReproducibilityResult['checks'] = [];
  const check = (name: string, expected: string, actual: string) =>
    checks.push({ name, passed: expected === actual, expected, actual });
  check(
    'model file sha256',
    await sha256File(join(versionDir, MODEL_FILE)),
    await sha256File(join(reproDir, MODEL_FILE)),
  );
  const oof = async (dir: string) =>
    canonicalJson((JSON.parse(await readFile(join(dir, METRICS_FILE), 'utf8')) as { oof: unknown }).oof);
  check('OOF metrics', await oof(versionDir), await oof(reproDir));
  const nSplits = (await readRunConfig(versionDir)).validation.n_splits;
  for (let fold = 0; fold < nSplits; fold++)
    check(
      `OOF predictions fold ${fold} sha256`,
      await sha256File(join(versionDir, oofFile(fold))),
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
  await writeFileAtomic(join(reproDir, REPRODUCIBILITY_FILE), `${JSON.stringify(result, null, 2)}\n`);
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
