/**
 * Model versions of a run (issue 6): an override produces version n+1 in `versions/v<n+1>/`, a folder the
 * pipeline steps treat like a run folder (config.json, run.json, features, then folds, model, metrics, report,
 * manifest). The override spec accumulates every override of the run so far and says how to train the version.
 */
import { copyFile, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import {
  EMPTY_OVERRIDE_SPEC,
  overrideSpecSchema,
  type BinningTable,
  type OverrideChange,
  type OverrideSpec,
} from '../../schemas/lifecycle';
import type { ArtifactRef } from '../../schemas/run';
import { ensureDir, registerArtifact, writeArtifact } from '../artifacts';
import { autoBinning, binningTables, nextBinning, rewritesFeatures, tableFor, versionFeatureSql } from '../binning';
import { sqlString, withDuckDb } from '../data/duck';
import { ArtifactIntegrityError, InputError } from '../errors';
import { featureColumns, featureSpec, type FeatureSpec } from '../features';
import { refuseLinksInDataDir } from '../paths';
import { parseModel } from '../gbdt';
import { authorize, type Credential } from '../governance';
import {
  assertRunId,
  BINNING_FILE,
  CONFIG_FILE,
  FEATURES_FILE,
  finishedFile,
  METRICS_FILE,
  MODEL_FILE,
  oofFile,
  OVERRIDE_SPEC_FILE,
  readFeatures,
  readOverrideSpec,
  readRunConfig,
  newestVersion,
  resolveRunDir,
  resolveVersion,
  RUN_INFO_FILE,
  verifyLockedRun,
  verifyFinishedFiles,
  versionDirName,
} from '../run';

/** A file of a finished folder as its signed manifest recorded it; refused when unlisted or changed. */
async function readRecorded(dir: string, path: string): Promise<string> {
  const recorded = await finishedFile(dir, path);
  if (!recorded) throw new ArtifactIntegrityError(`${path} is not listed in the manifest of ${dir}`);
  return recorded.bytes.toString('utf8');
}

/** Binning tables of a version: always over the run's own feature table, with the version's bin overrides. */
export async function versionBinningTables(runDir: string, versionDir: string): Promise<BinningTable[]> {
  const base = await readFeatures(runDir);
  return binningTables(base.matrix, base.labels, await readOverrideSpec(versionDir));
}

/** Writes the binning tables of a version as its artifact `binning/tables.json`. */
export async function writeBinningTables(runDir: string, versionDir: string): Promise<ArtifactRef> {
  const tables = await versionBinningTables(runDir, versionDir);
  return writeArtifact(versionDir, BINNING_FILE, `${JSON.stringify(tables, null, 2)}\n`, 'binning-tables');
}

export interface OverridePlan {
  spec: OverrideSpec;
  before: unknown;
  after: unknown;
  /** False when only the threshold changes: the version re-evaluates the previous version's scores. */
  retrain: boolean;
}

function checkFeature(spec: FeatureSpec, feature: string, numericOnly = false): void {
  const allowed: readonly string[] = numericOnly ? spec.numeric : featureColumns(spec);
  if (!allowed.includes(feature))
    throw new InputError(
      `unknown ${numericOnly ? 'numeric ' : ''}feature ${feature} (use one of ${allowed.join(', ')})`,
    );
}

/**
 * What an override changes, checked against the version it applies to: the accumulated spec of the new version
 * and the before/after values the audit entry records (seed-3 §3: "full diff").
 */
export async function planOverride(runDir: string, fromDir: string, change: OverrideChange): Promise<OverridePlan> {
  // A new version builds on the run's inputs and the version before it as their signed manifests recorded them.
  await verifyFinishedFiles(runDir, [CONFIG_FILE, RUN_INFO_FILE, FEATURES_FILE]);
  const recordedSpec = await finishedFile(fromDir, OVERRIDE_SPEC_FILE);
  const spec = recordedSpec
    ? overrideSpecSchema.parse(JSON.parse(recordedSpec.bytes.toString('utf8')))
    : EMPTY_OVERRIDE_SPEC;
  const features = featureSpec(await readRunConfig(runDir));
  const next: OverrideSpec = structuredClone(spec);
  switch (change.kind) {
    case 'bin_override':
    case 'auto_bins':
    case 'merge_bins': {
      checkFeature(features, change.feature);
      const base = await readFeatures(runDir);
      const current = tableFor(base.matrix, base.labels, spec, change.feature);
      next.binning[change.feature] =
        change.kind === 'auto_bins'
          ? autoBinning(base.matrix, change.feature, {
              ...(change.max_bins === undefined ? {} : { maxBins: change.max_bins }),
              ...(change.min_share === undefined ? {} : { minShare: change.min_share }),
            })
          : nextBinning(base.matrix, current, change);
      const after = tableFor(base.matrix, base.labels, next, change.feature);
      const view = (t: BinningTable) => ({
        binning: t.binning,
        iv: t.iv,
        bins: t.bins.map(({ id, label, count }) => ({ id, label, count })),
      });
      return { spec: next, before: view(current), after: view(after), retrain: true };
    }
    case 'enforce_monotonicity':
      checkFeature(features, change.feature, true);
      next.monotone[change.feature] = change.direction;
      return {
        spec: next,
        before: { monotone: spec.monotone[change.feature] ?? null },
        after: { monotone: change.direction },
        retrain: true,
      };
    case 'feature_selection': {
      for (const f of change.ignored) checkFeature(features, f);
      if (change.ignored.length >= featureColumns(features).length)
        throw new InputError('a model needs at least one feature it may use');
      next.ignored = [...new Set(change.ignored)].sort();
      return { spec: next, before: { ignored: spec.ignored }, after: { ignored: next.ignored }, retrain: true };
    }
    case 'regularization': {
      const model = parseModel(await readRecorded(fromDir, MODEL_FILE));
      const params = model.params as Record<string, unknown>;
      const before = Object.fromEntries(Object.keys(change.params).map((k) => [k, params[k] ?? null]));
      Object.assign(next.params, change.params);
      return { spec: next, before: { params: before }, after: { params: change.params }, retrain: true };
    }
    case 'threshold': {
      const metrics = JSON.parse(await readRecorded(fromDir, METRICS_FILE)) as { oof: { threshold: number } };
      next.threshold = change.threshold;
      return {
        spec: next,
        before: { threshold: metrics.oof.threshold },
        after: { threshold: change.threshold },
        retrain: false,
      };
    }
  }
}

/** The run's config with a spec applied: trainer parameters, monotone constraints, ignored features, borders, threshold. */
function configWithSpec(config: Awaited<ReturnType<typeof readRunConfig>>, spec: OverrideSpec) {
  const catboost: Record<string, unknown> = { ...config.model.catboost, ...spec.params };
  if (Object.keys(spec.monotone).length > 0) catboost.monotone_constraints = spec.monotone;
  if (spec.ignored.length > 0) catboost.ignored_features = spec.ignored;
  const borders = Object.entries(spec.binning).flatMap(([f, b]) =>
    b.kind === 'numeric' ? [[f, b.borders] as const] : [],
  );
  if (borders.length > 0) catboost.feature_borders = Object.fromEntries(borders);
  const validation =
    spec.threshold === null
      ? config.validation
      : { ...config.validation, threshold_strategy: 'fixed' as const, fixed_threshold: spec.threshold };
  return { ...config, model: { ...config.model, catboost }, validation };
}

/**
 * Rewrites categorical columns of a feature table by the spec's group overrides (`versionFeatureSql`, the rewrite
 * scoring applies too): every category becomes its group, categories of no group become __OTHER__.
 */
export async function applyCategoryGroups(source: string, target: string, spec: OverrideSpec): Promise<void> {
  // copyFile and DuckDB write in place: a link planted at either name would be written through.
  await refuseLinksInDataDir(target, { self: true });
  if (!rewritesFeatures(spec)) {
    if (source !== target) await copyFile(source, target);
    return;
  }
  const tmp = `${target}.tmp-${process.pid}`;
  await refuseLinksInDataDir(tmp, { self: true });
  await withDuckDb((conn) =>
    conn.run(
      `COPY (${versionFeatureSql(`read_parquet(${sqlString(source)})`, spec)} ORDER BY row_idx) TO ${sqlString(tmp)} (FORMAT parquet, COMPRESSION zstd)`,
    ),
  );
  await rename(tmp, target);
}

/** Writes a version's config (the run's config with the spec applied), run info and spec into `dir`. */
export async function writeVersionInputs(runDir: string, dir: string, spec: OverrideSpec): Promise<ArtifactRef[]> {
  const config = configWithSpec(await readRunConfig(runDir), spec);
  await ensureDir(dir);
  return [
    await writeArtifact(dir, CONFIG_FILE, `${JSON.stringify(config, null, 2)}\n`, 'config'),
    await writeArtifact(dir, RUN_INFO_FILE, await readFile(join(runDir, RUN_INFO_FILE)), 'run-info'),
    await writeArtifact(dir, OVERRIDE_SPEC_FILE, `${JSON.stringify(spec, null, 2)}\n`, 'override-spec'),
  ];
}

/**
 * Creates the folder of a new model version from the version it builds on: inputs, the feature table (with
 * category groups applied) and, when only the threshold changes, the previous version's scores and model.
 */
export async function createVersion(
  runDir: string,
  fromDir: string,
  version: number,
  plan: OverridePlan,
): Promise<{ dir: string; artifacts: ArtifactRef[]; nSplits: number }> {
  const dir = join(runDir, versionDirName(version));
  const nSplits = (await readRunConfig(runDir)).validation.n_splits;
  // What a threshold-only version copies is read (and checked against the previous version's signed manifest)
  // before anything is written, so a changed file leaves no half-built version.
  const copied = plan.retrain
    ? []
    : await Promise.all(
        [...Array.from({ length: nSplits }, (_, fold) => oofFile(fold)), MODEL_FILE].map(async (file) => {
          const recorded = await finishedFile(fromDir, file);
          if (!recorded) throw new ArtifactIntegrityError(`${file} is not listed in the manifest of ${fromDir}`);
          return { file, ...recorded };
        }),
      );
  const artifacts = await writeVersionInputs(runDir, dir, plan.spec);
  await ensureDir(join(dir, 'features'));
  await applyCategoryGroups(join(runDir, FEATURES_FILE), join(dir, FEATURES_FILE), plan.spec);
  artifacts.push(await registerArtifact(dir, FEATURES_FILE, 'features'));
  for (const { file, ref, bytes } of copied) artifacts.push(await writeArtifact(dir, file, bytes, ref.role));
  artifacts.push(await writeBinningTables(runDir, dir));
  return { dir, artifacts, nSplits };
}

/**
 * A run's binning tables as a user (view_binning: every role): bins with count, approval rate, WoE and IV, for one
 * version (default: the newest) and optionally one feature; a locked run's frozen artifacts are verified first.
 */
export async function binningTablesAs(
  credential: Credential,
  runId: string,
  options: { feature?: string; version?: number } = {},
): Promise<{ runId: string; version: number; tables: BinningTable[] }> {
  await authorize(credential, 'view_binning', { type: 'binning_table', id: runId, runId: assertRunId(runId) });
  const runDir = await resolveRunDir(runId);
  await verifyLockedRun(runDir);
  const version = options.version ?? (await newestVersion(runDir));
  const { dir } = await resolveVersion(runId, runDir, version);
  const tables = (await versionBinningTables(runDir, dir)).filter(
    (t) => !options.feature || t.feature === options.feature,
  );
  if (options.feature && tables.length === 0) throw new InputError(`run ${runId} has no feature ${options.feature}`);
  return { runId, version, tables };
}
