/**
 * Oblivious (symmetric) tree search on quantized features: one split per level shared by all leaves, chosen
 * from per-(leaf, bin) histograms of the weighted gradient and weight, scored with CatBoost's Cosine or L2
 * score plus `random_strength` noise.
 */
import type { Rng } from '../rng';
import { WasmHistograms } from './wasm';
import type { WasmLeaves } from './wasm';
import type { GbdtKernel, KernelThreads } from './wasm';

/** Bin indices per row: bytes when a feature has ≤ 256 bins (the default border counts), else 16-bit. */
export type Bins = Uint8Array | Uint16Array;

/** A quantized candidate feature as the tree search sees it. */
export interface BinFeature {
  kind: 'float' | 'ctr' | 'onehot';
  /** Index into the model's floatFeatures / ctrs / oneHotFeatures. */
  ref: number;
  /** Number of distinct bin values (borders + 1 for ordered features; value count for one-hot). */
  nBins: number;
  /** Training bins: one array shared by all permutations, or one per permutation (ordered CTRs). */
  bins: Bins[];
  /**
   * Two rows per byte (row r in the high nibble when r is odd; features with ≤ 16 bins, i.e. CTRs): halves the
   * memory of the bins, most of a training run's at a million rows.
   */
  packed?: boolean;
  /** For CTR features: the categorical sources (indices) whose value combination the CTR is over. */
  proj?: number[];
  /** For CTR features: how many distinct values (or value combinations) the training rows have. */
  uniqueValues?: number;
  /** Builds the `bins` entries still missing (a combination's averaging fold) when `binsFor` first reads one. */
  lateBins?: () => void;
}

/** A chosen split: for ordered features the condition is `bin > bin`, for one-hot `bin == bin`. */
export interface SplitChoice {
  feature: number;
  bin: number;
}

export function binsFor(f: BinFeature, fold: number): Bins {
  if (f.bins.length === 1) return f.bins[0]!;
  if (f.bins[fold] === undefined) f.lateBins?.();
  return f.bins[fold]!;
}

/** Most bins a packed feature may have. */
export const PACKED_MAX_BINS = 16;

/** A bin array for `n` rows packed two rows per byte. */
export const packedBins = (n: number): Uint8Array => new Uint8Array((n + 1) >> 1);

/** Row r's bin in one of a feature's bin arrays. */
export const binAt = (bins: Bins, packed: boolean, r: number): number =>
  packed ? (bins[r >> 1]! >> ((r & 1) << 2)) & 15 : bins[r]!;

export const splitBit = (f: BinFeature, bin: number, value: number): number =>
  f.kind === 'onehot' ? (value === bin ? 1 : 0) : value > bin ? 1 : 0;

export interface TreeSearchInput {
  features: BinFeature[];
  depth: number;
  /** Which permutation's CTR bins to use. */
  fold: number;
  /** Rows in this tree's sample (weight > 0), ascending; only the first m are used. */
  rows: Uint32Array;
  m: number;
  /**
   * Per sampled row j, interleaved: stats[2j] = weight · gradient, stats[2j + 1] = weight (Cosine/L2) or
   * weight · hessian (NewtonCosine/NewtonL2).
   */
  stats: Float64Array;
  /** Scaled L2 regulariser. */
  l2: number;
  cosine: boolean;
  /** Standard deviation of the normal noise added to every candidate's score (0 = none). */
  noiseStd: number;
  rng: Rng;
  /**
   * CatBoost's `model_size_reg`: a CTR whose table the model does not hold yet (`isNew`) has its split scores (noise
   * included) multiplied by (1 + its distinct values / the most of any CTR candidate at this level)^−reg.
   */
  sizePenalty?: { reg: number; isNew: (feature: number) => boolean };
  /**
   * Features to consider at a level, given the splits chosen so far (CatBoost adds categorical combinations
   * here); all features when absent. May append to `features`.
   */
  candidates?: (splits: SplitChoice[]) => number[];
}

/** Histogram budget (doubles) above which the parent − sibling subtraction is skipped. */
const SUBTRACTION_BUDGET = 1 << 25;

/** Reusable buffers so a training run allocates them once. */
export class TreeSearchScratch {
  /** Per feature: this level's and the previous level's (leaf, bin) histograms. */
  cur: Float64Array[] = [];
  prev: Float64Array[] = [];
  num = new Float64Array(1024);
  den = new Float64Array(1024);
  list = new Uint32Array(0);
  /** The WebAssembly kernels and their memory, which then holds the row arrays below; null: TypeScript loops. */
  readonly wasm: WasmHistograms | null;
  private tLeaf = new Uint32Array(0);
  private tGLeaf = new Uint32Array(0);
  private tGRow = new Uint32Array(0);
  private tGStat = new Float64Array(0);
  private dHist = new Float64Array(0);
  private dBins = new Uint8Array(0);

  /** `threads`: the fit's threads for the kernels (a tree with two runs its histogram passes two at a time). */
  constructor(kernel: GbdtKernel = 'ts', threads: KernelThreads | null = null) {
    this.wasm = kernel === 'wasm' ? new WasmHistograms(threads) : null;
  }

  // Views into the kernels' memory are re-read after every `ensureRows` (growing that memory detaches them).
  get leaf(): Uint32Array {
    return this.wasm ? this.wasm.leaf : this.tLeaf;
  }
  get gLeaf(): Uint32Array {
    return this.wasm ? this.wasm.gLeaf : this.tGLeaf;
  }
  get gRow(): Uint32Array {
    return this.wasm ? this.wasm.gRow : this.tGRow;
  }
  get gStat(): Float64Array {
    return this.wasm ? this.wasm.gStat : this.tGStat;
  }

  /**
   * Room for `rows` sampled rows, bin arrays of `binBytes` bytes and histograms of `nLeaves` leaves × `bins` bins.
   * With the kernels, growing the rows moves the row arrays (call it before filling them).
   */
  ensureRows(rows: number, bins: number, binBytes: number, nLeaves: number): void {
    if (this.list.length < rows) this.list = new Uint32Array(rows);
    if (this.wasm) this.wasm.ensure(rows, binBytes, nLeaves * bins * 2, nLeaves);
    else if (this.tLeaf.length < rows) {
      this.tLeaf = new Uint32Array(rows);
      this.tGLeaf = new Uint32Array(rows);
      this.tGRow = new Uint32Array(rows);
      this.tGStat = new Float64Array(2 * rows);
    }
    if (this.num.length < bins) {
      this.num = new Float64Array(bins);
      this.den = new Float64Array(bins);
    }
  }

  /** A histogram nobody reads, for padding a group of features. */
  dummyHist(size: number): Float64Array {
    if (this.dHist.length < size) this.dHist = new Float64Array(size);
    return this.dHist;
  }

  /** All-zero bins for padding. */
  dummyBins(rows: number): Uint8Array {
    if (this.dBins.length < rows) this.dBins = new Uint8Array(rows);
    return this.dBins;
  }

  hist(which: 'cur' | 'prev', f: number, size: number): Float64Array {
    const arr = this[which];
    let h = arr[f];
    if (!h || h.length < size) {
      h = new Float64Array(Math.max(size, (h?.length ?? 0) * 2));
      arr[f] = h;
    }
    return h;
  }
}

/**
 * Greedy level-by-level search; returns up to `depth` splits (fewer if no feature can split).
 * Level d's histograms are built only from the rows on the true side of split d − 1; the other children are
 * parent − sibling (when the histograms fit the memory budget).
 */
export function searchObliviousTree(input: TreeSearchInput, scratch: TreeSearchScratch): SplitChoice[] {
  const { features, depth, fold, rows, m, stats, l2, cosine, noiseStd, rng } = input;
  let maxBins = 2;
  let histTotal = 0;
  let binBytes = 0;
  for (const f of features) {
    if (f.nBins > maxBins) maxBins = f.nBins;
    histTotal += f.nBins * 2;
    binBytes = Math.max(binBytes, f.bins[0]!.byteLength);
  }
  const subtract = histTotal * (1 << Math.max(0, depth - 1)) <= SUBTRACTION_BUDGET;
  const maxLeaves = 1 << Math.max(0, depth - 1);
  scratch.ensureRows(m, maxBins, binBytes, maxLeaves);
  let leaf = scratch.leaf;
  leaf.fill(0, 0, m);
  const wasm = scratch.wasm;
  if (wasm) {
    // The kernels read the sampled rows from their own memory.
    wasm.startTree();
    wasm.row.set(rows.subarray(0, m));
    wasm.stat.set(stats.subarray(0, 2 * m));
  }
  const splits: SplitChoice[] = [];

  const computedAt = new Map<number, number>();
  for (let d = 0; d < depth; d++) {
    const nLeaves = 1 << d;
    const cand = input.candidates ? input.candidates(splits) : features.map((_, fi) => fi);
    const active = cand.filter((fi) => features[fi]!.nBins >= 2);
    const viaSub: number[] = [];
    const full: number[] = [];
    for (const fi of active) {
      const f = features[fi]!;
      if (f.nBins > maxBins) {
        maxBins = f.nBins;
        scratch.ensureRows(m, maxBins, binBytes, maxLeaves);
        leaf = scratch.leaf;
      }
      (subtract && d > 0 && computedAt.get(fi) === d - 1 ? viaSub : full).push(fi);
    }
    if (viaSub.length > 0) {
      // Rows in the smaller child of each parent leaf; the larger child is parent − sibling.
      const half = nLeaves >> 1;
      const { smallOn, count } = wasm
        ? wasm.gatherSmaller(m, half)
        : gatherSmaller(scratch, m, half, leaf, rows, stats);
      const gathered = { leaf: scratch.gLeaf, row: scratch.gRow, stat: scratch.gStat, count, gathered: true };
      histograms(scratch, features, viaSub, fold, nLeaves, gathered, smallOn);
    }
    if (full.length > 0) {
      histograms(
        scratch,
        features,
        full,
        fold,
        nLeaves,
        { leaf, row: rows, stat: stats, count: m, gathered: false },
        null,
      );
    }
    for (const fi of active) computedAt.set(fi, d);

    let bestScore = -Infinity;
    let bestF = -1;
    let bestB = -1;
    let maxUnique = 1;
    if (input.sizePenalty) for (const fi of active) maxUnique = Math.max(maxUnique, features[fi]!.uniqueValues ?? 0);
    for (const fi of active) {
      const f = features[fi]!;
      const nB = f.nBins;
      const hist = scratch.cur[fi]!;
      const num = scratch.num;
      const den = scratch.den;
      const onehot = f.kind === 'onehot';
      const nCand = onehot ? nB : nB - 1;
      num.fill(0, 0, nCand);
      den.fill(0, 0, nCand);
      for (let l = 0; l < nLeaves; l++) {
        const base = l * nB * 2;
        let gt = 0;
        let wt = 0;
        for (let b = 0; b < nB; b++) {
          gt += hist[base + 2 * b]!;
          wt += hist[base + 2 * b + 1]!;
        }
        let gl = 0;
        let wl = 0;
        for (let c = 0; c < nCand; c++) {
          let g1: number;
          let w1: number;
          if (onehot) {
            g1 = hist[base + 2 * c]!;
            w1 = hist[base + 2 * c + 1]!;
          } else {
            gl += hist[base + 2 * c]!;
            wl += hist[base + 2 * c + 1]!;
            g1 = gl;
            w1 = wl;
          }
          const g2 = gt - g1;
          const w2 = wt - w1;
          if (w1 > 0) {
            const avg = g1 / (w1 + l2);
            num[c]! += avg * g1;
            den[c]! += avg * avg * w1;
          }
          if (w2 > 0) {
            const avg = g2 / (w2 + l2);
            num[c]! += avg * g2;
            den[c]! += avg * avg * w2;
          }
        }
      }
      const penalty = input.sizePenalty;
      const weight =
        penalty && f.uniqueValues !== undefined && penalty.isNew(fi)
          ? Math.pow(1 + f.uniqueValues / maxUnique, -penalty.reg)
          : 1;
      for (let c = 0; c < nCand; c++) {
        let s = cosine ? (den[c]! > 0 ? num[c]! / Math.sqrt(den[c]!) : 0) : num[c]!;
        if (noiseStd > 0) s += noiseStd * rng.normal();
        s *= weight;
        if (s > bestScore) {
          bestScore = s;
          bestF = fi;
          bestB = c;
        }
      }
    }
    if (bestF < 0) break;
    splits.push({ feature: bestF, bin: bestB });
    if (subtract) {
      const t = scratch.prev;
      scratch.prev = scratch.cur;
      scratch.cur = t;
    }
    if (d + 1 < depth) {
      const f = features[bestF]!;
      const bins = binsFor(f, fold);
      const packed = f.packed === true;
      const onehot = f.kind === 'onehot';
      if (wasm && bins instanceof Uint8Array) wasm.split(m, bins, packed, onehot, bestB, 1 << d);
      else {
        for (let j = 0; j < m; j++) {
          const v = binAt(bins, packed, rows[j]!);
          if (onehot ? v === bestB : v > bestB) leaf[j] = leaf[j]! | (1 << d);
        }
      }
    }
  }
  return splits;
}

/**
 * Gathers the rows of each parent leaf's smaller child (leaf, row index, statistics; the larger child's histograms
 * are parent − sibling) at a level with 2 · `half` leaves; returns per parent whether its smaller child is the true
 * side, and the number of rows gathered.
 */
function gatherSmaller(
  scratch: TreeSearchScratch,
  m: number,
  half: number,
  leaf: Uint32Array,
  rows: Uint32Array,
  stats: Float64Array,
): { smallOn: Uint8Array; count: number } {
  const bit = half;
  const cntOn = new Float64Array(half);
  const cntAll = new Float64Array(half);
  for (let j = 0; j < m; j++) {
    const l = leaf[j]!;
    const p = l & (half - 1);
    cntAll[p]!++;
    if (l & bit) cntOn[p]!++;
  }
  const smallOn = new Uint8Array(half);
  for (let p = 0; p < half; p++) smallOn[p] = cntOn[p]! * 2 <= cntAll[p]! ? 1 : 0;
  const list = scratch.list;
  let count = 0;
  for (let j = 0; j < m; j++) {
    const l = leaf[j]!;
    if ((l & bit ? 1 : 0) === smallOn[l & (half - 1)]) list[count++] = j;
  }
  const gLeaf = scratch.gLeaf;
  const gRow = scratch.gRow;
  const gStat = scratch.gStat;
  for (let t = 0; t < count; t++) {
    const j = list[t]!;
    gLeaf[t] = leaf[j]!;
    gRow[t] = rows[j]!;
    gStat[2 * t] = stats[2 * j]!;
    gStat[2 * t + 1] = stats[2 * j + 1]!;
  }
  return { smallOn, count };
}

/** Rows to build histograms from: per row t < count its leaf, its row index and its two statistics. */
interface HistogramRows {
  leaf: Uint32Array;
  row: Uint32Array;
  stat: Float64Array;
  count: number;
  /** Whether these are the gathered rows (the kernels then read their copy of them). */
  gathered: boolean;
}

/** Four or eight features (-1 pads) that one pass accumulates, all packed or all plain. */
interface FeatureGroup {
  group: number[];
  packed: boolean;
}

/**
 * Fewest rows for which two passes run at once on a fit's two threads: below it, handing a pass over costs about as
 * much as the pass.
 */
const PARALLEL_MIN_ROWS = 2048;

/**
 * Builds the (leaf, bin) histograms of `fis` from `rows`, four or eight features per pass. With `smallOn`, the rows
 * are each parent's smaller child (the true side where smallOn[parent] is 1) and the larger child is
 * parent − sibling. On a tree that has two threads, passes run two at a time (the groups are the same, except that
 * an odd count splits its last eight into two fours: the grouping does not change any feature's sums).
 */
function histograms(
  scratch: TreeSearchScratch,
  features: BinFeature[],
  fis: number[],
  fold: number,
  nLeaves: number,
  rows: HistogramRows,
  smallOn: Uint8Array | null,
): void {
  const groups: FeatureGroup[] = [];
  // Packed and plain features go in separate passes (each pass reads its bins one way).
  for (const packed of [false, true]) {
    const list = fis.filter((fi) => (features[fi]!.packed === true) === packed);
    for (let a = 0; a < list.length;) {
      // Eight packed features per pass while there are eight (more independent read-add-write chains per row).
      const width = packed && list.length - a >= 8 ? 8 : 4;
      groups.push({ group: Array.from({ length: width }, (_, q) => list[a + q] ?? -1), packed });
      a += width;
    }
  }
  const wasm = scratch.wasm;
  const pairs = wasm !== null && wasm.parallel && rows.count >= PARALLEL_MIN_ROWS;
  const last = groups[groups.length - 1];
  if (pairs && groups.length % 2 === 1 && last!.group.length === 8) {
    groups.splice(
      -1,
      1,
      { group: last!.group.slice(0, 4), packed: true },
      { group: last!.group.slice(4), packed: true },
    );
  }
  const onKernel = (g: FeatureGroup): boolean =>
    g.group.every((fi) => fi < 0 || binsFor(features[fi]!, fold) instanceof Uint8Array);
  for (let i = 0; i < groups.length;) {
    const two = pairs && i + 1 < groups.length && onKernel(groups[i]!) && onKernel(groups[i + 1]!);
    histogramPasses(scratch, features, groups.slice(i, two ? i + 2 : i + 1), fold, nLeaves, rows, smallOn);
    i += two ? 2 : 1;
  }
}

/** One pass of `histograms`, or two at once (on the kernels, with two threads). */
function histogramPasses(
  scratch: TreeSearchScratch,
  features: BinFeature[],
  passes: FeatureGroup[],
  fold: number,
  nLeaves: number,
  rows: HistogramRows,
  smallOn: Uint8Array | null,
): void {
  const half = nLeaves >> 1;
  const wasm = scratch.wasm;
  const nbsOf = passes.map(({ group }) => group.map((fi) => (fi < 0 ? 1 : features[fi]!.nBins)));
  // The kernels take byte bins (plain or packed); 16-bit bins (more than 255 borders) stay on the TypeScript loop.
  const kernel =
    wasm &&
    passes.every(({ group }) => group.every((fi) => fi < 0 || binsFor(features[fi]!, fold) instanceof Uint8Array));
  let hsOf: Float64Array[][];
  if (kernel) {
    // The kernel's sums for every cell replace the histograms (the larger children's cells are set below).
    hsOf = passes.map(({ group }, g) =>
      group.map((fi, q) => (fi < 0 ? scratch.dummyHist(0) : scratch.hist('cur', fi, nLeaves * nbsOf[g]![q]! * 2))),
    );
    wasm.accumulate(
      rows.count,
      rows.gathered,
      passes.map(({ group, packed }, g) => ({
        packed,
        bins: group.map((fi) => (fi < 0 ? null : (binsFor(features[fi]!, fold) as Uint8Array))),
        nBins: nbsOf[g]!,
        hists: hsOf[g]!.map((h, q) => (group[q]! < 0 ? null : h)),
      })),
      nLeaves,
    );
  } else {
    if (passes.length !== 1) throw new Error('the TypeScript loops run one pass at a time');
    const { group, packed } = passes[0]!;
    const nbs = nbsOf[0]!;
    const hs = group.map((fi) => {
      if (fi < 0) return scratch.dummyHist(nLeaves * 2);
      const nB = features[fi]!.nBins;
      const h = scratch.hist('cur', fi, nLeaves * nB * 2);
      if (smallOn) {
        for (let p = 0; p < half; p++) {
          const slot = (smallOn[p] ? p | half : p) * nB * 2;
          h.fill(0, slot, slot + nB * 2);
        }
      } else h.fill(0, 0, nLeaves * nB * 2);
      return h;
    });
    hsOf = [hs];
    const bs = group.map((fi) =>
      fi < 0 ? scratch.dummyBins(binsFor(features[group[0]!]!, fold).length) : binsFor(features[fi]!, fold),
    );
    const { leaf, row, stat, count } = rows;
    if (!packed) accumulate4(count, leaf, row, stat, bs, nbs, hs);
    else if (group.length === 8) accumulatePacked8(count, leaf, row, stat, bs, nbs, hs);
    else accumulatePacked4(count, leaf, row, stat, bs, nbs, hs);
  }
  if (smallOn) {
    passes.forEach(({ group }, g) => {
      for (let q = 0; q < group.length; q++) {
        const fi = group[q]!;
        if (fi < 0) continue;
        const hist = hsOf[g]![q]!;
        const prev = scratch.prev[fi]!;
        const w = nbsOf[g]![q]! * 2;
        for (let p = 0; p < half; p++) {
          const small = (smallOn[p] ? p | half : p) * w;
          const big = (smallOn[p] ? p : p | half) * w;
          const par = p * w;
          for (let k = 0; k < w; k++) hist[big + k] = prev[par + k]! - hist[small + k]!;
        }
      }
    });
  }
}

// The accumulation loops are written out per width and packing: they are a training run's hottest code, and one
// loop per case has no per-feature branch or variable shift.

/** Adds rows' statistics into four features' (leaf, bin) histograms in one pass (rows in order: sums are exact). */
function accumulate4(
  count: number,
  gLeaf: Uint32Array,
  gRow: Uint32Array,
  gStat: Float64Array,
  bins: Bins[],
  nBins: number[],
  hists: Float64Array[],
): void {
  const [b0, b1, b2, b3] = bins as [Bins, Bins, Bins, Bins];
  const [n0, n1, n2, n3] = nBins as [number, number, number, number];
  const [h0, h1, h2, h3] = hists as [Float64Array, Float64Array, Float64Array, Float64Array];
  for (let t = 0; t < count; t++) {
    const l = gLeaf[t]!;
    const r = gRow[t]!;
    const g = gStat[2 * t]!;
    const w = gStat[2 * t + 1]!;
    let k = (l * n0 + b0[r]!) << 1;
    h0[k]! += g;
    h0[k + 1]! += w;
    k = (l * n1 + b1[r]!) << 1;
    h1[k]! += g;
    h1[k + 1]! += w;
    k = (l * n2 + b2[r]!) << 1;
    h2[k]! += g;
    h2[k + 1]! += w;
    k = (l * n3 + b3[r]!) << 1;
    h3[k]! += g;
    h3[k + 1]! += w;
  }
}

/** `accumulate4` for four packed features. */
function accumulatePacked4(
  count: number,
  gLeaf: Uint32Array,
  gRow: Uint32Array,
  gStat: Float64Array,
  bins: Bins[],
  nBins: number[],
  hists: Float64Array[],
): void {
  const [b0, b1, b2, b3] = bins as [Bins, Bins, Bins, Bins];
  const [n0, n1, n2, n3] = nBins as [number, number, number, number];
  const [h0, h1, h2, h3] = hists as [Float64Array, Float64Array, Float64Array, Float64Array];
  for (let t = 0; t < count; t++) {
    const l = gLeaf[t]!;
    const r = gRow[t]!;
    const g = gStat[2 * t]!;
    const w = gStat[2 * t + 1]!;
    const at = r >> 1;
    const shift = (r & 1) << 2;
    let k = (l * n0 + ((b0[at]! >> shift) & 15)) << 1;
    h0[k]! += g;
    h0[k + 1]! += w;
    k = (l * n1 + ((b1[at]! >> shift) & 15)) << 1;
    h1[k]! += g;
    h1[k + 1]! += w;
    k = (l * n2 + ((b2[at]! >> shift) & 15)) << 1;
    h2[k]! += g;
    h2[k + 1]! += w;
    k = (l * n3 + ((b3[at]! >> shift) & 15)) << 1;
    h3[k]! += g;
    h3[k + 1]! += w;
  }
}

/** `accumulate4` for eight packed features. */
function accumulatePacked8(
  count: number,
  gLeaf: Uint32Array,
  gRow: Uint32Array,
  gStat: Float64Array,
  bins: Bins[],
  nBins: number[],
  hists: Float64Array[],
): void {
  const [b0, b1, b2, b3, b4, b5, b6, b7] = bins as [Bins, Bins, Bins, Bins, Bins, Bins, Bins, Bins];
  const [n0, n1, n2, n3, n4, n5, n6, n7] = nBins as [number, number, number, number, number, number, number, number];
  const [h0, h1, h2, h3, h4, h5, h6, h7] = hists as [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  for (let t = 0; t < count; t++) {
    const l = gLeaf[t]!;
    const r = gRow[t]!;
    const g = gStat[2 * t]!;
    const w = gStat[2 * t + 1]!;
    const at = r >> 1;
    const shift = (r & 1) << 2;
    let k = (l * n0 + ((b0[at]! >> shift) & 15)) << 1;
    h0[k]! += g;
    h0[k + 1]! += w;
    k = (l * n1 + ((b1[at]! >> shift) & 15)) << 1;
    h1[k]! += g;
    h1[k + 1]! += w;
    k = (l * n2 + ((b2[at]! >> shift) & 15)) << 1;
    h2[k]! += g;
    h2[k + 1]! += w;
    k = (l * n3 + ((b3[at]! >> shift) & 15)) << 1;
    h3[k]! += g;
    h3[k + 1]! += w;
    k = (l * n4 + ((b4[at]! >> shift) & 15)) << 1;
    h4[k]! += g;
    h4[k + 1]! += w;
    k = (l * n5 + ((b5[at]! >> shift) & 15)) << 1;
    h5[k]! += g;
    h5[k + 1]! += w;
    k = (l * n6 + ((b6[at]! >> shift) & 15)) << 1;
    h6[k]! += g;
    h6[k + 1]! += w;
    k = (l * n7 + ((b7[at]! >> shift) & 15)) << 1;
    h7[k]! += g;
    h7[k + 1]! += w;
  }
}

/** Leaf index of every row (all n rows) under a tree's splits, using one permutation's bins. */
export function assignLeaves(
  features: BinFeature[],
  splits: SplitChoice[],
  fold: number,
  n: number,
  out: Uint32Array,
  wasm: WasmLeaves | null = null,
): void {
  // With the kernels, `out` is their `leaf` array; one pass over the rows applies every split (bins wider than a
  // byte stay on the loops below).
  const binsOf = splits.map((s) => binsFor(features[s.feature]!, fold));
  if (wasm && binsOf.every((b) => b instanceof Uint8Array)) {
    wasm.assign(
      splits.map((s, d) => {
        const f = features[s.feature]!;
        return { bins: binsOf[d] as Uint8Array, packed: f.packed === true, onehot: f.kind === 'onehot', bin: s.bin };
      }),
    );
    return;
  }
  out.fill(0, 0, n);
  for (let d = 0; d < splits.length; d++) {
    const s = splits[d]!;
    const f = features[s.feature]!;
    const bins = binsOf[d]!;
    const packed = f.packed === true;
    const bit = 1 << d;
    if (f.kind === 'onehot') {
      for (let i = 0; i < n; i++) if (binAt(bins, packed, i) === s.bin) out[i] = out[i]! | bit;
    } else if (packed) {
      // A byte at a time: row i in the low nibble, row i + 1 in the high one.
      for (let i = 0; i < n; i += 2) {
        const byte = bins[i >> 1]!;
        if ((byte & 15) > s.bin) out[i] = out[i]! | bit;
        if (byte >> 4 > s.bin && i + 1 < n) out[i + 1] = out[i + 1]! | bit;
      }
    } else {
      for (let i = 0; i < n; i++) if (bins[i]! > s.bin) out[i] = out[i]! | bit;
    }
  }
}
