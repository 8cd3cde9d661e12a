/**
 * Quantization of numeric values (raw numeric features and CTR values) to borders.
 * A split on border b sends a value to the "true" side when `value > b`; a value's bin is the number of
 * borders strictly below it, so `bin > k` ⇔ `value > borders[k]`.
 */
import type { ResolvedParams } from '../../schemas/gbdt';

/** Sorted distinct non-NaN values and their counts. */
function distinctCounts(values: ArrayLike<number>): { uniq: Float64Array; counts: Float64Array } {
  let m = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i]!)) m++;
  const sorted = new Float64Array(m);
  m = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isNaN(v)) sorted[m++] = v;
  }
  sorted.sort();
  const uniq = new Float64Array(m);
  const counts = new Float64Array(m);
  let u = -1;
  for (let i = 0; i < m; i++) {
    const v = sorted[i]!;
    if (u < 0 || uniq[u] !== v) {
      u++;
      uniq[u] = v;
    }
    counts[u]!++;
  }
  return { uniq: uniq.slice(0, u + 1), counts: counts.slice(0, u + 1) };
}

const mid = (a: number, b: number): number => a + (b - a) / 2;

/**
 * CatBoost's default border selection: greedily split the bin whose best split most increases
 * Σ log(bin weight), until `maxBorders` borders exist. Borders are midpoints between distinct values.
 */
export function greedyLogSumBorders(values: ArrayLike<number>, maxBorders: number): number[] {
  const { uniq, counts } = distinctCounts(values);
  const u = uniq.length;
  if (u <= 1) return [];
  if (u <= maxBorders + 1) {
    const out: number[] = [];
    for (let i = 0; i + 1 < u; i++) out.push(mid(uniq[i]!, uniq[i + 1]!));
    return out;
  }
  const prefix = new Float64Array(u + 1);
  for (let i = 0; i < u; i++) prefix[i + 1] = prefix[i]! + counts[i]!;
  // Best split of distinct-index range [lo, hi): position s in (lo, hi), left = [lo, s).
  const best = (lo: number, hi: number): { s: number; gain: number } => {
    if (hi - lo < 2) return { s: -1, gain: -Infinity };
    const total = prefix[hi]! - prefix[lo]!;
    const half = prefix[lo]! + total / 2;
    let a = lo + 1;
    let b = hi - 1;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (prefix[m]! < half) a = m + 1;
      else b = m;
    }
    let bestS = -1;
    let bestGain = -Infinity;
    for (const s of [a - 1, a]) {
      if (s <= lo || s >= hi) continue;
      const wl = prefix[s]! - prefix[lo]!;
      const wr = prefix[hi]! - prefix[s]!;
      const gain = Math.log(wl) + Math.log(wr) - Math.log(total);
      if (gain > bestGain) {
        bestGain = gain;
        bestS = s;
      }
    }
    return { s: bestS, gain: bestGain };
  };
  // Max-heap of candidate ranges by gain (ties: lower lo first, for determinism).
  type Range = { lo: number; hi: number; s: number; gain: number };
  const heap: Range[] = [];
  const better = (x: Range, y: Range) => x.gain > y.gain || (x.gain === y.gain && x.lo < y.lo);
  const push = (r: Range) => {
    heap.push(r);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const pop = (): Range => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && better(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && better(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  const addRange = (lo: number, hi: number) => {
    const b = best(lo, hi);
    if (b.s > 0) push({ lo, hi, ...b });
  };
  addRange(0, u);
  const cuts: number[] = [];
  while (cuts.length < maxBorders && heap.length > 0) {
    const r = pop();
    cuts.push(r.s);
    addRange(r.lo, r.s);
    addRange(r.s, r.hi);
  }
  cuts.sort((x, y) => x - y);
  return cuts.map((s) => mid(uniq[s - 1]!, uniq[s]!));
}

/** Borders at (weighted) quantiles: CatBoost's 'Median'. */
export function medianBorders(values: ArrayLike<number>, maxBorders: number): number[] {
  const { uniq, counts } = distinctCounts(values);
  const u = uniq.length;
  if (u <= 1) return [];
  if (u <= maxBorders + 1) return Array.from({ length: u - 1 }, (_, i) => mid(uniq[i]!, uniq[i + 1]!));
  let total = 0;
  for (let i = 0; i < u; i++) total += counts[i]!;
  const out: number[] = [];
  let acc = 0;
  let k = 1;
  for (let i = 0; i + 1 < u && k <= maxBorders; i++) {
    acc += counts[i]!;
    if (acc >= (k * total) / (maxBorders + 1)) {
      out.push(mid(uniq[i]!, uniq[i + 1]!));
      while (k <= maxBorders && acc >= (k * total) / (maxBorders + 1)) k++;
    }
  }
  return out;
}

/** Equal-width borders between the smallest and largest value. */
export function uniformBorders(values: ArrayLike<number>, maxBorders: number): number[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) return [];
  const out: number[] = [];
  for (let k = 1; k <= maxBorders; k++) {
    const b = lo + ((hi - lo) * k) / (maxBorders + 1);
    if (out.length === 0 || b > out[out.length - 1]!) out.push(b);
  }
  return out;
}

/** Borders for a numeric training column, with the NaN-separating border first ('Min') or last ('Max'). */
export function numericBorders(
  values: Float64Array,
  params: Pick<ResolvedParams, 'border_count' | 'feature_border_type' | 'nan_mode'>,
): number[] {
  const fn =
    params.feature_border_type === 'Median'
      ? medianBorders
      : params.feature_border_type === 'Uniform'
        ? uniformBorders
        : greedyLogSumBorders;
  let hasNaN = false;
  let hasValue = false;
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i]!)) hasNaN = true;
    else hasValue = true;
  }
  const borders = hasValue ? fn(values, params.border_count) : [];
  return hasNaN && hasValue ? addNanBorder(borders, params.nan_mode) : borders;
}

function addNanBorder(borders: number[], nanMode: 'Min' | 'Max'): number[] {
  return nanMode === 'Min' ? [-Number.MAX_VALUE, ...borders] : [...borders, Number.MAX_VALUE];
}

/** Borders given by hand (sorted), plus the NaN-separating border when the column has missing values. */
export function withNanBorder(borders: number[], values: Float64Array, nanMode: 'Min' | 'Max'): number[] {
  return values.some(Number.isNaN) ? addNanBorder(borders, nanMode) : borders;
}

/** The value a missing numeric counts as under a NaN mode. */
export const nanValue = (nanMode: 'Min' | 'Max'): number => (nanMode === 'Min' ? -Infinity : Infinity);

/** Number of borders strictly below v (binary search). */
export function binOf(v: number, borders: Float64Array): number {
  let a = 0;
  let b = borders.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    if (borders[m]! < v) a = m + 1;
    else b = m;
  }
  return a;
}

/** A bin array for `n` rows: bytes when there are ≤ 255 borders, else 16-bit. */
export const binArray = (n: number, borderCount: number): Uint8Array | Uint16Array =>
  borderCount <= 255 ? new Uint8Array(n) : new Uint16Array(n);

/**
 * The bin of a value under one border list: the number of borders strictly below it (`binOf`), NaN taken as the NaN
 * mode's value. Near-uniform borders (CTRs) get an arithmetic first guess that is then corrected exactly.
 */
export class BinFinder {
  private readonly b: Float64Array;
  private readonly lo: number;
  private readonly step: number;
  private readonly uniform: boolean;
  private readonly nanV: number;

  constructor(borders: number[], nanMode: 'Min' | 'Max' = 'Min') {
    const b = Float64Array.from(borders);
    const nb = b.length;
    this.b = b;
    this.nanV = nanValue(nanMode);
    this.lo = nb > 0 ? b[0]! : 0;
    this.step = nb >= 2 ? (b[nb - 1]! - this.lo) / (nb - 1) : 0;
    let uniform = this.step > 0;
    for (let k = 1; uniform && k < nb; k++)
      if (Math.abs(b[k]! - (this.lo + this.step * k)) > this.step * 1e-6) uniform = false;
    this.uniform = uniform;
  }

  bin(value: number): number {
    const v = Number.isNaN(value) ? this.nanV : value;
    const b = this.b;
    if (!this.uniform) return binOf(v, b);
    const nb = b.length;
    let g = Math.ceil((v - this.lo) / this.step);
    g = g < 0 ? 0 : g > nb ? nb : g;
    while (g < nb && b[g]! < v) g++;
    while (g > 0 && !(b[g - 1]! < v)) g--;
    return g;
  }
}

/** Bins of a column (bytes when there are ≤ 255 borders); NaN is replaced by the NaN mode's value first. */
export function binarize(
  values: ArrayLike<number>,
  borders: number[],
  nanMode: 'Min' | 'Max' = 'Min',
): Uint8Array | Uint16Array {
  const finder = new BinFinder(borders, nanMode);
  const out = binArray(values.length, borders.length);
  for (let i = 0; i < values.length; i++) out[i] = finder.bin(values[i]!);
  return out;
}
