/**
 * The probability calibrators a model applies to its raw probability (fitted by lib/evaluation/calibration.ts on
 * out-of-fold scores, stored in the scoring spec, repeated by the ONNX export).
 */
/** How far `logit` clips p away from 0 and 1 (the ONNX export repeats the clip). */
export const LOGIT_EPS = 1e-15;
/** log(p / (1 − p)) with p clipped away from 0 and 1. */
export function logit(p: number): number {
  const q = Math.min(1 - LOGIT_EPS, Math.max(LOGIT_EPS, p));
  return Math.log(q / (1 - q));
}

/**
 * Platt scaling on the log-odds of the score: p' = 1 / (1 + exp(a · logit(p) + b)). Fitted as scikit-learn's
 * `_sigmoid_calibration` (Platt's smoothed targets (N₊+1)/(N₊+2) and 1/(N₋+2)), by Newton's method to convergence.
 */
export interface PlattCalibrator {
  method: 'platt';
  /** Slope on logit(score); negative when higher scores mean higher probability. */
  a: number;
  b: number;
}

export function applyPlatt(c: PlattCalibrator, score: number): number {
  return 1 / (1 + Math.exp(c.a * logit(score) + c.b));
}

/**
 * Isotonic calibration as scikit-learn's `IsotonicRegression(out_of_bounds='clip', y_min=0, y_max=1)`:
 * a non-decreasing step-linear map from score to probability, applied by linear interpolation between
 * the knots and clipped outside their range.
 */
export interface IsotonicCalibrator {
  method: 'isotonic';
  /** Knots: increasing scores and their non-decreasing calibrated probabilities. */
  x: number[];
  y: number[];
}

/** numpy.interp over the knots (clipped at both ends). */
export function applyIsotonic(c: IsotonicCalibrator, score: number): number {
  const { x, y } = c;
  if (score <= x[0]!) return y[0]!;
  if (score >= x[x.length - 1]!) return y[y.length - 1]!;
  let lo = 0;
  let hi = x.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x[mid]! <= score) lo = mid;
    else hi = mid;
  }
  const x0 = x[lo]!;
  const x1 = x[hi]!;
  return x1 === x0 ? y[hi]! : y[lo]! + ((y[hi]! - y[lo]!) * (score - x0)) / (x1 - x0);
}

export type Calibrator = PlattCalibrator | IsotonicCalibrator;

/** Applies a stored calibrator (from metrics.json / the model card) to a model probability. */
export function applyCalibrator(c: Calibrator, score: number): number {
  return c.method === 'platt' ? applyPlatt(c, score) : applyIsotonic(c, score);
}
