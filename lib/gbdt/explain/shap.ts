/**
 * Exact SHAP values for oblivious-tree models, over the model's input columns.
 *
 * The game of one tree for a row x: the players are the input columns its splits read (K, |K| = k); a
 * coalition S ⊆ K knows the outcome of every split whose columns all lie in S (level set D(S)), and
 *   v(S) = E_w[leaf value | the leaf agrees with x's leaf on the levels D(S)],
 * the leaf-weight (training cover) average over the leaves consistent with what S knows — TreeSHAP's
 * cover-weighted expectation, taken over the leaf distribution so it does not depend on the (arbitrary) order
 * of an oblivious tree's levels. If those leaves carry no weight at all (x in an empty region of the cover), the
 * plain mean of their values is used, so v(K) = f(x) always. A CTR split over a combination reads several
 * columns: it is known only when all of them are in S (exact Shapley over input columns, not derived features).
 *
 * Exactness: the model's game is bias + Σ_trees v_t; Shapley values are linear in the game, and a tree's game
 * depends on S only through S ∩ K_t (other columns are null players), so the model's value for column j is
 * Σ_t φ_j(v_t restricted to K_t). Each φ_j is computed by the Shapley formula itself, enumerating all 2^k
 * coalitions of K_t — no approximation. Efficiency gives Σ_j φ_j = v(K) − v(∅) = f_t(x) − E_w[f_t] per tree,
 * hence Σ SHAP + expectedValue = predictRaw(x) up to rounding.
 *
 * Cost per tree: the conditional means for every (level mask, pattern) pair in one O(D·3^D) pass (when D ≤ 12
 * and enough leaves are needed; otherwise an O(D·2^D) subset sum per leaf), then O(k·2^k) per distinct leaf
 * reached by the rows (cached, so a tree costs at most 2^D such evaluations whatever the row count), then O(k)
 * per row.
 */
import type { GbdtModel } from '../../../schemas/gbdt';
import type { FeatureMatrix } from '../../../schemas/matrix';
import { CHUNK_ROWS, preparedChunks, treeLeaves } from '../apply';
import { GbdtModelError } from '../errors';
import { resolveLeafWeights } from './cover';
import type { LeafWeightSource } from './cover';
import { sortImportances } from './importance';
import type { FeatureImportance } from './importance';
import { splitColumns } from './players';

/** Enumerating 2^k coalitions per leaf: a tree reading more input columns than this is refused. */
export const MAX_TREE_PLAYERS = 20;
/** Trees up to this depth use the 3^D table of conditional means; deeper ones a per-leaf subset sum. */
const MAX_TERNARY_DEPTH = 12;

/** Leaf weights for the value function; see `resolveLeafWeights` (explicit > background matrix > stored). */
export type ExplainOptions = LeafWeightSource;

export interface ShapValues {
  /** Input columns, the model's `features` order. */
  features: string[];
  /** bias + Σ_trees (cover-weighted mean leaf value): the prediction when nothing is known (log-odds). */
  expectedValue: number;
  /** Per row: one contribution per feature (log-odds); expectedValue + Σ = predictRaw of the row. */
  values: Float64Array[];
}

/** One row's explanation. */
export interface ShapRow {
  features: readonly string[];
  expectedValue: number;
  values: ArrayLike<number>;
}

export interface Contribution {
  feature: string;
  /** SHAP value in log-odds: > 0 pushes towards approval. */
  value: number;
}

/** Shapley weights s!(k−s−1)!/k! for s = 0..k−1, and popcounts of 0..2^k−1 (cached per k). */
const coalitionCache = new Map<number, { coef: Float64Array; pop: Uint8Array }>();
function coalitionTables(k: number): { coef: Float64Array; pop: Uint8Array } {
  let t = coalitionCache.get(k);
  if (!t) {
    const coef = new Float64Array(Math.max(k, 1));
    coef[0] = 1 / k;
    for (let s = 0; s + 1 < k; s++) coef[s + 1] = (coef[s]! * (s + 1)) / (k - s - 1);
    const pop = new Uint8Array(1 << k);
    for (let S = 1; S < pop.length; S++) pop[S] = pop[S >> 1]! + (S & 1);
    t = { coef, pop };
    coalitionCache.set(k, t);
  }
  return t;
}

/** The conditional mean of a group of leaves: exact leaf value for one leaf, else weighted (or plain) mean. */
const groupMean = (num: number, den: number, sum: number, count: number): number => (den > 0 ? num / den : sum / count);

/**
 * One tree's players and, per level, the bit mask (over the local players) of the columns its split reads.
 */
interface TreeGame {
  /** Global feature index of each local player, ascending. */
  players: Int32Array;
  /** Per level: local-player mask the split needs. */
  need: Uint32Array;
}

function treeGame(columns: number[][]): TreeGame {
  const players = [...new Set(columns.flat())].sort((a, b) => a - b);
  if (players.length > MAX_TREE_PLAYERS) {
    throw new GbdtModelError(`a tree reads ${players.length} input columns; SHAP supports up to ${MAX_TREE_PLAYERS}`);
  }
  const local = new Map(players.map((p, i) => [p, i] as const));
  const need = Uint32Array.from(columns, (cols) => cols.reduce((m, c) => m | (1 << local.get(c)!), 0));
  return { players: Int32Array.from(players), need };
}

/**
 * Computes the SHAP values (over the tree's local players) of the rows that fall in each of `leaves`, writing
 * k values per leaf into `phi` at leaf·k.
 */
function explainTreeLeaves(
  values: ArrayLike<number>,
  weights: Float64Array,
  game: TreeGame,
  leaves: ArrayLike<number>,
  phi: Float64Array,
): void {
  const depth = game.need.length;
  const k = game.players.length;
  const nS = 1 << k;
  // Level mask known to each coalition.
  const known = new Uint32Array(nS);
  for (let S = 0; S < nS; S++) {
    let m = 0;
    for (let d = 0; d < depth; d++) if ((game.need[d]! & ~S) === 0) m |= 1 << d;
    known[S] = m;
  }
  const vS = new Float64Array(nS);
  // The 3^D table pays when many leaves are explained; a few leaves are cheaper one by one.
  const ternary = depth <= MAX_TERNARY_DEPTH && leaves.length * 3 * (1 << depth) > 3 ** depth;
  const fill = ternary ? ternaryValues(values, weights, depth) : zetaValues(values, weights, depth);
  const { coef, pop } = coalitionTables(k);
  for (let li = 0; li < leaves.length; li++) {
    const leaf = leaves[li]!;
    fill(leaf, known, vS);
    const base = leaf * k;
    for (let j = 0; j < k; j++) {
      const bit = 1 << j;
      let sum = 0;
      for (let S = 0; S < nS; S++) if ((S & bit) === 0) sum += coef[pop[S]!]! * (vS[S | bit]! - vS[S]!);
      phi[base + j] = sum;
    }
  }
}

type ValueFill = (leaf: number, known: Uint32Array, out: Float64Array) => void;

/** Per base-3 index below 3^depth: its lowest 0 digit, or depth when it has none (cached per depth). */
const lowZeroCache = new Map<number, Uint8Array>();
function lowestZeroDigits(depth: number): Uint8Array {
  let out = lowZeroCache.get(depth);
  if (!out) {
    out = new Uint8Array(3 ** depth);
    for (let t = 0; t < out.length; t++) {
      let x = t;
      let d = 0;
      while (d < depth && x % 3 !== 0) {
        x = (x - (x % 3)) / 3;
        d++;
      }
      out[t] = d;
    }
    lowZeroCache.set(depth, out);
  }
  return out;
}

/**
 * All conditional means at once, indexed in base 3: digit d is 0 when level d is unknown, 1 / 2 when it is known
 * to be 0 / 1. Leaves are the indices without a 0 digit; any other entry sums its two children at its lowest 0
 * digit. O(D·3^D).
 */
function ternaryValues(values: ArrayLike<number>, weights: Float64Array, depth: number): ValueFill {
  const nLeaves = 1 << depth;
  const pow3 = new Int32Array(depth + 1);
  pow3[0] = 1;
  for (let d = 0; d < depth; d++) pow3[d + 1] = pow3[d]! * 3;
  const size = pow3[depth]!;
  // tern[b] = Σ_{d ∈ b} 3^d: a leaf l sits at tern[all] + tern[l]; (mask m, leaf l) at tern[m] + tern[l & m].
  const tern = new Int32Array(nLeaves);
  for (let d = 0; d < depth; d++) for (let b = 1 << d; b < 2 << d; b++) tern[b] = tern[b - (1 << d)]! + pow3[d]!;
  const all = nLeaves - 1;
  const num = new Float64Array(size);
  const den = new Float64Array(size);
  const sum = new Float64Array(size);
  const cnt = new Float64Array(size);
  for (let l = 0; l < nLeaves; l++) {
    const t = tern[all]! + tern[l]!;
    const w = weights[l]!;
    const v = values[l]!;
    num[t] = w * v;
    den[t] = w;
    sum[t] = v;
    cnt[t] = 1;
  }
  const mean = new Float64Array(size);
  const lowZero = lowestZeroDigits(depth);
  for (let t = size - 1; t >= 0; t--) {
    const d = lowZero[t]!;
    if (d === depth) {
      mean[t] = sum[t]!; // a single leaf: its value exactly
      continue;
    }
    const a = t + pow3[d]!;
    const b = a + pow3[d]!;
    num[t] = num[a]! + num[b]!;
    den[t] = den[a]! + den[b]!;
    sum[t] = sum[a]! + sum[b]!;
    cnt[t] = cnt[a]! + cnt[b]!;
    mean[t] = groupMean(num[t]!, den[t]!, sum[t]!, cnt[t]!);
  }
  return (leaf, known, out) => {
    for (let S = 0; S < known.length; S++) {
      const m = known[S]!;
      out[S] = mean[tern[m]! + tern[leaf & m]!]!;
    }
  };
}

/**
 * Per leaf L: sums over the leaves agreeing with L outside a free level set c, for every c, by a subset-sum
 * transform over δ = l xor L. O(D·2^D) per leaf.
 */
function zetaValues(values: ArrayLike<number>, weights: Float64Array, depth: number): ValueFill {
  const nLeaves = 1 << depth;
  const all = nLeaves - 1;
  const num = new Float64Array(nLeaves);
  const den = new Float64Array(nLeaves);
  const sum = new Float64Array(nLeaves);
  return (leaf, known, out) => {
    for (let delta = 0; delta < nLeaves; delta++) {
      const l = leaf ^ delta;
      num[delta] = weights[l]! * values[l]!;
      den[delta] = weights[l]!;
      sum[delta] = values[l]!;
    }
    for (let d = 0; d < depth; d++) {
      const bit = 1 << d;
      for (let c = 0; c < nLeaves; c++) {
        if ((c & bit) === 0) continue;
        num[c]! += num[c ^ bit]!;
        den[c]! += den[c ^ bit]!;
        sum[c]! += sum[c ^ bit]!;
      }
    }
    for (let S = 0; S < known.length; S++) {
      const c = all & ~known[S]!;
      let free = 0;
      for (let x = c; x; x &= x - 1) free++;
      out[S] = c === 0 ? values[leaf]! : groupMean(num[c]!, den[c]!, sum[c]!, 2 ** free);
    }
  };
}

/** Cover-weighted mean leaf value of a tree (plain mean when it has no weight): its v(∅). */
function treeMean(values: ArrayLike<number>, weights: Float64Array): number {
  let num = 0;
  let den = 0;
  let sum = 0;
  for (let l = 0; l < values.length; l++) {
    num += weights[l]! * values[l]!;
    den += weights[l]!;
    sum += values[l]!;
  }
  return groupMean(num, den, sum, values.length);
}

/**
 * Exact SHAP values (log-odds) of every row of `matrix` over the model's input columns, with the cover-weighted
 * conditional-expectation value function described at the top of this file. Leaf weights: `options.leafWeights`,
 * else per-leaf counts of `options.background` rows (pass the training matrix: TreeSHAP's node cover), else
 * weights stored in the model; the model format stores none today, so one of the options is required.
 * @throws GbdtDataError when no leaf weights are available or a column the model needs is missing
 * @example const shap = shapValues(model, rows, { leafWeights: leafCover(model, trainMatrix) });
 */
export function shapValues(model: GbdtModel, matrix: FeatureMatrix, options: ExplainOptions = {}): ShapValues {
  const weights = resolveLeafWeights(model, options, 'shapValues');
  const columns = splitColumns(model);
  const F = model.features.length;
  const n = matrix.rowCount;
  const flat = new Float64Array(n * F);
  let expectedValue = model.bias;
  model.trees.forEach((tree, t) => (expectedValue += treeMean(tree.leafValues, weights[t]!)));

  const games = columns.map(treeGame);
  // Per tree: SHAP values of each leaf (k per leaf), computed the first time a row lands there.
  const phi: (Float64Array | undefined)[] = [];
  const done: (Uint8Array | undefined)[] = [];
  const leafOf = new Uint32Array(Math.min(CHUNK_ROWS, Math.max(n, 1)));
  for (const { from, prepared } of preparedChunks(model, matrix)) {
    const rows = prepared.rowCount;
    model.trees.forEach((tree, t) => {
      const game = games[t]!;
      const k = game.players.length;
      const nLeaves = tree.leafValues.length;
      treeLeaves(tree, prepared, leafOf);
      const seen = (done[t] ??= new Uint8Array(nLeaves));
      const leafPhi = (phi[t] ??= new Float64Array(nLeaves * k));
      const fresh: number[] = [];
      for (let i = 0; i < rows; i++) {
        const l = leafOf[i]!;
        if (!seen[l]) {
          seen[l] = 1;
          fresh.push(l);
        }
      }
      if (fresh.length > 0) explainTreeLeaves(tree.leafValues, weights[t]!, game, fresh, leafPhi);
      const players = game.players;
      for (let i = 0; i < rows; i++) {
        const base = leafOf[i]! * k;
        const out = (from + i) * F;
        for (let j = 0; j < k; j++) flat[out + players[j]!]! += leafPhi[base + j]!;
      }
    });
  }
  const values = Array.from({ length: n }, (_, i) => flat.subarray(i * F, (i + 1) * F));
  return { features: model.features.map((f) => f.name), expectedValue, values };
}

/** Global importance: mean |SHAP| (log-odds) per input column over the rows of `matrix`, sorted descending. */
export function meanAbsShap(
  model: GbdtModel,
  matrix: FeatureMatrix,
  options: ExplainOptions = {},
): FeatureImportance[] {
  return meanAbsOf(shapValues(model, matrix, options), model.features);
}

/** Mean |SHAP| per column of already computed SHAP values, sorted descending. */
export function meanAbsOf(shap: ShapValues, features = shap.features.map((name) => ({ name }))): FeatureImportance[] {
  const acc = new Float64Array(shap.features.length);
  for (const row of shap.values) for (let j = 0; j < acc.length; j++) acc[j]! += Math.abs(row[j]!);
  if (shap.values.length > 0) for (let j = 0; j < acc.length; j++) acc[j]! /= shap.values.length;
  return sortImportances(features, acc);
}

/** Row `i` of a SHAP result, for `topContributions`. */
export function shapRow(shap: ShapValues, i: number): ShapRow {
  const values = shap.values[i];
  if (!values) throw new RangeError(`shapRow: row ${i} is out of range (0..${shap.values.length - 1})`);
  return { features: shap.features, expectedValue: shap.expectedValue, values };
}

/**
 * "Why was this predicted": the (at most) k non-zero contributions of a row with the largest |value|, largest
 * first (ties in feature order). Positive values push towards approval.
 */
export function topContributions(row: ShapRow, k: number): Contribution[] {
  const out: Array<Contribution & { i: number }> = [];
  for (let i = 0; i < row.features.length; i++) {
    const value = row.values[i]!;
    if (value !== 0) out.push({ feature: row.features[i]!, value, i });
  }
  out.sort((a, b) => Math.abs(b.value) - Math.abs(a.value) || a.i - b.i);
  return out.slice(0, Math.max(0, k)).map(({ feature, value }) => ({ feature, value }));
}
