import { CATEGORICAL_FEATURES, NUMERIC_FEATURES } from '../features';
import type { DriftSpec } from './drift';

/** The run's monitoring reference (`monitoring/reference.parquet`): engineered features, label and OOF score. */
export const FEATURE_DRIFT_SPEC: DriftSpec = {
  numeric: NUMERIC_FEATURES,
  categorical: CATEGORICAL_FEATURES,
  target: 'label',
  prediction: 'score',
};
