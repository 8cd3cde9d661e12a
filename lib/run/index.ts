/**
 * The run folder: its layout, the one rule that finds a run's folder from its id, and the readers and writers of
 * its records (config snapshot, run info, manifest, metrics, versions, reviews, lock, deployment). Payloads carry
 * run ids (`RunRef`); only this module turns them into folders.
 */
export {
  BINNING_FILE,
  CONFIG_FILE,
  FEATURES_FILE,
  BUILD_FAILED_FILE,
  FROZEN_METADATA,
  FROZEN_METADATA_DIR,
  LOCK_FILE,
  MANIFEST_FILE,
  METRICS_FILE,
  MODEL_CARD_FILE,
  MODEL_FILE,
  MONITORING_DIR,
  ONNX_FILE,
  OOF_FILE,
  oofFile,
  OVERRIDE_RECORD_FILE,
  OVERRIDE_SPEC_FILE,
  REPORT_DIR,
  REPRO_FAILED_FILE,
  REPRO_NAME,
  REPRO_REQUEST_FILE,
  REPRODUCIBILITY_FILE,
  reproDirName,
  REVIEW_FILE,
  RUN_END_FILE,
  RUN_INFO_FILE,
  TOMBSTONE_FILE,
  TEST_PREDICTIONS_FILE,
  VALIDATION_DIR,
  versionDirName,
  STEPS_FILE,
  WRITER_FILE,
} from './layout';
export {
  allRunDirs,
  assertRunId,
  createRunDir,
  DEFAULT_RUNS_DIR,
  newRunId,
  resolveRunDir,
  resolveRunFolder,
  runFolderAt,
  type FoundRun,
  type RunFolder,
} from './folder';
export {
  countFeatureRows,
  readFeatures,
  readMetrics,
  readOofScores,
  readRunConfig,
  readRunEnd,
  readRunInfo,
  readTombstone,
  readTestMetrics,
} from './records';
export { readRunRecord, signedRunRecordText, writeRunRecord } from './signedRecord';
export { recordStep, reportedArtifacts, startStepRecord, verifyStepRecord } from './steps';
export { finishedFile, readManifest, tryManifest, verifyFinishedFiles, writeManifest } from './manifest';
export {
  folderContents,
  listRunFiles,
  readRunBytes,
  readRunText,
  removeFolderContents,
  tableAt,
  tableForWriting,
} from './files';
export {
  describeVersion,
  latestApprovedVersion,
  newestVersion,
  readOverrideSpec,
  readVersionReview,
  resolveVersion,
  writeVersionReview,
  type VersionReview,
  type VersionSummary,
} from './versions';
export { readLock, RunLockedError, verifyLockedRun, writeLock, type RunLockFile } from './lock';
export { deploymentPath, readDeployment, writeDeployment } from './deployment';
export { listRuns, showRun, type RunDetails, type RunListing } from './list';
export { assertFolderWriter, registerFolderWriter, takeOverRunFolder, type WorkflowExecution } from './writer';
export {
  lifecycleView,
  readReproRequest,
  reproductions,
  writeBuildFailure,
  writeOverrideRecord,
  writeReproFailure,
  writeReproRequest,
  type FiledOverride,
  type Reproduction,
  type ReproRequest,
} from './lifecycle';
