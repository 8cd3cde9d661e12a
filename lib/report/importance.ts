import type { FeatureMatrix } from '../../schemas/matrix';
import type { GbdtModel } from '../../schemas/gbdt';
import { selectRows } from '../features/matrix';
import type { FeatureImportance } from '../../schemas/metrics';
import { featureImportance, leafCover, meanAbsShap, storedLeafWeights } from '../gbdt';

/** Mean |SHAP| is estimated on at most this many rows (evenly spaced, deterministic). */
/** 2 → "2nd", 11 → "11th", 23 → "23rd". */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

export const SHAP_SAMPLE_ROWS = 10_000;

/**
 * Global importance of the final model for the report: PredictionValuesChange (normalised to 100, as in
 * seed-2) and mean |SHAP| per input column (log-odds), both from the GBDT engine. Leaf weights are the
 * per-leaf row counts of the training matrix, computed once for both.
 */
export function modelImportance(model: GbdtModel, train: FeatureMatrix): FeatureImportance {
  try {
    // Stored by training (CatBoost's leaf weights); a model trained before they were stored counts the rows again.
    const leafWeights = storedLeafWeights(model) ?? leafCover(model, train);
    const step = Math.max(1, Math.ceil(train.rowCount / SHAP_SAMPLE_ROWS));
    const sample =
      step === 1
        ? train
        : selectRows(
            {
              matrix: train,
              labels: new Uint8Array(train.rowCount),
              folds: new Int32Array(train.rowCount),
              rowIdx: new Float64Array(train.rowCount),
            },
            (i) => i % step === 0,
          ).matrix;
    return {
      predictionValuesChange: featureImportance(model, leafWeights),
      meanAbsShap: meanAbsShap(model, sample, { leafWeights }),
      ...(step > 1
        ? {
            note: `Mean |SHAP| over every ${ordinal(step)} training row (${sample.rowCount.toLocaleString('en-US')} rows).`,
          }
        : {}),
    };
  } catch (e) {
    return { note: `Feature importance could not be computed: ${e instanceof Error ? e.message : String(e)}` };
  }
}
