/** The boosting loop: Logloss, oblivious trees, ordered CTRs, bootstrap, early stopping. */
import { Rng } from '../rng';
import type { FeatureMatrix } from '../../schemas/matrix';
import { GBDT_MODEL_FORMAT, GBDT_MODEL_FORMAT_VERSION } from '../../schemas/gbdt';
import type { CatBoostParams, GbdtModel, GbdtSplit, ResolvedParams } from '../../schemas/gbdt';
import { GbdtDataError } from './errors';
import { resolveParams } from './params';
import { addCombination, buildFeatures, CtrScratch, materializeTable } from './features';
import type { BuiltFeatures, CtrContext } from './features';
import { keptEntries, type KeepEntry } from './tables';
import { drawWeights } from './bootstrap';
import { searchObliviousTree, assignLeaves, TreeSearchScratch } from './tree';
import type { SplitChoice } from './tree';
import { addTree, extendPrepared, prepareMatrix } from './apply';
import type { PreparedMatrix } from './apply';
import { loglossFromRaw, rocAuc } from './metrics';
import { LeafScratch, leafDeltas } from './leaves';
import { ctrValue } from './ctr';
import { enforceMonotone, monotoneChains } from './monotone';
import { defaultKernel, KernelThreads, WasmLeaves } from './wasm';
import type { FitThreads, GbdtKernel } from './wasm';

export interface IterationInfo {
  /** 0-based iteration just finished. */
  iteration: number;
  /** Planned iterations (`iterations` param). */
  iterations: number;
  /**
   * Mean Logloss on the training rows, computed when first read (a pass over every row: read it during the
   * callback, as the approximation moves on with the next iteration).
   */
  readonly trainLoss: number;
  /** Mean Logloss on the eval set, when one is given. */
  evalLoss?: number;
  /** The eval_metric's value (Logloss or AUC), when an eval set is given. */
  evalMetric?: number;
}

export interface TrainOptions {
  evalSet?: { matrix: FeatureMatrix; labels: Uint8Array };
  /** Called after every iteration (progress, heartbeats). */
  onIteration?: (info: IterationInfo) => void;
  /**
   * The hot loops: 'wasm' (WebAssembly kernels) or 'ts' (the TypeScript reference); both give the same model.
   * Default: 'wasm', or ACCESS_PERM_GBDT_KERNEL=ts.
   */
  kernel?: GbdtKernel;
  /**
   * Threads this fit uses (default 1): with 2, a helper thread builds half of each tree level's histograms (the
   * WebAssembly kernels only; the model is the same for any count). A function is asked at the start of every tree.
   */
  threads?: FitThreads;
}

/** Checks a matrix and its labels fit together; `what` names the data set in messages. */
export function checkMatrix(matrix: FeatureMatrix, labels: Uint8Array | undefined, what: string): void {
  const n = matrix.rowCount;
  if (!Number.isInteger(n) || n < 0)
    throw new GbdtDataError(`${what}: rowCount must be a non-negative integer, got ${n}`);
  const seen = new Set<string>();
  for (const c of matrix.categorical) {
    if (seen.has(c.name)) throw new GbdtDataError(`${what}: duplicate column name '${c.name}'`);
    seen.add(c.name);
    if (c.codes.length !== n)
      throw new GbdtDataError(`${what}: column '${c.name}' has ${c.codes.length} rows, rowCount is ${n}`);
    const d = c.dictionary.length;
    for (let i = 0; i < n; i++) {
      const code = c.codes[i]!;
      if (code < 0 || code >= d) {
        throw new GbdtDataError(
          `${what}: column '${c.name}' row ${i} has code ${code} outside its dictionary (size ${d})`,
        );
      }
    }
  }
  for (const c of matrix.numeric) {
    if (seen.has(c.name)) throw new GbdtDataError(`${what}: duplicate column name '${c.name}'`);
    seen.add(c.name);
    if (c.values.length !== n)
      throw new GbdtDataError(`${what}: column '${c.name}' has ${c.values.length} rows, rowCount is ${n}`);
  }
  if (labels) {
    if (labels.length !== n) throw new GbdtDataError(`${what}: ${labels.length} labels for ${n} rows`);
    for (let i = 0; i < n; i++) {
      if (labels[i]! > 1) throw new GbdtDataError(`${what}: label at row ${i} is ${labels[i]}, expected 0 or 1`);
    }
  }
}

function toModelSplit(built: BuiltFeatures, s: SplitChoice): GbdtSplit {
  const f = built.binFeatures[s.feature]!;
  if (f.kind === 'float') return { type: 'float', feature: f.ref, border: built.floatFeatures[f.ref]!.borders[s.bin]! };
  if (f.kind === 'ctr') return { type: 'ctr', ctr: f.ref, border: built.ctrs[f.ref]!.borders[s.bin]! };
  return { type: 'onehot', feature: f.ref, value: built.oneHotFeatures[f.ref]!.values[s.bin]! };
}

/**
 * Drops combination CTRs (and their tables) that no kept tree uses; single-column CTRs stay. Re-indexes splits.
 */
function pruneCombinations(
  spec: Pick<GbdtModel, 'features' | 'floatFeatures' | 'oneHotFeatures' | 'ctrTables' | 'ctrs'>,
  trees: GbdtModel['trees'],
  materialize: (table: number, keep?: KeepEntry) => void,
): Pick<GbdtModel, 'features' | 'floatFeatures' | 'oneHotFeatures' | 'ctrTables' | 'ctrs' | 'trees'> {
  const used = new Set<number>();
  for (const t of trees) for (const s of t.splits) if (s.type === 'ctr') used.add(s.ctr);
  const tableMap = new Map<number, number>();
  const ctrMap = new Map<number, number>();
  const keptTables: number[] = [];
  const ctrs: GbdtModel['ctrs'] = [];
  spec.ctrs.forEach((c, i) => {
    const table = spec.ctrTables[c.table]!;
    if (table.features.length > 1 && !used.has(i)) return;
    let t = tableMap.get(c.table);
    if (t === undefined) {
      t = keptTables.push(c.table) - 1;
      tableMap.set(c.table, t);
    }
    ctrMap.set(i, ctrs.push({ ...c, table: t }) - 1);
  });
  const remapped = trees.map((t) => ({
    ...t,
    splits: t.splits.map((s) => (s.type === 'ctr' ? { ...s, ctr: ctrMap.get(s.ctr)! } : s)),
  }));
  const keeps = entriesToKeep(
    keptTables.map((ot) => spec.ctrTables[ot]!),
    ctrs,
    remapped,
  );
  const ctrTables = keptTables.map((ot, t) => {
    const keep = keeps[t];
    materialize(ot, keep);
    const table = spec.ctrTables[ot]!;
    // A table materialized during training (eval set) still holds every entry.
    return keep ? keptEntries(table, keep) : table;
  });
  return { ...spec, ctrTables, ctrs, trees: remapped };
}

/**
 * Per table, which entries to keep: combination tables drop the entries that score exactly like an unseen value
 * (for every split the trees make on the table's CTRs, the entry's CTR falls on the same side of the border as the
 * unseen value's prior-based CTR). Predictions are unchanged (a missing key scores as unseen), and most rare
 * combinations go — the bulk of a model file. Single-column tables stay complete (undefined: their CTRs are model
 * features in their own right).
 */
function entriesToKeep(
  tables: Pick<GbdtModel['ctrTables'][number], 'features' | 'maxCount'>[],
  ctrs: GbdtModel['ctrs'],
  trees: GbdtModel['trees'],
): (KeepEntry | undefined)[] {
  const bordersOf = new Map<number, Set<number>>();
  for (const t of trees) {
    for (const s of t.splits) {
      if (s.type !== 'ctr') continue;
      let set = bordersOf.get(s.ctr);
      if (!set) bordersOf.set(s.ctr, (set = new Set()));
      set.add(s.border);
    }
  }
  const checks: { type: 'Borders' | 'Counter'; prior: number; borders: number[] }[][] = tables.map(() => []);
  ctrs.forEach((c, i) => {
    const set = bordersOf.get(i);
    if (set) checks[c.table]!.push({ type: c.type, prior: c.prior, borders: [...set].sort((a, b) => a - b) });
  });
  return tables.map((table, ti) => {
    if (table.features.length === 1) return undefined;
    const list = checks[ti]!;
    const sameAsUnseen = (positives: number, total: number): boolean => {
      for (const c of list) {
        const v = ctrValue(c.type, c.prior, positives, total, table.maxCount);
        const u = ctrValue(c.type, c.prior, 0, 0, table.maxCount);
        for (const b of c.borders) if (v > b !== u > b) return false;
      }
      return true;
    };
    return (positives: number, total: number) => !sameAsUnseen(positives, total);
  });
}

/** CatBoost's decay of the score noise with model length: L / (1 + L), L = exp(ln n − iteration · learning_rate). */
export function scoreNoiseMultiplier(rowCount: number, iteration: number, learningRate: number): number {
  const l = Math.exp(Math.log(rowCount) - iteration * learningRate);
  return l / (1 + l);
}

/**
 * Trains a binary Logloss model.
 *
 * @param train feature columns (categoricals dictionary-encoded, numerics with NaN for missing)
 * @param labels 0/1 per row
 * @param params CatBoost-named parameters (see `resolveParams`)
 * @param options.evalSet rows for early stopping / use_best_model (never used to fit statistics)
 * @param options.onIteration called after every iteration
 * @example trainGbdt(matrix, labels, { iterations: 500, learning_rate: 0.05, depth: 8, l2_leaf_reg: 8, random_seed: 42 })
 */
export function trainGbdt(
  train: FeatureMatrix,
  labels: Uint8Array,
  params: CatBoostParams,
  options: TrainOptions = {},
): GbdtModel {
  const threads = new KernelThreads(options.threads);
  try {
    return fit(train, labels, params, options, threads);
  } finally {
    threads.close();
  }
}

function fit(
  train: FeatureMatrix,
  labels: Uint8Array,
  params: CatBoostParams,
  options: TrainOptions,
  threads: KernelThreads,
): GbdtModel {
  checkMatrix(train, labels, 'train');
  const evalSet = options.evalSet;
  if (evalSet) checkMatrix(evalSet.matrix, evalSet.labels, 'evalSet');
  const n = train.rowCount;
  if (n < 2) throw new GbdtDataError(`train: need at least 2 rows, got ${n}`);
  const P: ResolvedParams = resolveParams(params, n, { hasEvalSet: evalSet !== undefined });
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i]!;
  if (positives === 0 || positives === n) throw new GbdtDataError('train: all labels are equal; need both 0 and 1');

  const rng = new Rng(P.random_seed);
  const permRng = rng.fork(1);
  const bootRng = rng.fork(2);
  const noiseRng = rng.fork(3);
  const foldRng = rng.fork(4);
  const nPerm = P.permutation_count;
  const perms = Array.from({ length: nPerm }, () => permRng.blockPermutation(n, P.fold_permutation_block ?? 1));
  // Folds 0..nStruct-1 choose tree structures; the last permutation computes leaf values (CatBoost's averaging fold).
  const nStruct = nPerm > 1 ? nPerm - 1 : 1;
  const avgFold = nPerm - 1;

  const kernel = options.kernel ?? defaultKernel();
  const ctrScratch = new CtrScratch(kernel);
  const built = buildFeatures(train, labels, perms, avgFold, P, ctrScratch);
  const features = built.binFeatures;
  const baseFeatures = features.map((_, fi) => fi);
  const spec = {
    features: built.features,
    floatFeatures: built.floatFeatures,
    oneHotFeatures: built.oneHotFeatures,
    ctrTables: built.ctrTables,
    ctrs: built.ctrs,
  };
  // Greedy categorical combinations (CatBoost's max_ctr_complexity): at each level, every CTR split already in
  // the tree may be extended by one more categorical column; combinations are built once and cached.
  const ctrCtx: CtrContext = { labels, perms, avgFold, params: P, scratch: ctrScratch };
  const comboCache = new Map<string, number[]>();
  const nSources = built.catSources.length;
  const candidates =
    P.max_ctr_complexity > 1 && nSources > 1
      ? (splits: SplitChoice[]): number[] => {
          const extra = new Set<number>();
          for (const s of splits) {
            const proj = features[s.feature]!.proj;
            if (!proj || proj.length >= P.max_ctr_complexity) continue;
            for (let c = 0; c < nSources; c++) {
              if (proj.includes(c)) continue;
              const next = [...proj, c].sort((a, b) => a - b);
              const key = next.join(',');
              let added = comboCache.get(key);
              if (!added) {
                added = addCombination(built, ctrCtx, next);
                comboCache.set(key, added);
              }
              for (const fi of added) extra.add(fi);
            }
          }
          return extra.size === 0 ? baseFeatures : [...baseFeatures, ...[...extra].sort((a, b) => a - b)];
        }
      : undefined;

  // CatBoost's model_size_reg: CTRs whose table the model does not hold yet score less the more values they have.
  const tablesUsed = new Set<number>();
  const sizePenalty =
    P.model_size_reg > 0
      ? {
          reg: P.model_size_reg,
          isNew: (fi: number): boolean => !tablesUsed.has(built.ctrs[features[fi]!.ref]!.table),
        }
      : undefined;

  const bias = P.boost_from_average ? Math.log(positives / (n - positives)) : 0;
  // One approximation per permutation, as CatBoost keeps one per fold: fold k's trees get leaf values computed
  // from fold k's own CTR bins, and the structure search on fold k reads fold k's gradients. The last one (the
  // averaging fold) is the model's. expNeg[k][i] = exp(−approx[k][i]), kept multiplicatively (no per-row exp);
  // only the averaging fold's approximation itself is kept (the training loss), the others live in expNeg alone.
  const nApprox = nPerm;
  const wasmLeaves = kernel === 'wasm' ? new WasmLeaves(n, labels, nApprox, Math.exp(-bias), P.depth, threads) : null;
  const expNegs =
    wasmLeaves?.expNeg ?? Array.from({ length: nApprox }, () => new Float64Array(n).fill(Math.exp(-bias)));
  const approx = new Float64Array(n).fill(bias);
  const grad = new Float64Array(n);
  const hess = new Float64Array(n);
  const weights = new Float64Array(n);
  const rows = new Uint32Array(n);
  const stats = new Float64Array(2 * n);
  const leafAll = wasmLeaves ? wasmLeaves.leaf : new Uint32Array(n);
  const scratch = new TreeSearchScratch(kernel, threads);
  const leafScratch = new LeafScratch(1 << P.depth);
  const newtonScore = P.score_function === 'NewtonCosine' || P.score_function === 'NewtonL2';
  const cosine = P.score_function === 'Cosine' || P.score_function === 'NewtonCosine';
  const newtonLeaves = P.leaf_estimation_method === 'Newton';
  const lr = P.learning_rate;

  let prepared: PreparedMatrix | undefined;
  let evalRaw: Float64Array | undefined;
  let evalScratch: Uint32Array | undefined;
  if (evalSet) {
    prepared = prepareMatrix(spec, evalSet.matrix);
    evalRaw = new Float64Array(evalSet.matrix.rowCount).fill(bias);
    evalScratch = new Uint32Array(evalSet.matrix.rowCount);
  }
  const higherIsBetter = P.eval_metric === 'AUC';
  let bestIteration = -1;
  let bestMetric = higherIsBetter ? -Infinity : Infinity;

  const trees: GbdtModel['trees'] = [];
  let iterationsRun = 0;
  for (let it = 0; it < P.iterations; it++) {
    const fold = nStruct > 1 ? foldRng.int(nStruct) : 0;
    const foldExp = expNegs[fold]!;
    for (let i = 0; i < n; i++) {
      const p = 1 / (1 + foldExp[i]!);
      grad[i] = labels[i]! - p;
      hess[i] = p * (1 - p);
    }
    drawWeights(P, grad, bootRng, weights);
    let m = 0;
    let sumW = 0;
    let sumWg2 = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      if (w > 0) {
        const g = grad[i]!;
        rows[m] = i;
        stats[2 * m] = w * g;
        stats[2 * m + 1] = newtonScore ? w * hess[i]! : w;
        sumW += w;
        sumWg2 += w * g * g;
        m++;
      }
    }
    if (m === 0) continue;
    const l2 = (P.l2_leaf_reg * sumW) / m;
    const noiseStd = P.random_strength * Math.sqrt(sumWg2 / n) * scoreNoiseMultiplier(n, it, lr);
    const splits = searchObliviousTree(
      { features, depth: P.depth, fold, rows, m, stats, l2, cosine, noiseStd, rng: noiseRng, candidates, sizePenalty },
      scratch,
    );
    if (splits.length === 0) break;

    // Leaf values, as CatBoost computes them: on every training row with its own weight (1; the bootstrap only
    // shapes the structure search), `leaf_estimation_iterations` Newton (or gradient) steps with AnyImprovement
    // backtracking. The averaging fold's values are the model's; every other fold updates its own approximation.
    const nLeaves = 1 << splits.length;
    const monotone = monotoneChains(built, splits, P.monotone_constraints);
    let leafValues: number[] = [];
    let leafWeights: number[] = [];
    for (let k = nApprox - 1; k >= 0; k--) {
      assignLeaves(features, splits, k, n, leafAll, wasmLeaves);
      const delta = leafDeltas(
        leafAll,
        expNegs[k]!,
        labels,
        nLeaves,
        P,
        newtonLeaves,
        leafScratch,
        wasmLeaves && { kernels: wasmLeaves, fold: k },
      );
      if (monotone.length > 0) enforceMonotone(delta, nLeaves, leafAll, monotone);
      const factor = leafScratch.factor;
      const en = expNegs[k]!;
      for (let l = 0; l < nLeaves; l++) factor[l] = Math.exp(-delta[l]! * lr);
      if (wasmLeaves) wasmLeaves.scale(k, factor, nLeaves);
      else for (let i = 0; i < n; i++) en[i]! *= factor[leafAll[i]!]!;
      if (k === avgFold) for (let i = 0; i < n; i++) approx[i]! += delta[leafAll[i]!]! * lr;
      if (k === avgFold) {
        leafValues = Array.from(delta.subarray(0, nLeaves), (d) => d * lr);
        leafWeights = new Array<number>(nLeaves).fill(0);
        for (let i = 0; i < n; i++) leafWeights[leafAll[i]!]!++;
      }
    }
    for (const s of splits) {
      const f = features[s.feature]!;
      if (f.kind === 'ctr') tablesUsed.add(built.ctrs[f.ref]!.table);
    }
    const tree = { splits: splits.map((s) => toModelSplit(built, s)), leafValues, leafWeights };
    trees.push(tree);
    iterationsRun = it + 1;

    let trainLoss: number | undefined;
    const info: IterationInfo = {
      iteration: it,
      iterations: P.iterations,
      get trainLoss(): number {
        return (trainLoss ??= loglossFromRaw(approx, labels));
      },
    };
    let stop = false;
    if (evalSet && prepared && evalRaw && evalScratch) {
      const treeCtrs = tree.splits.flatMap((s) => (s.type === 'ctr' ? [s.ctr] : []));
      for (const ci of treeCtrs) materializeTable(built, built.ctrs[ci]!.table);
      extendPrepared(spec, prepared, evalSet.matrix, treeCtrs);
      addTree(tree, prepared, evalRaw, evalScratch);
      info.evalLoss = loglossFromRaw(evalRaw, evalSet.labels);
      const metric = higherIsBetter ? rocAuc(evalRaw, evalSet.labels) : info.evalLoss;
      info.evalMetric = metric;
      if (higherIsBetter ? metric > bestMetric : metric < bestMetric) {
        bestMetric = metric;
        bestIteration = it;
      }
      if (P.od_wait !== null && it - bestIteration >= P.od_wait) stop = true;
    }
    options.onIteration?.(info);
    if (stop) break;
  }

  // The training bins are not read from here on; dropping them lets the model's assembly (re-deriving the kept
  // combination tables) reuse their memory instead of adding to it.
  features.length = 0;
  const keep = evalSet && P.use_best_model && bestIteration >= 0 ? bestIteration + 1 : trees.length;
  const kept = trees.slice(0, keep);
  return {
    format: GBDT_MODEL_FORMAT,
    formatVersion: GBDT_MODEL_FORMAT_VERSION,
    lossFunction: 'Logloss',
    ...pruneCombinations(spec, kept, (t, keep) => materializeTable(built, t, keep)),
    bias,
    bestIteration: evalSet && bestIteration >= 0 ? bestIteration : null,
    iterationsRun,
    bestEvalMetric: evalSet && bestIteration >= 0 ? { name: P.eval_metric, value: bestMetric } : null,
    params: P,
  };
}
