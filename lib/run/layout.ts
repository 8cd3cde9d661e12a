/**
 * The layout of a run folder. A version folder (`versions/v<n>/`) and a reproduction folder (`repro/<name>/`) inside
 * it have the same layout: every pipeline step works on one of these folders.
 */

/** The config as the run saw it (snapshotted when the run was prepared). */
export const CONFIG_FILE = 'config.json';
/** Who started the run, the config and data hashes, the input files' sha256. */
export const RUN_INFO_FILE = 'run.json';
/** All that is left of a deleted run: who, when, why, and the manifest of what was removed (signed). */
export const TOMBSTONE_FILE = 'tombstone.json';
/** How a run ended without a manifest (failed or cancelled), written by the pipeline's last step. */
export const RUN_END_FILE = 'end.json';
/** Every artifact with role, size and sha256; written last, so its presence means the folder is complete. */
export const MANIFEST_FILE = 'manifest.json';
/** Out-of-fold metrics, thresholds, calibration, segments, data audit, importance (and `test` in flat mode). */
export const METRICS_FILE = 'metrics.json';
export const FEATURES_FILE = 'features/features.parquet';
/** The scoring spec: features, CTR tables, borders, trees, threshold. */
export const MODEL_FILE = 'model/model.json';
/** The scoring graph of model.json, exported when evaluation has stamped its threshold and calibrator. */
export const ONNX_FILE = 'model/model.onnx';
export const OOF_FILE = 'predictions/oof.parquet';
export const TEST_PREDICTIONS_FILE = 'predictions/test.parquet';
/** Out-of-fold scores of one fold, little-endian float64 in the row order of the fold's rows. */
export const oofFile = (fold: number): string => `folds/fold-${fold}.oof.f64`;
export const VALIDATION_DIR = 'validation';
export const BINNING_FILE = 'binning/tables.json';
export const REPORT_DIR = 'report';
export const MODEL_CARD_FILE = `${REPORT_DIR}/model_card.md`;
/** Monitoring output: windows/, manifest.json, history.jsonl. */
export const MONITORING_DIR = 'monitoring';

/** A version's accumulated overrides: how it was trained, and the category groups scoring applies. */
export const OVERRIDE_SPEC_FILE = 'overrides.json';
/** A validator's decision on a version, in the version's folder. */
export const REVIEW_FILE = 'review.json';
/** The outcome of a reproducibility test, in its reproduction folder. */
export const REPRODUCIBILITY_FILE = 'reproducibility.json';
/** Which workflow execution may write the folder (run, version or reproduction): see writer.ts. */
export const WRITER_FILE = 'writer.json';
/** The files a folder's steps wrote while it is built, signed: see steps.ts. */
export const STEPS_FILE = 'steps.json';
/** The override a version was built for: who filed it, the change, the reason, the diff. In the version's folder. */
export const OVERRIDE_RECORD_FILE = 'override.json';
/** Why a version's build failed or was interrupted, in the version's folder. */
export const BUILD_FAILED_FILE = 'build-failed.json';
/** Who asked for a reproducibility test and of which version, in the reproduction's folder. */
export const REPRO_REQUEST_FILE = 'request.json';
/** Why a reproducibility test never finished (a failed step, or an interrupted lifecycle), in its folder. */
export const REPRO_FAILED_FILE = 'failed.json';
/** The lock of a locked run, in the run folder: the locked version and every frozen artifact. */
export const LOCK_FILE = 'lock.json';
/**
 * The metadata tables a run was locked with, frozen in the locked version's folder (`metadata/users.csv`,
 * `metadata/apps.csv`) and listed in lock.json with these roles: a locked run scores with them.
 */
export const FROZEN_METADATA = { users: 'metadata-users', apps: 'metadata-apps' } as const;
export const FROZEN_METADATA_DIR = 'metadata';

/** Folder of model version `version` relative to the run folder: the trained run itself is version 1. */
export const versionDirName = (version: number): string => (version === 1 ? '.' : `versions/v${version}`);

/** `v<version>-<12 hex of its request's claim>` (or `v<n>-g<generation>-h<history length>` before claims). */
export const REPRO_NAME = /^v\d+-([0-9a-f]{12}|g\d+-h\d+)$/;

/** Folder of a reproduction relative to the run folder (`repro/<name>`). */
export function reproDirName(name: string): string {
  if (!REPRO_NAME.test(name)) throw new Error(`invalid reproduction name ${JSON.stringify(name.slice(0, 40))}`);
  return `repro/${name}`;
}
