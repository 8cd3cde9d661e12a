import { applyIsotonic, applyPlatt, logit, type IsotonicCalibrator, type PlattCalibrator } from '../gbdt/calibration';
import { brier, logloss } from '../metrics';

/** One bin of a reliability diagram: mean predicted probability vs observed approval rate. */
export interface ReliabilityBin {
  /** Bin edges [lower, upper] (the first bin includes its lower edge). */
  lower: number;
  upper: number;
  count: number;
  meanPredicted: number;
  fractionPositive: number;
}

export type BinStrategy = 'uniform' | 'quantile';

/** numpy's default percentile (linear interpolation between closest ranks) of sorted values. */
function percentileSorted(sorted: Float64Array, q: number): number {
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const frac = pos - lo;
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * frac;
}

/** Bin edges of `calibration_curve` (n_bins + 1 values). */
function binEdges(scores: ArrayLike<number>, nBins: number, strategy: BinStrategy): number[] {
  if (strategy === 'uniform') return Array.from({ length: nBins + 1 }, (_, i) => i / nBins);
  const sorted = Float64Array.from(scores).sort();
  return Array.from({ length: nBins + 1 }, (_, i) => percentileSorted(sorted, (i / nBins) * 100));
}

/** numpy.searchsorted(edges, x, side='left'): the number of inner edges strictly below x. */
function binOf(inner: number[], x: number): number {
  let lo = 0;
  let hi = inner.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (inner[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The reliability curve as scikit-learn's `calibration_curve(y, p, n_bins, strategy)`: bins by predicted
 * probability (uniform widths or quantiles), empty bins dropped, with counts and edges kept for plots and ECE.
 */
export function reliabilityCurve(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  nBins = 10,
  strategy: BinStrategy = 'uniform',
): ReliabilityBin[] {
  if (labels.length !== scores.length) throw new Error('labels and scores differ in length');
  const edges = binEdges(scores, nBins, strategy);
  const inner = edges.slice(1, -1);
  const sums = new Float64Array(nBins);
  const trues = new Float64Array(nBins);
  const counts = new Float64Array(nBins);
  for (let i = 0; i < scores.length; i++) {
    const p = scores[i]!;
    if (!(p >= 0 && p <= 1)) throw new Error(`score ${p} at row ${i} is outside [0, 1]`);
    const b = binOf(inner, p);
    sums[b] = sums[b]! + p;
    trues[b] = trues[b]! + (labels[i] === 1 ? 1 : 0);
    counts[b] = counts[b]! + 1;
  }
  const bins: ReliabilityBin[] = [];
  for (let b = 0; b < nBins; b++) {
    if (counts[b] === 0) continue;
    bins.push({
      lower: edges[b]!,
      upper: edges[b + 1]!,
      count: counts[b]!,
      meanPredicted: sums[b]! / counts[b]!,
      fractionPositive: trues[b]! / counts[b]!,
    });
  }
  return bins;
}

/** Expected calibration error: Σ_bins (n_b / n) · |mean predicted − observed rate|. */
export function expectedCalibrationError(bins: readonly ReliabilityBin[]): number {
  const n = bins.reduce((s, b) => s + b.count, 0);
  return n === 0 ? 0 : bins.reduce((s, b) => s + (b.count / n) * Math.abs(b.meanPredicted - b.fractionPositive), 0);
}

/** Maximum calibration error: the worst bin's |mean predicted − observed rate|. */
export function maxCalibrationError(bins: readonly ReliabilityBin[]): number {
  return bins.reduce((m, b) => Math.max(m, Math.abs(b.meanPredicted - b.fractionPositive)), 0);
}

/** Fits Platt scaling on out-of-fold scores. Example: `applyPlatt(fitPlatt(y, p), 0.7)`. */
export function fitPlatt(labels: ArrayLike<number>, scores: ArrayLike<number>): PlattCalibrator {
  const n = labels.length;
  if (n !== scores.length || n === 0) throw new Error('Platt scaling needs equal, non-empty labels and scores');
  const f = new Float64Array(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    f[i] = logit(scores[i]!);
    if (labels[i] === 1) pos++;
  }
  const neg = n - pos;
  const hiT = (pos + 1) / (pos + 2);
  const loT = 1 / (neg + 2);
  // Minimise Σ −[t log q + (1 − t) log(1 − q)], q = σ(−(a f + b)); Newton with backtracking line search.
  let a = 0;
  let b = Math.log((neg + 1) / (pos + 1));
  const loss = (A: number, B: number): number => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const z = -(A * f[i]! + B); // log-odds of q
      const t = labels[i] === 1 ? hiT : loT;
      // −[t log σ(z) + (1−t) log σ(−z)] = log(1 + e^z) − t z, computed stably.
      s += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - t * z;
    }
    return s;
  };
  let current = loss(a, b);
  for (let iter = 0; iter < 100; iter++) {
    let ga = 0;
    let gb = 0;
    let haa = 0;
    let hab = 0;
    let hbb = 0;
    for (let i = 0; i < n; i++) {
      const z = -(a * f[i]! + b);
      const q = 1 / (1 + Math.exp(-z));
      const t = labels[i] === 1 ? hiT : loT;
      const d = q - t; // dL/dz
      const w = q * (1 - q);
      ga -= d * f[i]!;
      gb -= d;
      haa += w * f[i]! * f[i]!;
      hab += w * f[i]!;
      hbb += w;
    }
    const det = haa * hbb - hab * hab + 1e-300;
    const da = -(hbb * ga - hab * gb) / det;
    const db = -(haa * gb - hab * ga) / det;
    let step = 1;
    let next = loss(a + step * da, b + step * db);
    while (next > current + 1e-12 * Math.abs(current) && step > 1e-10) {
      step /= 2;
      next = loss(a + step * da, b + step * db);
    }
    a += step * da;
    b += step * db;
    const improved = current - next;
    current = next;
    if (Math.abs(step * da) < 1e-13 && Math.abs(step * db) < 1e-13) break;
    if (improved >= 0 && improved < 1e-15 * Math.max(1, Math.abs(current)) && Math.hypot(ga, gb) < 1e-9) break;
  }
  return { method: 'platt', a, b };
}

/** Pool-adjacent-violators on (x, y) with ties in x merged first (weighted mean of y). */
export function fitIsotonic(labels: ArrayLike<number>, scores: ArrayLike<number>): IsotonicCalibrator {
  const n = labels.length;
  if (n !== scores.length || n === 0) throw new Error('isotonic calibration needs equal, non-empty labels and scores');
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => scores[i]! - scores[j]!);
  const ux: number[] = [];
  const uy: number[] = [];
  const uw: number[] = [];
  for (let k = 0; k < n;) {
    const x = scores[order[k]!]!;
    let sum = 0;
    let w = 0;
    while (k < n && scores[order[k]!] === x) {
      sum += labels[order[k]!] === 1 ? 1 : 0;
      w++;
      k++;
    }
    ux.push(x);
    uy.push(sum / w);
    uw.push(w);
  }
  // PAV over blocks: each block holds a weighted mean and spans unique points [start, end].
  const mean: number[] = [];
  const weight: number[] = [];
  const start: number[] = [];
  for (let i = 0; i < ux.length; i++) {
    mean.push(uy[i]!);
    weight.push(uw[i]!);
    start.push(i);
    while (mean.length > 1 && mean[mean.length - 2]! >= mean[mean.length - 1]!) {
      const m2 = mean.pop()!;
      const w2 = weight.pop()!;
      start.pop();
      const m1 = mean[mean.length - 1]!;
      const w1 = weight[weight.length - 1]!;
      mean[mean.length - 1] = (m1 * w1 + m2 * w2) / (w1 + w2);
      weight[weight.length - 1] = w1 + w2;
    }
  }
  const fitted = new Float64Array(ux.length);
  for (let blk = 0; blk < mean.length; blk++) {
    const end = blk + 1 < start.length ? start[blk + 1]! : ux.length;
    for (let i = start[blk]!; i < end; i++) fitted[i] = Math.min(1, Math.max(0, mean[blk]!));
  }
  // Keep only the ends of constant runs: interpolation is unchanged, the calibrator stays small.
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < ux.length; i++) {
    const prev = i > 0 ? fitted[i - 1] : undefined;
    const next = i + 1 < ux.length ? fitted[i + 1] : undefined;
    if (prev === fitted[i] && next === fitted[i]) continue;
    x.push(ux[i]!);
    y.push(fitted[i]!);
  }
  return { method: 'isotonic', x, y };
}

/** Quality of one probability mapping, measured out of fold. */
export interface CalibrationQuality {
  method: 'none' | 'platt' | 'isotonic';
  logloss: number;
  brier: number;
  ece: number;
}

export interface CalibrationReport {
  nBins: number;
  /** Reliability of the raw out-of-fold scores (uniform bins). */
  reliability: ReliabilityBin[];
  ece: number;
  mce: number;
  /**
   * Each method evaluated honestly: for every fold, the calibrator is fitted on the other folds' OOF scores
   * and applied to the fold's scores, so the numbers are not flattered by fitting and scoring the same rows.
   */
  crossFitted: CalibrationQuality[];
  /** The method with the lowest cross-fitted logloss ('none' unless a calibrator improves it). */
  recommended: 'none' | 'platt' | 'isotonic';
  /** Calibrators fitted on all OOF scores, ready to apply to the final model's output. */
  platt: PlattCalibrator;
  isotonic: IsotonicCalibrator;
  /** Reliability after the recommended calibration (cross-fitted), for the figure. */
  calibratedReliability: ReliabilityBin[];
}

/** Reliability, ECE, and Platt / isotonic calibrators fitted on OOF scores with cross-fitted quality. */
export function calibrationReport(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  folds: ArrayLike<number>,
  nBins = 10,
): CalibrationReport {
  const reliability = reliabilityCurve(labels, scores, nBins);
  const foldIds = [...new Set(Array.from(folds))].sort((a, b) => a - b);
  const crossFitted = new Map<'platt' | 'isotonic', Float64Array>([
    ['platt', new Float64Array(scores.length)],
    ['isotonic', new Float64Array(scores.length)],
  ]);
  for (const f of foldIds) {
    const trainY: number[] = [];
    const trainP: number[] = [];
    for (let i = 0; i < labels.length; i++) {
      if (folds[i] !== f) {
        trainY.push(labels[i]!);
        trainP.push(scores[i]!);
      }
    }
    // A single fold (or none outside it) cannot be cross-fitted: fall back to the in-sample fit.
    const y = trainY.length > 0 ? trainY : Array.from(labels);
    const p = trainP.length > 0 ? trainP : Array.from(scores);
    const platt = fitPlatt(y, p);
    const iso = fitIsotonic(y, p);
    for (let i = 0; i < labels.length; i++) {
      if (folds[i] !== f) continue;
      crossFitted.get('platt')![i] = applyPlatt(platt, scores[i]!);
      crossFitted.get('isotonic')![i] = applyIsotonic(iso, scores[i]!);
    }
  }
  const quality = (method: CalibrationQuality['method'], p: ArrayLike<number>): CalibrationQuality => ({
    method,
    logloss: logloss(labels, p),
    brier: brier(labels, p),
    ece: expectedCalibrationError(reliabilityCurve(labels, p, nBins)),
  });
  const qualities = [
    quality('none', scores),
    quality('platt', crossFitted.get('platt')!),
    quality('isotonic', crossFitted.get('isotonic')!),
  ];
  const best = qualities.reduce((a, b) => (b.logloss < a.logloss - 1e-12 ? b : a));
  const calibrated = best.method === 'none' ? scores : crossFitted.get(best.method)!;
  return {
    nBins,
    reliability,
    ece: expectedCalibrationError(reliability),
    mce: maxCalibrationError(reliability),
    crossFitted: qualities,
    recommended: best.method,
    platt: fitPlatt(labels, scores),
    isotonic: fitIsotonic(labels, scores),
    calibratedReliability: reliabilityCurve(labels, calibrated, nBins),
  };
}
