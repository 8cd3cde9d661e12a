/**
 * Turns a training matrix into the model's feature spec (borders, one-hot values, CTR tables) and the
 * quantized training columns the tree search reads; builds categorical combinations on demand.
 */
import type { FeatureMatrix } from '../../schemas/matrix';
import { COMBINATION_SEPARATOR } from '../../schemas/gbdt';
import type { GbdtModel, ResolvedParams } from '../../schemas/gbdt';
import { DEFAULT_CTRS, ctrValue, indexCategories, orderedBordersCtrs } from './ctr';
import { binarize, numericBorders, uniformBorders, withNanBorder } from './quantize';
import type { BinFeature } from './tree';

type FeatureParams = Pick<
  ResolvedParams,
  | 'one_hot_max_size'
  | 'ctr_border_count'
  | 'border_count'
  | 'feature_border_type'
  | 'nan_mode'
  | 'ignored_features'
  | 'feature_borders'
>;

/** A categorical column that gets CTRs (more values than one_hot_max_size). */
export interface CatSource {
  name: string;
  /** Per row: index into `values`. */
  valueOf: Int32Array;
  values: string[];
}

export interface BuiltFeatures {
  features: GbdtModel['features'];
  floatFeatures: GbdtModel['floatFeatures'];
  oneHotFeatures: GbdtModel['oneHotFeatures'];
  ctrTables: GbdtModel['ctrTables'];
  ctrs: GbdtModel['ctrs'];
  binFeatures: BinFeature[];
  catSources: CatSource[];
  /** Combination tables whose `stats` are built only when needed (most combinations end up unused). */
  pendingStats: Map<number, () => [string, number, number][]>;
}

/** Fills in a combination table's statistics if they were deferred. */
export function materializeTable(out: BuiltFeatures, table: number): void {
  const build = out.pendingStats.get(table);
  if (build) {
    out.ctrTables[table]!.stats = build();
    out.pendingStats.delete(table);
  }
}

/** Code-unit order of table keys (combination tables are sorted when the model is assembled). */
export const byKey = (a: [string, number, number], b: [string, number, number]): number =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;

/** Context for adding CTR features after the initial build (combinations). */
export interface CtrContext {
  labels: Uint8Array;
  perms: Uint32Array[];
  avgFold: number;
  params: FeatureParams;
}

/**
 * Adds a CTR table over `proj` (whose per-row dense value id is `valueOf`, `k` ids, `keyOf(id)` its string key)
 * and CatBoost's default CTR set on it; returns the new BinFeature indices.
 */
function addCtrs(
  out: BuiltFeatures,
  ctx: CtrContext,
  proj: number[],
  valueOf: Int32Array,
  k: number,
  keyOf: (id: number) => string,
): number[] {
  const n = valueOf.length;
  const positives = new Int32Array(k);
  const totals = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const v = valueOf[i]!;
    totals[v]!++;
    positives[v]! += ctx.labels[i]!;
  }
  let maxCount = 0;
  for (let v = 0; v < k; v++) if (totals[v]! > maxCount) maxCount = totals[v]!;
  const buildStats = () =>
    Array.from({ length: k }, (_, v) => [keyOf(v), positives[v]!, totals[v]!] as [string, number, number]).sort(byKey);
  const features = proj.map((c) => out.catSources[c]!.name);
  const table = out.ctrTables.push({ features, stats: proj.length === 1 ? buildStats() : [], maxCount }) - 1;
  if (proj.length > 1) out.pendingStats.set(table, buildStats);

  const added: number[] = [];
  const bordersPriors = DEFAULT_CTRS.filter((c) => c.type === 'Borders').map((c) => c.prior);
  const ordered = ctx.perms.map((perm) => orderedBordersCtrs(valueOf, k, ctx.labels, perm, bordersPriors));
  for (const ctr of DEFAULT_CTRS) {
    if (ctr.type === 'Borders') {
      const pi = bordersPriors.indexOf(ctr.prior);
      const borders = uniformBorders(ordered[ctx.avgFold]![pi]!, ctx.params.ctr_border_count);
      const bins = ordered.map((o) => binarize(o[pi]!, borders));
      const ref = out.ctrs.push({ table, type: 'Borders', prior: ctr.prior, borders }) - 1;
      added.push(out.binFeatures.push({ kind: 'ctr', ref, nBins: borders.length + 1, bins, proj }) - 1);
    } else {
      const perValue = new Float64Array(k);
      for (let v = 0; v < k; v++) perValue[v] = ctrValue('Counter', ctr.prior, 0, totals[v]!, maxCount);
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) values[i] = perValue[valueOf[i]!]!;
      const borders = uniformBorders(values, ctx.params.ctr_border_count);
      const ref = out.ctrs.push({ table, type: 'Counter', prior: ctr.prior, borders }) - 1;
      added.push(
        out.binFeatures.push({ kind: 'ctr', ref, nBins: borders.length + 1, bins: [binarize(values, borders)], proj }) -
          1,
      );
    }
  }
  return added;
}

/**
 * @param perms one permutation per fold (ordered CTRs are computed under each)
 * @param avgFold the fold whose CTR values set the CTR borders
 */
export function buildFeatures(
  train: FeatureMatrix,
  labels: Uint8Array,
  perms: Uint32Array[],
  avgFold: number,
  params: FeatureParams,
): BuiltFeatures {
  const out: BuiltFeatures = {
    features: [],
    floatFeatures: [],
    oneHotFeatures: [],
    ctrTables: [],
    ctrs: [],
    binFeatures: [],
    catSources: [],
    pendingStats: new Map(),
  };
  const ctx: CtrContext = { labels, perms, avgFold, params };
  const ignored = new Set(params.ignored_features ?? []);
  for (const col of train.categorical) {
    out.features.push({ name: col.name, type: 'categorical' });
    if (ignored.has(col.name)) continue;
    const idx = indexCategories(col, labels);
    const k = idx.values.length;
    if (k <= params.one_hot_max_size) {
      const ref = out.oneHotFeatures.push({ name: col.name, values: idx.values }) - 1;
      out.binFeatures.push({ kind: 'onehot', ref, nBins: k, bins: [Uint8Array.from(idx.valueOf)] });
      continue;
    }
    const c = out.catSources.push({ name: col.name, valueOf: idx.valueOf, values: idx.values }) - 1;
    addCtrs(out, ctx, [c], idx.valueOf, k, (v) => idx.values[v]!);
  }
  for (const col of train.numeric) {
    out.features.push({ name: col.name, type: 'numeric' });
    if (ignored.has(col.name)) continue;
    const fixed = params.feature_borders?.[col.name];
    const borders = fixed
      ? withNanBorder(
          [...new Set(fixed)].sort((a, b) => a - b),
          col.values,
          params.nan_mode,
        )
      : numericBorders(col.values, params);
    const ref = out.floatFeatures.push({ name: col.name, nanMode: params.nan_mode, borders }) - 1;
    out.binFeatures.push({
      kind: 'float',
      ref,
      nBins: borders.length + 1,
      bins: [binarize(col.values, borders, params.nan_mode)],
    });
  }
  return out;
}

/**
 * Adds CTR features over a combination of categorical sources (sorted indices, 2+). The combination's value is
 * the sources' values joined by COMBINATION_SEPARATOR, in `proj` order.
 */
export function addCombination(out: BuiltFeatures, ctx: CtrContext, proj: number[]): number[] {
  const srcs = proj.map((c) => out.catSources[c]!);
  const n = srcs[0]!.valueOf.length;
  let cur = Int32Array.from(srcs[0]!.valueOf);
  let curCount = srcs[0]!.values.length;
  let firstRow: number[] = [];
  for (let s = 1; s < srcs.length; s++) {
    const src = srcs[s]!;
    const card = src.values.length;
    const next = new Int32Array(n);
    firstRow = [];
    if (curCount * card <= 1 << 22) {
      // Direct-address table for small key spaces.
      const ids = new Int32Array(curCount * card).fill(-1);
      for (let i = 0; i < n; i++) {
        const key = cur[i]! * card + src.valueOf[i]!;
        let id = ids[key]!;
        if (id < 0) {
          id = firstRow.length;
          ids[key] = id;
          firstRow.push(i);
        }
        next[i] = id;
      }
    } else {
      const ids = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        const key = cur[i]! * card + src.valueOf[i]!;
        let id = ids.get(key);
        if (id === undefined) {
          id = firstRow.length;
          ids.set(key, id);
          firstRow.push(i);
        }
        next[i] = id;
      }
    }
    cur = next;
    curCount = firstRow.length;
  }
  const rowOf = firstRow.slice();
  const keyOf = (id: number) => srcs.map((src) => src.values[src.valueOf[rowOf[id]!]!]!).join(COMBINATION_SEPARATOR);
  return addCtrs(out, ctx, proj, cur, rowOf.length, keyOf);
}
