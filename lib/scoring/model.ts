import { join } from 'node:path';
import type { AccessPermConfig } from '../../schemas/config';
import { EMPTY_OVERRIDE_SPEC, overrideSpecSchema, type OverrideSpec } from '../../schemas/lifecycle';
import type { FeatureMatrix } from '../../schemas/matrix';
import type { ArtifactRef, RunManifest } from '../../schemas/run';
import { readVerified, verifyArtifact } from '../artifacts';
import { encodeCategorical } from '../features/matrix';
import { rawPaths } from '../data/raw';
import { ArtifactIntegrityError, UnknownRunError } from '../errors';
import { featureColumns, featureSpec, type FeatureOptions } from '../features';
import {
  exportOnnx,
  leafCover,
  storedLeafWeights,
  onnxMetadata,
  parseModel,
  shapValues,
  shapRow,
  topContributions,
  type GbdtModel,
  type LeafWeights,
  type OnnxInputSpec,
} from '../gbdt';
import { createOnnxScorer, createThreadedOnnxScorer, type OnnxScorer } from '../gbdt/onnx';
import { sha256File, sha256Hex } from '../hash';
import {
  CONFIG_FILE,
  FROZEN_METADATA,
  FEATURES_FILE,
  MODEL_FILE,
  ONNX_FILE,
  OVERRIDE_SPEC_FILE,
  readFeatures,
  readManifest,
  readRunConfig,
  readRunInfo,
  resolveRunDir,
  resolveVersion,
  verifyLockedRun,
} from '../run';
import { RunNotScorableError } from './errors';
import { RequestFeatureBuilder, type RequestFeatures, type ScoreRequest } from './features';

/** Scores of a batch, in request order. */
export interface ScoredRequests {
  /** Approval probability from the run's ONNX model. */
  probability: Float32Array;
  /** 1 = approve (probability ≥ the run's threshold), 0 = deny. */
  label: Uint8Array;
  unknownUser: Uint8Array;
  unknownApp: Uint8Array;
}

/** One input's push on a prediction: its value for the request and its SHAP value (log-odds, > 0 towards approval). */
export interface FeatureContribution {
  feature: string;
  value: string | number | null;
  shap: number;
}

/** A row's explanation: the base log-odds and its largest contributions (largest |shap| first). */
export interface RowExplanation {
  expectedValue: number;
  contributions: FeatureContribution[];
}

/** Where the metadata joined at scoring time lives, and whether it is the data the run was trained on. */
export interface MetadataFile {
  path: string;
  sha256: string;
  /** false: the file changed since training (new users, moved managers); scores use the current file. */
  sameAsTraining: boolean;
  /** true: the snapshot frozen when the run was locked (a locked run's default); false: the live table. */
  frozen: boolean;
}

/** A locked run's lock, as the scorer reports it. */
export interface RunLockSummary {
  version: number;
  lockedBy: string;
  lockedAt: string;
  deploymentApproved: boolean;
}

export interface OpenRunModelOptions {
  /** Refuse the model unless its ONNX bytes have this sha256 (the deployment record's `model_sha256`). */
  expectedModelSha256?: string;
  /** onnxruntime intra-op threads (default 1). */
  intraOpThreads?: number;
  /**
   * Worker threads that run the ONNX sessions, merging calls made while they are busy (createThreadedOnnxScorer):
   * for servers, whose main thread must keep answering while a batch is scored, and for batch scoring, which reads
   * the next chunk meanwhile. 0 (default): score on the calling thread.
   */
  scoringThreads?: number;
  /**
   * A locked run scores with the metadata tables frozen when it was locked; true scores it with the live tables
   * instead (an explicit choice, reported in the model's metadata). Unlocked runs always use the live tables.
   */
  liveMetadata?: boolean;
  /**
   * The model version to score with (1 = the trained run, n = `versions/v<n>/`) instead of the default: the locked
   * version of a locked run, else the newest approved version, else version 1. A locked run scores only its
   * locked version.
   */
  version?: number;
}

function artifact(manifest: RunManifest, path: string, runId: string): ArtifactRef {
  const ref = manifest.artifacts.find((a) => a.path === path);
  if (!ref) throw new RunNotScorableError(`run ${runId} has no ${path} in its manifest`);
  return ref;
}

/**
 * A run's model, opened for scoring: ONNX session, threshold, feature options and the metadata tables.
 * Obtain with `openRunModel`; `close()` releases the native session and the DuckDB.
 */
export class RunModel {
  private leafWeights: Promise<LeafWeights> | null = null;

  constructor(
    readonly runId: string,
    /** Folder of the scored model: the run folder, or the version's folder inside it. */
    readonly modelDir: string,
    /** The scored model version (1 = the trained run itself). */
    readonly version: number,
    /** sha256 of the ONNX graph scored with (a locked run's frozen model/model.onnx, else the evaluated one). */
    readonly modelSha256: string,
    /** Decision threshold, from the scored graph's metadata (the evaluation step's threshold). */
    readonly threshold: number,
    readonly featureOptions: FeatureOptions,
    readonly metadata: { users: MetadataFile; apps: MetadataFile },
    /** The lock when the run is locked (its locked version is the one scored), else null. */
    readonly lock: RunLockSummary | null,
    /** The scoring spec, parsed on first use (explanations only: scores come from the ONNX graph). */
    private readonly loadModel: () => Promise<GbdtModel>,
    private readonly scorer: OnnxScorer,
    private readonly builder: RequestFeatureBuilder,
  ) {}

  /** Model inputs (name, string or double), in graph order. */
  get inputs(): readonly OnnxInputSpec[] {
    return this.scorer.inputs;
  }

  /**
   * Engineered features of the requests (training's SQL, then the version's category groups; unknown ids take the
   * sentinel path and are flagged).
   */
  features(rows: readonly ScoreRequest[]): Promise<RequestFeatures> {
    return this.builder.build(rows);
  }

  /** Probabilities and decisions for requests. */
  async score(rows: readonly ScoreRequest[]): Promise<ScoredRequests> {
    return this.scoreFeatures(await this.features(rows));
  }

  /** Probabilities and decisions for already built features. */
  async scoreFeatures(features: RequestFeatures): Promise<ScoredRequests> {
    const probability = features.rows === 0 ? new Float32Array(0) : await this.scorer.score(features.columns);
    const label = new Uint8Array(probability.length);
    for (let i = 0; i < probability.length; i++) label[i] = probability[i]! >= this.threshold ? 1 : 0;
    return { probability, label, unknownUser: features.unknownUser, unknownApp: features.unknownApp };
  }

  /**
   * Exact SHAP explanations (TreeSHAP on the JSON scoring spec, training rows as leaf cover) of each row: its
   * `top` largest contributions. The cover is the model's stored leaf weights; for a model trained before they were
   * stored, the first call reads the run's verified feature table to count them.
   */
  async explain(features: RequestFeatures, top: number): Promise<RowExplanation[]> {
    if (features.rows === 0) return [];
    const model = await this.loadModel();
    const leafWeights = storedLeafWeights(model) ?? (await (this.leafWeights ??= this.trainingCover(model)));
    const matrix = this.matrixOf(features);
    const shap = shapValues(model, matrix, { leafWeights });
    return shap.values.map((_, i) => ({
      expectedValue: shap.expectedValue,
      contributions: topContributions(shapRow(shap, i), top).map((c) => {
        const v = features.columns[c.feature]![i]!;
        return { feature: c.feature, value: typeof v === 'number' && Number.isNaN(v) ? null : v, shap: c.value };
      }),
    }));
  }

  private matrixOf(features: RequestFeatures): FeatureMatrix {
    const matrix: FeatureMatrix = { rowCount: features.rows, categorical: [], numeric: [] };
    for (const spec of this.scorer.inputs) {
      const col = features.columns[spec.name]!;
      if (spec.type === 'string') matrix.categorical.push(encodeCategorical(spec.name, col as string[]));
      else matrix.numeric.push({ name: spec.name, values: Float64Array.from(col as ArrayLike<number>) });
    }
    return matrix;
  }

  private async trainingCover(model: GbdtModel): Promise<LeafWeights> {
    await readVerified(this.modelDir, artifact(await readManifest(this.modelDir), FEATURES_FILE, this.runId));
    const { matrix } = await readFeatures(this.modelDir);
    return leafCover(model, matrix);
  }

  async close(): Promise<void> {
    this.builder.close();
    await this.scorer.close();
  }
}

async function metadataFile(path: string, trainedSha: string | undefined, frozen: boolean): Promise<MetadataFile> {
  const sha256 = await sha256File(path);
  return { path, sha256, sameAsTraining: sha256 === trainedSha, frozen };
}

/**
 * The version a run is scored with and its folder: the locked version of a locked run (an explicit other version
 * is refused), else the explicit version, else the newest approved version, else version 1.
 */
async function scoredVersion(
  runId: string,
  root: string,
  lock: { version: number; versionDir: string; locked_by: string } | null,
  explicit: number | undefined,
): Promise<{ version: number; dir: string }> {
  if (lock) {
    if (explicit !== undefined && explicit !== lock.version)
      throw new RunNotScorableError(
        `run ${runId} is locked at version ${lock.version} by ${lock.locked_by}: it scores only that version, not version ${explicit}`,
      );
    return { version: lock.version, dir: join(root, lock.versionDir) };
  }
  return resolveVersion(runId, root, explicit).catch((e: unknown) => {
    throw e instanceof UnknownRunError ? new RunNotScorableError(e.message) : e;
  });
}

/**
 * The override spec of a version, verified against its manifest: its category groups are the feature rewrite the
 * version was trained on. Version 1 has none; a later version without one listed cannot be scored faithfully.
 */
async function versionSpec(runId: string, version: number, dir: string, manifest: RunManifest): Promise<OverrideSpec> {
  const ref = manifest.artifacts.find((a) => a.path === OVERRIDE_SPEC_FILE);
  if (!ref) {
    if (version === 1) return EMPTY_OVERRIDE_SPEC;
    throw new RunNotScorableError(
      `run ${runId} version ${version} lists no ${OVERRIDE_SPEC_FILE} in its manifest: its feature rewrite is unknown`,
    );
  }
  return overrideSpecSchema.parse(JSON.parse((await readVerified(dir, ref)).toString('utf8')));
}

/** What opening a run for scoring verifies and reads; shared by request scoring and flat-table scoring. */
export interface ScoredArtifacts {
  /** Folder of the scored model version (the run folder for version 1). */
  dir: string;
  version: number;
  /** The version's scoring spec (model/model.json), verified and parsed on first call. */
  loadModel: () => Promise<GbdtModel>;
  /** Decision threshold, from the scored graph's metadata. */
  threshold: number;
  /** The ONNX graph scored with and its sha256. */
  onnx: Uint8Array;
  modelSha256: string;
  /** The version's override spec (its category groups rewrite the features). */
  spec: OverrideSpec;
  config: AccessPermConfig;
  lock: RunLockSummary | null;
  /** A locked run's frozen metadata tables (absolute paths, verified with the lock); null when unlocked or flat. */
  frozenMetadata: { users: string; apps: string } | null;
}

/**
 * Opens a completed run's scored version — the one `scoredVersion` picks (locked, else approved, else the run) —
 * verifying model/model.json, config.json and the version's overrides.json against the manifest and, for a locked
 * run, every frozen artifact including model/model.onnx (an unlocked run's as its evaluation exported it). The
 * scoring spec is parsed only when `loadModel` is called (explanations; or a run evaluated before model.onnx was an
 * artifact, whose graph is exported from it here).
 * @throws UnknownRunError, RunNotScorableError, ArtifactIntegrityError as openRunModel describes.
 */
export async function openScoredArtifacts(runId: string, options: OpenRunModelOptions = {}): Promise<ScoredArtifacts> {
  const root = await resolveRunDir(runId);
  if (!(await readRunInfo(root).catch(() => null)))
    throw new UnknownRunError(`unknown run ${runId}: no run folder at ${root}`);
  // A locked run serves its locked version (every frozen artifact re-verified); see scoredVersion for the rest.
  const lock = await verifyLockedRun(root);
  const { version, dir } = await scoredVersion(runId, root, lock, options.version);
  let manifest: RunManifest;
  try {
    manifest = await readManifest(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw new RunNotScorableError(`run ${runId} has no manifest in ${dir}: it failed or is still running`);
  }
  // The scoring spec (model/model.json, tens of MB for a default model) is verified now but parsed only when
  // something needs the trees themselves: explanations, or exporting the graph of a run evaluated before
  // model.onnx was an artifact (parsing takes seconds and hundreds of MB of heap).
  const specRef = artifact(manifest, MODEL_FILE, runId);
  await verifyArtifact(dir, specRef);
  let parsed: Promise<GbdtModel> | undefined;
  const loadModel = (): Promise<GbdtModel> =>
    (parsed ??= readVerified(dir, specRef).then((b) => parseModel(b.toString('utf8'))));
  // A locked run scores the graph frozen in lock.json; an unlocked one the graph its evaluation exported (runs
  // evaluated before that was an artifact: exported here from the verified scoring spec).
  const lockedOnnx = lock?.artifacts.filter((a) => a.path === join(lock.versionDir, ONNX_FILE)).at(-1);
  if (lock && !lockedOnnx) throw new RunNotScorableError(`locked run ${runId} lists no ${ONNX_FILE}`);
  const evaluatedOnnx = manifest.artifacts.find((a) => a.path === ONNX_FILE);
  const onnx = lockedOnnx
    ? await readVerified(root, lockedOnnx)
    : evaluatedOnnx
      ? await readVerified(dir, evaluatedOnnx)
      : exportOnnx(await loadModel());
  const modelSha256 = sha256Hex(onnx);
  if (options.expectedModelSha256 && modelSha256 !== options.expectedModelSha256) {
    throw new ArtifactIntegrityError(
      `run ${runId}: the ONNX model has sha256 ${modelSha256}, the deployment expects ${options.expectedModelSha256}`,
    );
  }
  // The decision threshold travels in the graph's metadata (exportOnnx writes the spec's threshold there).
  const threshold = Number(onnxMetadata(onnx).get('threshold') ?? Number.NaN);
  if (!Number.isFinite(threshold)) throw new RunNotScorableError(`run ${runId}: the scoring graph has no threshold`);
  const spec = await versionSpec(runId, version, dir, manifest);
  await readVerified(dir, artifact(manifest, CONFIG_FILE, runId));
  const config: AccessPermConfig = await readRunConfig(dir);
  const locked = lock
    ? {
        version: lock.version,
        lockedBy: lock.locked_by,
        lockedAt: lock.locked_at,
        deploymentApproved: lock.deployment_approved,
      }
    : null;
  const frozenPath = (role: string) => {
    const ref = lock?.artifacts.find((a) => a.role === role);
    return ref ? join(root, ref.path) : null;
  };
  const frozenUsers = frozenPath(FROZEN_METADATA.users);
  const frozenApps = frozenPath(FROZEN_METADATA.apps);
  const frozenMetadata = frozenUsers && frozenApps ? { users: frozenUsers, apps: frozenApps } : null;
  return { dir, version, loadModel, threshold, onnx, modelSha256, spec, config, lock: locked, frozenMetadata };
}

/**
 * Opens a completed seed-mode run for request scoring (see openScoredArtifacts for what is verified); reads the
 * threshold and the feature options and loads the users/apps metadata the run's config names.
 * @throws UnknownRunError for a run that does not exist; RunNotScorableError when it has no manifest, ONNX model or
 *   threshold, or is a flat-mode run (scored from its declared columns: openFlatRunModel); ArtifactIntegrityError
 *   when a file's bytes differ from the manifest or from `expectedModelSha256`.
 * @example
 *   const model = await openRunModel('run-20261123-014744-144fa5');
 *   const { probability, label } = await model.score([{ userId: '100001', appId: '5001' }]);
 */
export async function openRunModel(runId: string, options: OpenRunModelOptions = {}): Promise<RunModel> {
  const { dir, version, loadModel, threshold, onnx, modelSha256, spec, config, lock, frozenMetadata } =
    await openScoredArtifacts(runId, options);
  if (config.data.mode === 'flat')
    throw new RunNotScorableError(
      `run ${runId} is a flat-mode run: request scoring (serve, monitoring windows) builds the seed's features from {userId, appId} and the metadata tables, which a flat table does not have; score a CSV of its declared columns (${featureColumns(featureSpec(config)).join(', ')}) with \`access-perm score --run ${runId} --input <csv> --output <csv>\``,
    );
  const info = await readRunInfo(dir);
  // A locked run joins the tables frozen with its lock (verified with it), unless live tables are asked for.
  const frozen = frozenMetadata !== null && !options.liveMetadata;
  const paths = { ...rawPaths(config), ...(frozen ? frozenMetadata : {}) };
  const metadata = {
    users: await metadataFile(paths.users, info.dataFiles.users, frozen),
    apps: await metadataFile(paths.apps, info.dataFiles.apps, frozen),
  };
  const featureOptions: FeatureOptions = {
    sentinel: config.features.sentinel,
    managerBackfill: config.features.manager_backfill,
  };
  const scorerOptions = { intraOpThreads: options.intraOpThreads ?? 1 };
  const scorer = options.scoringThreads
    ? await createThreadedOnnxScorer(onnx, { ...scorerOptions, threads: options.scoringThreads })
    : await createOnnxScorer(onnx, scorerOptions);
  try {
    const builder = await RequestFeatureBuilder.open(paths, featureOptions, scorer.inputs, spec);
    return new RunModel(
      runId,
      dir,
      version,
      modelSha256,
      threshold,
      featureOptions,
      metadata,
      lock,
      loadModel,
      scorer,
      builder,
    );
  } catch (e) {
    await scorer.close();
    throw e;
  }
}
