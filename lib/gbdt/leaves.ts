/**
 * Leaf values of one tree on one fold, as CatBoost estimates them for Logloss: every training row with its own
 * weight (1 — the bootstrap weights only shape the structure search), `leaf_estimation_iterations` Newton
 * (or gradient) steps δ_l += G_l / (H_l + λ), with CatBoost's default AnyImprovement backtracking: a step that does
 * not lower the fold's Logloss is halved, and every halving uses up one of the iterations.
 */
import type { ResolvedParams } from '../../schemas/gbdt';
import type { WasmLeaves } from './wasm';

/** Newton steps smaller than this (in log-odds, before the learning rate) count as converged. */
const STEP_EPS = 1e-10;

/** Per-leaf buffers, allocated once per training run. */
export class LeafScratch {
  delta: Float64Array;
  step: Float64Array;
  cand: Float64Array;
  expDelta: Float64Array;
  g: Float64Array;
  h: Float64Array;
  gc: Float64Array;
  hc: Float64Array;
  /** Per-leaf loss at the current point and at the candidate. */
  lv: Float64Array;
  lvc: Float64Array;
  neg: Float64Array;
  /** Free for the caller (e.g. per-leaf multipliers). */
  factor: Float64Array;
  /** Leaf l's rows are sortedExp/sortedY[start[l] .. start[l + 1]). */
  start: Int32Array;
  sortedExp: Float64Array<ArrayBufferLike> = new Float64Array(0);
  sortedY: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  constructor(maxLeaves: number) {
    const make = () => new Float64Array(maxLeaves);
    this.start = new Int32Array(maxLeaves + 1);
    this.delta = make();
    this.step = make();
    this.cand = make();
    this.expDelta = make();
    this.g = make();
    this.h = make();
    this.gc = make();
    this.hc = make();
    this.lv = make();
    this.lvc = make();
    this.neg = make();
    this.factor = make();
  }
}

/**
 * One pass over the rows (grouped by leaf) at leaf offsets `point`: per-leaf Σ(y − p) into `g`, Σ p(1 − p)
 * (Newton) or the row count into `h`; returns Σ Logloss up to a constant:
 * Σ log(1 + t_i) + Σ_l negatives_l · point_l, t_i = e^−(approx_i + δ_l).
 */
function pass(
  nLeaves: number,
  point: Float64Array,
  newton: boolean,
  s: LeafScratch,
  g: Float64Array,
  h: Float64Array,
  lv: Float64Array,
  reuse: { step: Float64Array; g: Float64Array; h: Float64Array; lv: Float64Array } | null,
): number {
  const se = s.sortedExp;
  const sy = s.sortedY;
  const start = s.start;
  let loss = 0;
  for (let l = 0; l < nLeaves; l++) {
    if (reuse && reuse.step[l] === 0) {
      // This leaf does not move: its statistics are the current point's.
      g[l] = reuse.g[l]!;
      h[l] = reuse.h[l]!;
      lv[l] = reuse.lv[l]!;
      loss += lv[l]!;
      continue;
    }
    const e = Math.exp(-point[l]!);
    const a = start[l]!;
    const b = start[l + 1]!;
    let gl = 0;
    let hl = 0;
    let ll = 0;
    if (newton) {
      for (let j = a; j < b; j++) {
        const t = se[j]! * e;
        const p = 1 / (1 + t);
        gl += sy[j]! - p;
        hl += p * (1 - p);
        ll += Math.log1p(t);
      }
    } else {
      for (let j = a; j < b; j++) {
        const t = se[j]! * e;
        gl += sy[j]! - 1 / (1 + t);
        ll += Math.log1p(t);
      }
      hl = b - a;
    }
    g[l] = gl;
    h[l] = hl;
    lv[l] = ll + s.neg[l]! * point[l]!;
    loss += lv[l]!;
  }
  return loss;
}

/** `leafDeltas`' grouping of the rows by leaf, in row order: fills s.start, s.neg, s.sortedExp and s.sortedY. */
function groupByLeaf(
  leafOf: Uint32Array,
  expNeg: Float64Array,
  labels: Uint8Array,
  nLeaves: number,
  s: LeafScratch,
): void {
  const n = leafOf.length;
  const start = s.start;
  const neg = s.neg;
  start.fill(0, 0, nLeaves + 1);
  neg.fill(0, 0, nLeaves);
  for (let i = 0; i < n; i++) {
    const l = leafOf[i]!;
    start[l + 1]!++;
    neg[l]! += 1 - labels[i]!;
  }
  for (let l = 0; l < nLeaves; l++) start[l + 1]! += start[l]!;
  if (s.sortedExp.length < n) {
    s.sortedExp = new Float64Array(n);
    s.sortedY = new Uint8Array(n);
  }
  const se = s.sortedExp;
  const sy = s.sortedY;
  const fill = s.factor;
  for (let l = 0; l < nLeaves; l++) fill[l] = start[l]!;
  for (let i = 0; i < n; i++) {
    const l = leafOf[i]!;
    const j = fill[l]!++;
    se[j] = expNeg[i]!;
    sy[j] = labels[i]!;
  }
}

/**
 * `leafDeltas` with one iteration: per leaf Σ(y − p) and Σ p(1 − p) (Newton) or the row count at the current point,
 * then δ_l = G_l / (H_l + λ) (0 below STEP_EPS), into `s.delta`. With the kernels, `sums` holds those (G_l, H_l)
 * pairs already.
 */
function oneStep(
  leafOf: Uint32Array,
  expNeg: Float64Array,
  labels: Uint8Array,
  nLeaves: number,
  l2: number,
  newton: boolean,
  s: LeafScratch,
  sums: Float64Array | null,
): void {
  const { g, h, delta } = s;
  if (sums) {
    for (let l = 0; l < nLeaves; l++) {
      g[l] = sums[2 * l]!;
      h[l] = sums[2 * l + 1]!;
    }
  } else {
    g.fill(0, 0, nLeaves);
    h.fill(0, 0, nLeaves);
    const n = leafOf.length;
    if (newton) {
      for (let i = 0; i < n; i++) {
        const l = leafOf[i]!;
        const p = 1 / (1 + expNeg[i]!);
        g[l]! += labels[i]! - p;
        h[l]! += p * (1 - p);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const l = leafOf[i]!;
        g[l]! += labels[i]! - 1 / (1 + expNeg[i]!);
        h[l]!++;
      }
    }
  }
  for (let l = 0; l < nLeaves; l++) {
    const d = h[l]! > 0 ? g[l]! / (h[l]! + l2) : 0;
    delta[l] = Math.abs(d) < STEP_EPS ? 0 : d;
  }
}

/**
 * Leaf deltas (before the learning rate) for rows assigned to leaves by `leafOf`, with the fold's current
 * exp(−approx) per row (with the kernels: `leafOf` is their leaf array and `expNeg` their fold `fold`'s).
 * Returns `s.delta` (first `nLeaves` entries valid).
 */
export function leafDeltas(
  leafOf: Uint32Array,
  expNeg: Float64Array,
  labels: Uint8Array,
  nLeaves: number,
  params: Pick<ResolvedParams, 'l2_leaf_reg' | 'leaf_estimation_iterations'>,
  newton: boolean,
  s: LeafScratch,
  wasm: { kernels: WasmLeaves; fold: number } | null = null,
): Float64Array {
  const l2 = params.l2_leaf_reg;
  const iterations = params.leaf_estimation_iterations;
  const { delta, step, cand } = s;
  delta.fill(0, 0, nLeaves);
  if (iterations === 1) {
    // As CatBoost (no backtracking objective when leaf_estimation_iterations is 1): one step, taken without
    // evaluating the loss, so no grouping by leaf either — each leaf's sums come out in row order all the same.
    const sums = wasm ? wasm.kernels.leafSums(wasm.fold, newton, nLeaves) : null;
    oneStep(leafOf, expNeg, labels, nLeaves, l2, newton, s, sums);
    return delta;
  }
  // Group the rows by leaf (counting sort) so each pass runs leaf by leaf over contiguous memory.
  const start = s.start;
  const neg = s.neg;
  if (wasm) {
    const grouped = wasm.kernels.groupByLeaf(wasm.fold, nLeaves);
    start.set(grouped.start);
    neg.set(grouped.neg);
    s.sortedExp = grouped.sortedExp;
    s.sortedY = grouped.sortedY;
  } else groupByLeaf(leafOf, expNeg, labels, nLeaves, s);
  let g = s.g;
  let h = s.h;
  let gc = s.gc;
  let hc = s.hc;
  let lv = s.lv;
  let lvc = s.lvc;
  let loss = pass(nLeaves, delta, newton, s, g, h, lv, null);
  for (let iter = 0; iter < iterations; iter++) {
    // A leaf whose Newton step is below STEP_EPS has converged: it stays put, and the passes skip its rows
    // (most rows sit in large leaves, which converge in a few steps; small leaves converge slowly).
    let moving = 0;
    for (let l = 0; l < nLeaves; l++) {
      let d = h[l]! > 0 ? g[l]! / (h[l]! + l2) : 0;
      if (Math.abs(d) < STEP_EPS) d = 0;
      else moving++;
      step[l] = d;
    }
    if (moving === 0) break;
    let scale = 1;
    for (;;) {
      for (let l = 0; l < nLeaves; l++) cand[l] = delta[l]! + scale * step[l]!;
      const value = pass(nLeaves, cand, newton, s, gc, hc, lvc, { step, g, h, lv });
      if (value < loss) {
        loss = value;
        delta.set(cand.subarray(0, nLeaves));
        [g, gc] = [gc, g];
        [h, hc] = [hc, h];
        [lv, lvc] = [lvc, lv];
        break;
      }
      scale /= 2;
      iter++;
      if (iter >= iterations) break;
    }
  }
  return delta;
}
