/**
 * Turns a training matrix into the model's feature spec (borders, one-hot values, CTR tables) and the
 * quantized training columns the tree search reads; builds categorical combinations on demand.
 */
import type { FeatureMatrix } from '../../schemas/matrix';
import type { GbdtModel, ResolvedParams } from '../../schemas/gbdt';
import { DEFAULT_CTRS, ctrValue, indexCategories, orderedHistory } from './ctr';
import { BinFinder, binArray, binarize, numericBorders, uniformBorders, withNanBorder } from './quantize';
import { encodeTable, type KeepEntry } from './tables';
import { PACKED_MAX_BINS, packedBins } from './tree';
import type { BinFeature, Bins } from './tree';
import { WASM_CTR_MAX_BORDERS, WASM_CTR_MAX_PRIORS, WasmCtr } from './wasm';
import type { GbdtKernel } from './wasm';

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
  /** Combination tables whose entries are built only when needed (most combinations end up unused). */
  pendingStats: Map<number, (keep?: KeepEntry) => TableColumns>;
}

/** A table's entries, as `encodeTable` gives them. */
type TableColumns = ReturnType<typeof encodeTable>;

/** Fills in a combination table's entries if they were deferred; with `keep`, only the entries it keeps. */
export function materializeTable(out: BuiltFeatures, table: number, keep?: KeepEntry): void {
  const build = out.pendingStats.get(table);
  if (build) {
    Object.assign(out.ctrTables[table]!, build(keep));
    out.pendingStats.delete(table);
  }
}

/** Context for adding CTR features after the initial build (combinations). */
export interface CtrContext {
  labels: Uint8Array;
  perms: Uint32Array[];
  avgFold: number;
  params: FeatureParams;
  scratch: CtrScratch;
}

/** Buffers reused by every CTR and combination a training run builds (one set, not one per combination). */
export class CtrScratch {
  /** The WebAssembly CTR kernels and their memory; null: the TypeScript loops. */
  readonly wasm: WasmCtr | null;
  constructor(kernel: GbdtKernel = 'ts') {
    this.wasm = kernel === 'wasm' ? new WasmCtr() : null;
  }

  private labelledValue = new Int32Array(0);
  private orderedCounts = new Int32Array(0);
  private pairIdBuffer = new Int32Array(0);
  private pairKeyBuffer = new Int32Array(0);
  private idBuffers = [new Int32Array(0), new Int32Array(0)];
  private firstRowBuffer = new Int32Array(0);

  labelled(n: number): Int32Array {
    if (this.labelledValue.length < n) this.labelledValue = new Int32Array(n);
    return this.labelledValue.subarray(0, n);
  }

  history(n: number): Int32Array {
    if (this.orderedCounts.length < 2 * n) this.orderedCounts = new Int32Array(2 * n);
    return this.orderedCounts.subarray(0, 2 * n);
  }

  /** `size` pair ids, all -1 (no pair seen). */
  pairIds(size: number): Int32Array {
    if (this.pairIdBuffer.length < size) this.pairIdBuffer = new Int32Array(size);
    return this.pairIdBuffer.subarray(0, size).fill(-1);
  }

  /** Per-row ids of a combination: it adds one column at a time, reading one of these two and writing the other. */
  ids(which: 0 | 1, n: number): Int32Array {
    if (this.idBuffers[which]!.length < n) this.idBuffers[which] = new Int32Array(n);
    return this.idBuffers[which]!.subarray(0, n);
  }

  /** The first row of each of up to `n` combination ids. */
  firstRows(n: number): Int32Array {
    if (this.firstRowBuffer.length < n) this.firstRowBuffer = new Int32Array(n);
    return this.firstRowBuffer.subarray(0, n);
  }

  /** Two key entries for each of `size` hash slots. */
  pairKeys(size: number): Int32Array {
    if (this.pairKeyBuffer.length < 2 * size) this.pairKeyBuffer = new Int32Array(2 * size);
    return this.pairKeyBuffer.subarray(0, 2 * size);
  }
}

/** Whether a CTR with `nBins` bins is stored packed (the default ctr_border_count of 15 gives at most 16 bins). */
const packs = (nBins: number): boolean => nBins <= PACKED_MAX_BINS;

/**
 * Bins of the ordered Borders CTR (positives + prior) / (count + 1) from each row's `history`, packed two rows per
 * byte when they fit. Written out (no per-row callback) and a byte at a time: at a million rows this runs 12 times per
 * CTR table (4 permutations × 3 priors).
 */
function orderedCtrBins(history: Int32Array, prior: number, borders: number[], wasm: WasmCtr | null): Bins {
  const n = history.length >> 1;
  if (wasm && borders.length <= WASM_CTR_MAX_BORDERS) {
    const packed = packs(borders.length + 1);
    const bins = packed ? packedBins(n) : new Uint8Array(n);
    wasm.bins(prior, borders, packed, bins);
    return bins;
  }
  const finder = new BinFinder(borders);
  if (!packs(borders.length + 1)) {
    const bins = binArray(n, borders.length);
    for (let i = 0; i < n; i++) bins[i] = finder.bin((history[2 * i]! + prior) / (history[2 * i + 1]! + 1));
    return bins;
  }
  const bins = packedBins(n);
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const lo = finder.bin((history[2 * i]! + prior) / (history[2 * i + 1]! + 1));
    const hi = finder.bin((history[2 * i + 2]! + prior) / (history[2 * i + 3]! + 1));
    bins[i >> 1] = lo | (hi << 4);
  }
  if (i < n) bins[i >> 1] = finder.bin((history[2 * i]! + prior) / (history[2 * i + 1]! + 1));
  return bins;
}

/** Per-row bins of a CTR that is a function of the value alone (`binOfValue[valueOf[i]]`), packed when they fit. */
function valueCtrBins(valueOf: Int32Array, binOfValue: Bins, borderCount: number): Bins {
  const n = valueOf.length;
  if (!packs(borderCount + 1)) {
    const bins = binArray(n, borderCount);
    for (let i = 0; i < n; i++) bins[i] = binOfValue[valueOf[i]!]!;
    return bins;
  }
  const bins = packedBins(n);
  let i = 0;
  for (; i + 1 < n; i += 2) bins[i >> 1] = binOfValue[valueOf[i]!]! | (binOfValue[valueOf[i + 1]!]! << 4);
  if (i < n) bins[i >> 1] = binOfValue[valueOf[i]!]!;
  return bins;
}

/**
 * A table's entries per value id (with `keep`, only the entries it keeps): `valueOfSource(id, j)` is id's value of
 * feature j as an index into `sources[j]`.
 */
function tableStats(
  valueOf: Int32Array,
  k: number,
  labels: Uint8Array,
  sources: string[][],
  valueOfSource: (id: number, j: number) => number,
  keep?: KeepEntry,
): TableColumns {
  const positives = new Int32Array(k);
  const totals = new Int32Array(k);
  for (let i = 0; i < valueOf.length; i++) {
    const v = valueOf[i]!;
    totals[v]!++;
    positives[v]! += labels[i]!;
  }
  const parts: number[] = [];
  const keptPositives: number[] = [];
  const keptTotals: number[] = [];
  for (let v = 0; v < k; v++) {
    if (keep && !keep(positives[v]!, totals[v]!)) continue;
    for (let j = 0; j < sources.length; j++) parts.push(valueOfSource(v, j));
    keptPositives.push(positives[v]!);
    keptTotals.push(totals[v]!);
  }
  return encodeTable({ sources, parts, positives: keptPositives, totals: keptTotals });
}

/**
 * Adds a CTR table over `proj` (whose per-row dense value id is `valueOf`, `k` ids) and CatBoost's default CTR set
 * on it; returns the new BinFeature indices. A single column's table gets its entries now (`buildStats`);
 * a combination's are deferred to when the model keeps it.
 */
/** Fills the CTR kernels' (or the scratch) labelled array with 2 · value + label per row. */
function labelledValues(ctx: CtrContext, valueOf: Int32Array, k: number): Int32Array {
  const n = valueOf.length;
  const wasm = ctx.scratch.wasm;
  wasm?.ensure(n, k);
  const labelled = wasm ? wasm.labelled() : ctx.scratch.labelled(n);
  for (let i = 0; i < n; i++) labelled[i] = 2 * valueOf[i]! + ctx.labels[i]!;
  return labelled;
}

/** Each row's ordered history (positives, rows before it of its value) under permutation `fold`. */
function historyUnder(ctx: CtrContext, labelled: Int32Array, k: number, fold: number): Int32Array {
  const wasm = ctx.scratch.wasm;
  if (wasm) return wasm.history(ctx.perms[fold]!, k);
  const history = ctx.scratch.history(labelled.length);
  orderedHistory(labelled, k, ctx.perms[fold]!, history);
  return history;
}

/** The bins of every prior's ordered Borders CTR from the last `history`. */
function priorBins(ctx: CtrContext, history: Int32Array, priors: number[], bordersOf: number[][]): Bins[] {
  const wasm = ctx.scratch.wasm;
  if (
    wasm &&
    priors.length <= WASM_CTR_MAX_PRIORS &&
    bordersOf.every((b) => packs(b.length + 1) && b.length <= WASM_CTR_MAX_BORDERS)
  ) {
    // All priors' packed bins in one pass over the history.
    const outs = priors.map(() => packedBins(history.length >> 1));
    wasm.packedBins(priors, bordersOf, outs);
    return outs;
  }
  return priors.map((prior, pi) => orderedCtrBins(history, prior, bordersOf[pi]!, wasm));
}

function addCtrs(
  out: BuiltFeatures,
  ctx: CtrContext,
  proj: number[],
  valueOf: Int32Array,
  k: number,
  buildStats: (keep?: KeepEntry) => TableColumns,
): number[] {
  const n = valueOf.length;
  const totals = new Int32Array(k);
  for (let i = 0; i < n; i++) totals[valueOf[i]!]!++;
  const labelled = labelledValues(ctx, valueOf, k);
  let maxCount = 0;
  for (let v = 0; v < k; v++) if (totals[v]! > maxCount) maxCount = totals[v]!;
  const features = proj.map((c) => out.catSources[c]!.name);
  const table =
    out.ctrTables.push({
      features,
      ...(proj.length === 1 ? buildStats() : { values: features.map(() => []), keys: [], positives: [], totals: [] }),
      maxCount,
    }) - 1;
  if (proj.length > 1) out.pendingStats.set(table, buildStats);

  const added: number[] = [];
  const bordersPriors = DEFAULT_CTRS.filter((c) => c.type === 'Borders').map((c) => c.prior);
  // Borders CTRs: borders from the averaging fold's value range, then every permutation's bins from its history. A
  // combination's averaging-fold bins are built when a tree first splits on it (`lateBins`): only the leaf values
  // of chosen splits read them, and most candidate combinations are never chosen (at ten million rows they would
  // hold ~50 MB per combination).
  const late = proj.length > 1;
  const folds = [ctx.avgFold, ...[...ctx.perms.keys()].filter((f) => f !== ctx.avgFold)];
  const bordersOf: number[][] = [];
  const binsOf = bordersPriors.map(() => new Array<Bins>(ctx.perms.length));
  for (const fold of folds) {
    const history = historyUnder(ctx, labelled, k, fold);
    if (fold === ctx.avgFold) {
      for (const prior of bordersPriors) {
        let range: [number, number];
        if (ctx.scratch.wasm) range = ctx.scratch.wasm.range(prior);
        else {
          let lo = Infinity;
          let hi = -Infinity;
          for (let i = 0; i < n; i++) {
            const x = (history[2 * i]! + prior) / (history[2 * i + 1]! + 1);
            if (x < lo) lo = x;
            if (x > hi) hi = x;
          }
          range = [lo, hi];
        }
        bordersOf.push(uniformBorders(range, ctx.params.ctr_border_count));
      }
      if (late) continue;
    }
    priorBins(ctx, history, bordersPriors, bordersOf).forEach((bins, pi) => (binsOf[pi]![fold] = bins));
  }
  const lateBins = late
    ? (): void => {
        // The same ids, history and bins as if built up front (the kernels' scratch is free between passes).
        const { valueOf: ids, k: count } = combinationIds(out, ctx, proj);
        const history = historyUnder(ctx, labelledValues(ctx, ids, count), count, ctx.avgFold);
        priorBins(ctx, history, bordersPriors, bordersOf).forEach((bins, pi) => (binsOf[pi]![ctx.avgFold] = bins));
      }
    : undefined;
  for (const ctr of DEFAULT_CTRS) {
    if (ctr.type === 'Borders') {
      const pi = bordersPriors.indexOf(ctr.prior);
      const borders = bordersOf[pi]!;
      const ref = out.ctrs.push({ table, type: 'Borders', prior: ctr.prior, borders }) - 1;
      const nBins = borders.length + 1;
      added.push(
        out.binFeatures.push({
          kind: 'ctr',
          ref,
          nBins,
          bins: binsOf[pi]!,
          packed: packs(nBins),
          proj,
          uniqueValues: k,
          lateBins,
        }) - 1,
      );
    } else {
      // Counter is a function of the value alone: quantize each value once, then look its bin up per row.
      const perValue = new Float64Array(k);
      for (let v = 0; v < k; v++) perValue[v] = ctrValue('Counter', ctr.prior, 0, totals[v]!, maxCount);
      const borders = uniformBorders(perValue, ctx.params.ctr_border_count);
      const binOfValue = binarize(perValue, borders);
      const bins = valueCtrBins(valueOf, binOfValue, borders.length);
      const ref = out.ctrs.push({ table, type: 'Counter', prior: ctr.prior, borders }) - 1;
      const nBins = borders.length + 1;
      added.push(
        out.binFeatures.push({
          kind: 'ctr',
          ref,
          nBins,
          bins: [bins],
          packed: packs(nBins),
          proj,
          uniqueValues: k,
        }) - 1,
      );
    }
  }
  return added;
}

/**
 * @param perms one permutation per fold (ordered CTRs are computed under each)
 * @param avgFold the fold whose CTR values set the CTR borders
 * @param scratch buffers (and the CTR kernels) shared with the combinations built later in the fit
 */
export function buildFeatures(
  train: FeatureMatrix,
  labels: Uint8Array,
  perms: Uint32Array[],
  avgFold: number,
  params: FeatureParams,
  scratch = new CtrScratch(),
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
  const ctx: CtrContext = { labels, perms, avgFold, params, scratch };
  const ignored = new Set(params.ignored_features ?? []);
  for (const col of train.categorical) {
    out.features.push({ name: col.name, type: 'categorical' });
    if (ignored.has(col.name)) continue;
    const idx = indexCategories(col, labels);
    const k = idx.values.length;
    if (k <= params.one_hot_max_size) {
      const ref = out.oneHotFeatures.push({ name: col.name, values: idx.values }) - 1;
      out.binFeatures.push({
        kind: 'onehot',
        ref,
        nBins: k,
        bins: [Uint8Array.from(idx.valueOf)],
      });
      continue;
    }
    const c =
      out.catSources.push({
        name: col.name,
        valueOf: idx.valueOf,
        values: idx.values,
      }) - 1;
    addCtrs(out, ctx, [c], idx.valueOf, k, () => tableStats(idx.valueOf, k, labels, [idx.values], (v) => v));
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
    const ref =
      out.floatFeatures.push({
        name: col.name,
        nanMode: params.nan_mode,
        borders,
      }) - 1;
    out.binFeatures.push({
      kind: 'float',
      ref,
      nBins: borders.length + 1,
      bins: [binarize(col.values, borders, params.nan_mode)],
    });
  }
  return out;
}

/** Largest pair key space given a direct-address table (16 MiB of ids). */
const DIRECT_IDS_MAX = 1 << 22;

/** Slots of a hash table for up to `maxKeys` pairs, at most half full. */
function hashSlots(maxKeys: number): number {
  let size = 1024;
  while (size < 2 * maxKeys) size *= 2;
  return size;
}

/** Pair → id by direct addressing (small key spaces); `get` remembers the slot `set` fills. */
class DirectIds {
  private slot = 0;
  constructor(private readonly ids: Int32Array) {}
  get(a: number, b: number, card: number): number {
    this.slot = a * card + b;
    return this.ids[this.slot]!;
  }
  set(id: number): void {
    this.ids[this.slot] = id;
  }
}

/** Pair → id in an open-addressing table of typed arrays (large key spaces; a Map of numbers was the hot spot). */
class HashedIds {
  private readonly mask: number;
  private slot = 0;
  private a = 0;
  private b = 0;
  /** `ids` (all -1) has a power-of-two length; `keys` holds two entries per slot. */
  constructor(
    private readonly ids: Int32Array,
    private readonly keys: Int32Array,
  ) {
    this.mask = ids.length - 1;
  }
  get(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ b;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    let slot = (h ^ (h >>> 13)) & this.mask;
    for (;;) {
      const id = this.ids[slot]!;
      if (id < 0 || (this.keys[2 * slot] === a && this.keys[2 * slot + 1] === b)) {
        this.slot = slot;
        this.a = a;
        this.b = b;
        return id;
      }
      slot = (slot + 1) & this.mask;
    }
  }
  set(id: number): void {
    this.keys[2 * this.slot] = this.a;
    this.keys[2 * this.slot + 1] = this.b;
    this.ids[this.slot] = id;
  }
}

/**
 * A combination's dense value ids per row (`k` of them, in order of first occurrence) and each id's first row, in
 * the context's scratch buffers: valid until the next combination (a fresh array per combination and column was
 * ~3 MB of garbage each at 800,000 rows, hundreds of MB over a fit).
 */
function combinationIds(
  out: BuiltFeatures,
  ctx: CtrContext,
  proj: number[],
): { valueOf: Int32Array; k: number; firstRow: Int32Array } {
  const srcs = proj.map((c) => out.catSources[c]!);
  const n = srcs[0]!.valueOf.length;
  const wasm = ctx.scratch.wasm;
  if (wasm) {
    wasm.startIds(srcs[0]!.valueOf);
    let k = srcs[0]!.values.length;
    for (let s = 1; s < srcs.length; s++) {
      const card = srcs[s]!.values.length;
      const direct = k * card <= DIRECT_IDS_MAX;
      k = wasm.addColumn(srcs[s]!.valueOf, card, direct, direct ? k * card : hashSlots(n));
    }
    return { ...wasm.ids(), k };
  }
  const firstRow = ctx.scratch.firstRows(n);
  let cur = srcs[0]!.valueOf;
  let curCount = srcs[0]!.values.length;
  for (let s = 1; s < srcs.length; s++) {
    const src = srcs[s]!;
    const card = src.values.length;
    const next = ctx.scratch.ids((s & 1) as 0 | 1, n);
    let count = 0;
    // Dense ids of the (cur, src) pairs in order of first occurrence.
    const ids =
      curCount * card <= DIRECT_IDS_MAX
        ? new DirectIds(ctx.scratch.pairIds(curCount * card))
        : new HashedIds(ctx.scratch.pairIds(hashSlots(n)), ctx.scratch.pairKeys(hashSlots(n)));
    for (let i = 0; i < n; i++) {
      const a = cur[i]!;
      const b = src.valueOf[i]!;
      let id = ids.get(a, b, card);
      if (id < 0) {
        id = count;
        ids.set(id);
        firstRow[count++] = i;
      }
      next[i] = id;
    }
    cur = next;
    curCount = count;
  }
  return { valueOf: cur, k: curCount, firstRow };
}

/**
 * A combination table's entries, recomputed from its sources when asked for: the ids and counts of the dozens of
 * candidate combinations that the trees never keep would otherwise stay alive for the whole fit (at 800,000 rows
 * they held as much memory as the combinations' bins).
 */
function deferredCombinationStats(
  out: BuiltFeatures,
  ctx: CtrContext,
  proj: number[],
): (keep?: KeepEntry) => TableColumns {
  return (keep) => {
    const srcs = proj.map((c) => out.catSources[c]!);
    const { valueOf, k, firstRow } = combinationIds(out, ctx, proj);
    const sources = srcs.map((src) => src.values);
    return tableStats(valueOf, k, ctx.labels, sources, (id, j) => srcs[j]!.valueOf[firstRow[id]!]!, keep);
  };
}

/**
 * Adds CTR features over a combination of categorical sources (sorted indices, 2+): the combination's value is the
 * tuple of the sources' values, in `proj` order.
 */
export function addCombination(out: BuiltFeatures, ctx: CtrContext, proj: number[]): number[] {
  const { valueOf, k } = combinationIds(out, ctx, proj);
  return addCtrs(out, ctx, proj, valueOf, k, deferredCombinationStats(out, ctx, proj));
}
