/** Evaluation beyond the headline metrics: thresholds, bootstrap intervals, calibration, segments, folds, audit. */
export { bootstrapCi } from './bootstrap';
export type { BootstrapOptions, BootstrapResult, Interval } from './bootstrap';
export {
  calibrationReport,
  expectedCalibrationError,
  fitIsotonic,
  fitPlatt,
  maxCalibrationError,
  reliabilityCurve,
} from './calibration';
export type { BinStrategy, CalibrationQuality, CalibrationReport, ReliabilityBin } from './calibration';
export { foldMetrics } from './folds';
export type { FoldConsistency, FoldMetrics } from './folds';
export { segmentMetrics } from './segments';
export type { SegmentOptions, SegmentReport, SegmentRow } from './segments';
export { thresholdTable } from './thresholds';
export type { ThresholdRow } from './thresholds';
export { dataAudit } from './audit';
export type { ColumnAudit, DataAudit, RawTableAudit } from './audit';
export { bootstrapIterationsFor, evaluateScores } from './evaluation';
export type { Evaluation, EvaluationInputs } from './evaluation';
