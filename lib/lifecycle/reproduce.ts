/**
 * Reproducibility test (seed-3 §5, "golden comparison"): re-run a version's exact config on the same data,
 * verified by content hash, in `repro/<name>/`, and compare model file hash, OOF metrics and OOF predictions.
 */
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReproducibilityResult } from '../../schemas/lifecycle';
import { writeFileAtomic } from '../artifacts';
import { inputFiles } from '../data/raw';
import { InputError } from '../errors';
import { canonicalJson, sha256File } from '../hash';
import {
  CONFIG_FILE,
  FEATURES_FILE,
  METRICS_FILE,
  MODEL_FILE,
  oofFile,
  OVERRIDE_SPEC_FILE,
  readOverrideSpec,
  readRunConfig,
  readRunInfo,
  REPRODUCIBILITY_FILE,
  RUN_INFO_FILE,
  reproDirName,
  versionDirName,
} from '../run';
import { applyCategoryGroups } from './versions';
import { auditRunAction } from './access';

/**
 * Creates the reproduction folder with the version's config, run info and override spec, after checking that
 * every input file still has the sha256 the run recorded; a changed file is named.
 */
export async function prepareReproduction(
  runDir: string,
  version: number,
  repro: string,
): Promise<{ nSplits: number }> {
  const versionDir = join(runDir, versionDirName(version));
  const reproDir = join(runDir, reproDirName(repro));
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
  await mkdir(reproDir, { recursive: true });
  for (const file of [CONFIG_FILE, RUN_INFO_FILE, OVERRIDE_SPEC_FILE]) {
    await copyFile(join(versionDir, file), join(reproDir, file)).catch((e: NodeJS.ErrnoException) => {
      if (!(file === OVERRIDE_SPEC_FILE && e.code === 'ENOENT')) throw e;
    });
  }
  return { nSplits: config.validation.n_splits };
}

/** Applies the version's category groups to the freshly engineered features of a reproduction. */
export async function groupReproducedFeatures(reproDir: string): Promise<void> {
  const path = join(reproDir, FEATURES_FILE);
  await applyCategoryGroups(path, path, await readOverrideSpec(reproDir));
}

/**
 * Compares reproduction `repro` with the version it reproduces and writes the result as `reproducibility.json` in
 * the reproduction's folder (the result names it relative to the run folder).
 */
export async function compareReproduction(
  runDir: string,
  repro: string,
  meta: Pick<ReproducibilityResult, 'version' | 'by' | 'at'>,
): Promise<ReproducibilityResult> {
  const versionDir = join(runDir, versionDirName(meta.version));
  const reproDir = join(runDir, reproDirName(repro));
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
    ...meta,
    passed: checks.every((c) => c.passed),
    checks,
    artifact: `${reproDirName(repro)}/${REPRODUCIBILITY_FILE}`,
  };
  await writeFileAtomic(join(reproDir, REPRODUCIBILITY_FILE), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** Audits a reproducibility test that ran to the end: who, which version, passed or which checks failed. */
export async function auditReproduction(runId: string, result: ReproducibilityResult): Promise<void> {
  const failed = result.checks.filter((c) => !c.passed).map((c) => c.name);
  await auditRunAction(result.by, runId, {
    action: 'reproducibility_test',
    resource_type: 'run',
    resource_id: `${runId}/v${result.version}`,
    status: result.passed ? 'success' : 'failure',
    result: result.passed ? 'reproduced exactly' : `not reproduced: ${failed.join(', ')}`,
    after: { version: result.version, passed: result.passed, checks: result.checks.length, failed },
  });
}
