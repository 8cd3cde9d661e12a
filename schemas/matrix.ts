/**
 * The in-memory column layout handed from the feature step to the trainer and the scorer.
 * Categoricals are dictionary-encoded (as Arrow dictionary vectors are); numerics are Float64 with NaN for missing.
 */
export interface CategoricalColumn {
  name: string;
  /** Index into `dictionary` per row. */
  codes: Int32Array;
  /** Distinct string values; missing values are already the sentinel `__UNKNOWN__`. */
  dictionary: string[];
}

export interface NumericColumn {
  name: string;
  /** NaN marks a missing value. */
  values: Float64Array;
}

export interface FeatureMatrix {
  rowCount: number;
  categorical: CategoricalColumn[];
  numeric: NumericColumn[];
}

/** Sentinel for a missing categorical value (seed-2 "Missing Value Handling"). */
export const UNKNOWN_CATEGORY = '__UNKNOWN__';
