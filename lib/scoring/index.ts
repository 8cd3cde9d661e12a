/**
 * Scoring with a run's model: features from the training SQL over the run's metadata, the run's ONNX graph,
 * the run's threshold, SHAP explanations; a CSV scorer for files of any size.
 */
export { RunNotScorableError } from './errors';
export { RequestFeatureBuilder } from './features';
export type { RequestFeatures, ScoreRequest } from './features';
export { openRunModel, RunModel } from './model';
export type {
  FeatureContribution,
  MetadataFile,
  OpenRunModelOptions,
  RowExplanation,
  RunLockSummary,
  ScoredRequests,
} from './model';
export { CSV_CHUNK_ROWS, PREDICTION_COLUMNS, scoreCsvChunks, scoreCsvFile } from './csv';
export type { ChunkScorer, CsvScoringOptions, CsvScoringSummary, ScoredChunk } from './csv';
export { resolveScoringRun, SCORING_PERMISSION } from './access';
