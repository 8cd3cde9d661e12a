/**
 * Two-sample statistics for drift monitoring, written from the published definitions:
 * - Kolmogorov–Smirnov two-sample statistic and p-value with the conventions of `scipy.stats.ks_2samp`
 *   (two-sided; 'auto' = exact when both samples have ≤ 10,000 values, else asymptotic);
 * - first Wasserstein distance between empirical distributions (`scipy.stats.wasserstein_distance`);
 * - Pearson chi-square goodness of fit (`scipy.stats.chisquare`) with its p-value from the regularized
 *   upper incomplete gamma function;
 * - two-proportion Z-test (pooled variance, two-sided);
 * - Jensen–Shannon distance (`scipy.spatial.distance.jensenshannon`, base configurable);
 * - Population Stability Index over shared bins, with Evidently's empty-bin epsilon.
 *
 * Everything works on typed arrays; inputs are never mutated (sorted copies are made where needed).
 */

// ---------------------------------------------------------------- special functions

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
const EPS = 1e-16;
const TINY = 1e-300;

/** ln Γ(x) for x > 0 (Lanczos approximation, g = 7, about 15 significant digits). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`logGamma: x must be > 0, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x); // reflection
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + LANCZOS_G + 0.5;
  for (let i = 1; i < LANCZOS.length; i++) a += LANCZOS[i]! / (z + i);
  return LOG_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** e^{-x} x^a / Γ(a), the common prefactor of the incomplete-gamma expansions, computed in logs. */
function gammaPrefactor(a: number, x: number): number {
  return Math.exp(a * Math.log(x) - x - logGamma(a));
}

/** P(a, x) by its power series; converges fast for x < a + 1. */
function gammaPSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < 100_000; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPS) break;
  }
  return sum * gammaPrefactor(a, x);
}

/** Q(a, x) by its continued fraction (modified Lentz); converges fast for x ≥ a + 1. */
function gammaQContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  return h * gammaPrefactor(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a), for a > 0, x ≥ 0. */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return Number.NaN;
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaPSeries(a, x) : gammaQContinuedFraction(a, x);
}

/** Survival function of the chi-square distribution: P(X ≥ stat) with `df` degrees of freedom. */
export function chiSquareSf(stat: number, df: number): number {
  if (Number.isNaN(stat)) return Number.NaN;
  if (stat === Infinity) return 0;
  if (stat <= 0) return 1;
  return gammaQ(df / 2, stat / 2);
}

/** Two-sided standard normal tail 2·P(Z ≥ |z|) = erfc(|z|/√2) = Q(1/2, z²/2), accurate in the far tail. */
export function normalTwoSidedP(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  return gammaQ(0.5, (z * z) / 2);
}

// ---------------------------------------------------------------- Kolmogorov–Smirnov

export type KsMode = 'auto' | 'exact' | 'asymp';

export interface KsResult {
  /** sup |F_ref − F_cur|. */
  statistic: number;
  pValue: number;
  /** The distribution the p-value came from. */
  method: 'exact' | 'asymp';
}

/** scipy's 'auto' switch: exact when both samples have at most this many values. */
export const KS_EXACT_MAX_N = 10_000;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Ascending copy without NaNs. */
export function sortedFinite(values: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i]!)) n++;
  const out = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isNaN(v)) out[k++] = v;
  }
  return out.sort();
}

/**
 * max_t |i(t)·n2 − j(t)·n1| over the merged sorted samples, where i(t), j(t) count the values ≤ t.
 * This is n1·n2·D as an exact integer (ties in and across samples are consumed together).
 */
function ksScaledStatistic(a: Float64Array, b: Float64Array): number {
  const n1 = a.length;
  const n2 = b.length;
  let i = 0;
  let j = 0;
  let best = 0;
  while (i < n1 || j < n2) {
    const t = j >= n2 || (i < n1 && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    while (i < n1 && a[i]! <= t) i++;
    while (j < n2 && b[j]! <= t) j++;
    const diff = Math.abs(i * n2 - j * n1);
    if (diff > best) best = diff;
  }
  return best;
}

/**
 * Exact P(D ≥ h/lcm(n1, n2)) under H0 for continuous data: the probability that a uniformly random
 * monotone lattice path from (0, 0) to (n1, n2) touches a point with |i·n2 − j·n1| ≥ h·gcd.
 *
 * The path is walked as an urn without replacement (from (i, j) the next step is in i with probability
 * (n1 − i)/(n1 + n2 − i − j)); only the band of points still inside the boundary carries mass, and
 * the mass leaving the band is summed directly. Every term is a positive product, so tiny p-values
 * keep their relative precision (no 1 − P cancellation). Cost: O(n1 · band width).
 */
export function ksExactPValue(n1: number, n2: number, h: number): number {
  if (h <= 0) return 1;
  const g = gcd(n1, n2);
  const bound = h * g; // exit when |i·n2 − j·n1| ≥ bound
  const total = n1 + n2;
  // Inside points of row i: j with |i·n2 − j·n1| < bound, i.e. lo(i) ≤ j ≤ hi(i).
  const lo = (i: number) => Math.max(0, Math.floor((i * n2 - bound) / n1) + 1);
  const hi = (i: number) => Math.min(n2, Math.ceil((i * n2 + bound) / n1) - 1);
  let cur = new Float64Array(n2 + 2);
  let next = new Float64Array(n2 + 2);
  cur[0] = 1;
  let exit = 0;
  for (let i = 0; i <= n1; i++) {
    const l = lo(i);
    const r = hi(i);
    const nl = i < n1 ? lo(i + 1) : 0;
    const nr = i < n1 ? hi(i + 1) : -1;
    if (i < n1) next.fill(0, Math.max(0, nl), nr + 1);
    for (let j = l; j <= r; j++) {
      const m = cur[j]!;
      if (m === 0) continue;
      const left = total - i - j;
      if (left === 0) continue; // (n1, n2): the end of the path
      const stepI = (n1 - i) / left;
      const stepJ = (n2 - j) / left;
      if (stepJ > 0) {
        if (j + 1 <= r) cur[j + 1] = cur[j + 1]! + m * stepJ;
        else exit += m * stepJ;
      }
      if (stepI > 0) {
        if (j >= nl && j <= nr) next[j] = next[j]! + m * stepI;
        else exit += m * stepI;
      }
    }
    const swap = cur;
    cur = next;
    next = swap;
  }
  return Math.min(1, Math.max(0, exit));
}

/**
 * Survival function of the Kolmogorov distribution (the limit of √n·D_n), 1 − K(x):
 * 2 Σ (−1)^{k−1} e^{−2k²x²} for larger x, 1 − (√(2π)/x) Σ e^{−(2k−1)²π²/(8x²)} for small x.
 */
export function kolmogorovSf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x <= 0) return 1;
  if (x < 1) {
    const w = (Math.PI * Math.PI) / (8 * x * x);
    let s = 0;
    for (let k = 1; k < 100; k++) {
      const term = Math.exp(-(2 * k - 1) * (2 * k - 1) * w);
      s += term;
      if (term < 1e-17 * s) break;
    }
    return 1 - (Math.sqrt(2 * Math.PI) / x) * s;
  }
  let s = 0;
  for (let k = 1; k < 100; k++) {
    const term = Math.exp(-2 * k * k * x * x);
    s += k % 2 === 1 ? term : -term;
    if (term < 1e-17 * Math.abs(s)) break;
  }
  return Math.min(1, Math.max(0, 2 * s));
}

/**
 * Two-sided two-sample KS test (NaNs dropped). `sortedRef` / `sortedCur` may be passed pre-sorted
 * (ascending, no NaNs) via {@link ksTestSorted} to avoid re-sorting a reference used many times.
 *
 * exact: the lattice-path probability above, as scipy's 'exact' (ties are treated as in scipy: the
 * statistic uses the tied ECDFs, the null distribution is the continuous one, so the test is conservative).
 * asymp: the Kolmogorov limit at √(n1·n2/(n1+n2))·D. Note: scipy ≥ 1.5 evaluates its 'asymp' branch
 * with the finite-n one-sample distribution `kstwo.sf(D, round(en))`; the two agree to O(1/√en)
 * (a few % relative around p = 0.05 at en ≈ 1,000) but not to 1e-9 — golden tests cover 'exact' and the limit.
 *
 * @example ksTest(Float64Array.of(1, 2, 3), Float64Array.of(2.5, 4, 5, 6)).pValue
 */
export function ksTest(reference: ArrayLike<number>, current: ArrayLike<number>, mode: KsMode = 'auto'): KsResult {
  return ksTestSorted(sortedFinite(reference), sortedFinite(current), mode);
}

export function ksTestSorted(a: Float64Array, b: Float64Array, mode: KsMode = 'auto'): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('ksTest: both samples need at least one non-missing value');
  const scaled = ksScaledStatistic(a, b);
  const g = gcd(n1, n2);
  const lcm = (n1 / g) * n2;
  const h = scaled / g;
  const statistic = h / lcm;
  let method: 'exact' | 'asymp' = mode === 'asymp' ? 'asymp' : 'exact';
  if (mode === 'auto' && Math.max(n1, n2) > KS_EXACT_MAX_N) method = 'asymp';
  if (method === 'exact' && n1 / g >= 2147483647 / (n2 / g)) method = 'asymp'; // lcm beyond int32, as scipy
  if (method === 'exact') return { statistic, pValue: ksExactPValue(n1, n2, h), method };
  const en = (n1 * n2) / (n1 + n2);
  return { statistic, pValue: kolmogorovSf(Math.sqrt(en) * statistic), method };
}

// ---------------------------------------------------------------- Wasserstein

/** W1 between two empirical distributions given as ascending arrays: ∫ |F_a − F_b| dx. */
export function wassersteinSorted(a: Float64Array, b: Float64Array): number {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new RangeError('wasserstein: both samples need at least one non-missing value');
  let i = 0;
  let j = 0;
  let sum = 0;
  let prev = Math.min(a[0]!, b[0]!);
  while (i < n1 || j < n2) {
    const t = j >= n2 || (i < n1 && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    // On [prev, t) the ECDFs are constant at i/n1 and j/n2.
    sum += Math.abs(i / n1 - j / n2) * (t - prev);
    while (i < n1 && a[i]! <= t) i++;
    while (j < n2 && b[j]! <= t) j++;
    prev = t;
  }
  return sum;
}

/** W1 between two samples (NaNs dropped), as `scipy.stats.wasserstein_distance(u, v)`. */
export function wassersteinDistance(u: ArrayLike<number>, v: ArrayLike<number>): number {
  return wassersteinSorted(sortedFinite(u), sortedFinite(v));
}

/** Population standard deviation (ddof = 0), two-pass. */
export function populationStd(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i]!;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - mean) ** 2;
  return Math.sqrt(ss / n);
}

/** Evidently's normalization floor: W1 is divided by max(std(reference), 0.001). */
export const WASSERSTEIN_STD_FLOOR = 0.001;

/** W1 divided by the reference's population std (floored at 0.001), as Evidently's "Wasserstein distance (normed)". */
export function normalizedWassersteinSorted(ref: Float64Array, cur: Float64Array): number {
  return wassersteinSorted(ref, cur) / Math.max(populationStd(ref), WASSERSTEIN_STD_FLOOR);
}

// ---------------------------------------------------------------- chi-square, Z, JS, PSI

export interface ChiSquareResult {
  statistic: number;
  pValue: number;
  df: number;
}

/**
 * Pearson's goodness of fit Σ (obs − exp)² / exp with k − 1 degrees of freedom (`scipy.stats.chisquare`).
 * A bin with exp = 0 and obs > 0 makes the statistic infinite (p = 0); exp = obs = 0 bins contribute nothing.
 */
export function chiSquareTest(observed: ArrayLike<number>, expected: ArrayLike<number>): ChiSquareResult {
  if (observed.length !== expected.length)
    throw new RangeError('chiSquareTest: observed and expected differ in length');
  let stat = 0;
  for (let i = 0; i < observed.length; i++) {
    const o = observed[i]!;
    const e = expected[i]!;
    const d = o - e;
    if (d === 0) continue;
    stat += (d * d) / e;
  }
  const df = observed.length - 1;
  return { statistic: stat, pValue: df > 0 ? chiSquareSf(stat, df) : Number.NaN, df };
}

/**
 * Evidently's categorical chi-square: expected current counts are the reference counts scaled by
 * n_cur / n_ref, over the union of categories.
 */
export function chiSquareTwoSample(refCounts: ArrayLike<number>, curCounts: ArrayLike<number>): ChiSquareResult {
  let nRef = 0;
  let nCur = 0;
  for (let i = 0; i < refCounts.length; i++) nRef += refCounts[i]!;
  for (let i = 0; i < curCounts.length; i++) nCur += curCounts[i]!;
  const k = nCur / nRef;
  const expected = new Float64Array(refCounts.length);
  for (let i = 0; i < refCounts.length; i++) expected[i] = refCounts[i]! * k;
  return chiSquareTest(curCounts, expected);
}

/** Cochran's rule of thumb: categories whose expected count is below this in either sample are pooled. */
export const MIN_EXPECTED_COUNT = 5;

/**
 * Pearson chi-square test of homogeneity on the 2 × k table [reference counts; current counts]
 * (`scipy.stats.chi2_contingency(table, correction=False)`): expected counts come from the pooled
 * shares, so a category only one sample has is handled (unlike the goodness-of-fit form, which gives
 * p = 0 for any category absent from the reference). With `minExpected` > 0, categories whose expected
 * count is below it in either row are first pooled into one bin (which joins the smallest remaining
 * category if it is itself still too small); fewer than two bins left means no evidence (p = 1).
 */
export function chiSquareHomogeneity(
  refCounts: ArrayLike<number>,
  curCounts: ArrayLike<number>,
  minExpected = 0,
): ChiSquareResult {
  const k = refCounts.length;
  if (curCounts.length !== k) throw new RangeError('chiSquareHomogeneity: count vectors differ in length');
  let nRef = 0;
  let nCur = 0;
  for (let j = 0; j < k; j++) {
    nRef += refCounts[j]!;
    nCur += curCounts[j]!;
  }
  const n = nRef + nCur;
  const ref: number[] = [];
  const cur: number[] = [];
  let poolRef = 0;
  let poolCur = 0;
  let pooled = false;
  for (let j = 0; j < k; j++) {
    const col = refCounts[j]! + curCounts[j]!;
    if (col === 0) continue;
    if (minExpected > 0 && (Math.min(nRef, nCur) * col) / n < minExpected) {
      poolRef += refCounts[j]!;
      poolCur += curCounts[j]!;
      pooled = true;
    } else {
      ref.push(refCounts[j]!);
      cur.push(curCounts[j]!);
    }
  }
  if (pooled) {
    if ((Math.min(nRef, nCur) * (poolRef + poolCur)) / n < minExpected && ref.length > 0) {
      let smallest = 0;
      for (let j = 1; j < ref.length; j++) if (ref[j]! + cur[j]! < ref[smallest]! + cur[smallest]!) smallest = j;
      ref[smallest] = ref[smallest]! + poolRef;
      cur[smallest] = cur[smallest]! + poolCur;
    } else {
      ref.push(poolRef);
      cur.push(poolCur);
    }
  }
  const bins = ref.length;
  if (bins < 2 || nRef === 0 || nCur === 0) return { statistic: 0, pValue: 1, df: Math.max(0, bins - 1) };
  let stat = 0;
  for (let j = 0; j < bins; j++) {
    const col = ref[j]! + cur[j]!;
    const eRef = (nRef * col) / n;
    const eCur = (nCur * col) / n;
    stat += (ref[j]! - eRef) ** 2 / eRef + (cur[j]! - eCur) ** 2 / eCur;
  }
  return { statistic: stat, pValue: chiSquareSf(stat, bins - 1), df: bins - 1 };
}

export interface ZTestResult {
  statistic: number;
  pValue: number;
}

/**
 * Two-proportion Z-test with pooled variance: z = (p_ref − p_cur) / √(P(1−P)(1/n_ref + 1/n_cur)),
 * two-sided p = 2·P(Z ≥ |z|). When both samples hold only one and the same value, p = 1 (z = 0).
 */
export function twoProportionZTest(refSuccess: number, nRef: number, curSuccess: number, nCur: number): ZTestResult {
  const p1 = refSuccess / nRef;
  const p2 = curSuccess / nCur;
  const pooled = (refSuccess + curSuccess) / (nRef + nCur);
  const variance = pooled * (1 - pooled) * (1 / nRef + 1 / nCur);
  if (variance === 0) return { statistic: 0, pValue: 1 };
  const z = (p1 - p2) / Math.sqrt(variance);
  return { statistic: z, pValue: normalTwoSidedP(z) };
}

/**
 * Jensen–Shannon distance √(JSD) between two histograms (each normalized to sum 1 first), with the
 * divergence in log base `base` (Evidently uses base 2, so the distance lies in [0, 1]).
 */
export function jensenShannonDistance(p: ArrayLike<number>, q: ArrayLike<number>, base = 2): number {
  if (p.length !== q.length) throw new RangeError('jensenShannonDistance: histograms differ in length');
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i]!;
    sq += q[i]!;
  }
  let left = 0;
  let right = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]! / sp;
    const b = q[i]! / sq;
    const m = (a + b) / 2;
    if (a > 0) left += a * Math.log(a / m);
    if (b > 0) right += b * Math.log(b / m);
  }
  const js = (left + right) / Math.log(base);
  return Math.sqrt(Math.max(0, js) / 2);
}

/**
 * Evidently's empty-bin fill: zero shares are replaced by min(non-zero share)/10⁶ when that minimum is
 * ≤ 10⁻⁴, else by 10⁻⁴ (shares are not renormalized). Returns a new array.
 */
export function fillEmptyShares(shares: ArrayLike<number>): Float64Array {
  const out = Float64Array.from(shares);
  let min = Infinity;
  for (let i = 0; i < out.length; i++) if (out[i]! !== 0 && out[i]! < min) min = out[i]!;
  if (min === Infinity) return out;
  const fill = min <= 1e-4 ? min / 1e6 : 1e-4;
  for (let i = 0; i < out.length; i++) if (out[i] === 0) out[i] = fill;
  return out;
}

/** PSI = Σ (r − c)·ln(r / c) over bins of reference shares r and current shares c (zeros filled first). */
export function psiFromShares(refShares: ArrayLike<number>, curShares: ArrayLike<number>): number {
  if (refShares.length !== curShares.length) throw new RangeError('psi: share vectors differ in length');
  const r = fillEmptyShares(refShares);
  const c = fillEmptyShares(curShares);
  let s = 0;
  for (let i = 0; i < r.length; i++) s += (r[i]! - c[i]!) * Math.log(r[i]! / c[i]!);
  return s;
}

/** Shares of counts over the given total (Evidently divides by the sample length). */
export function toShares(counts: ArrayLike<number>, total: number): Float64Array {
  const out = new Float64Array(counts.length);
  for (let i = 0; i < counts.length; i++) out[i] = counts[i]! / total;
  return out;
}

export type PsiBand = 'stable' | 'moderate' | 'significant';

/** The usual PSI reading: < 0.1 stable, < 0.25 moderate shift, ≥ 0.25 significant shift. */
export function psiBand(psi: number, bands: readonly [number, number] = [0.1, 0.25]): PsiBand {
  return psi < bands[0] ? 'stable' : psi < bands[1] ? 'moderate' : 'significant';
}

// ---------------------------------------------------------------- binning

/**
 * Equal-width edges over [min, max] of the given sorted samples with Sturges' rule, as
 * `numpy.histogram_bin_edges(concat, bins='sturges')`: width = range / (log₂ n + 1),
 * ⌈range / width⌉ bins, edges = start + i·step with the last edge pinned to the maximum.
 */
export function sturgesEdges(a: Float64Array, b: Float64Array): Float64Array {
  const n = a.length + b.length;
  if (n === 0) throw new RangeError('sturgesEdges: no values');
  const lo = Math.min(a.length ? a[0]! : Infinity, b.length ? b[0]! : Infinity);
  const hi = Math.max(a.length ? a[a.length - 1]! : -Infinity, b.length ? b[b.length - 1]! : -Infinity);
  const ptp = hi - lo;
  const width = ptp / (Math.log2(n) + 1);
  const bins = width ? Math.ceil(ptp / width) : 1;
  return linspace(ptp === 0 ? lo - 0.5 : lo, ptp === 0 ? hi + 0.5 : hi, bins + 1);
}

function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/**
 * Reference-quantile edges (the classic PSI binning): `bins` equal-frequency cut points of the
 * reference (numpy's default linear interpolation), deduplicated, with the outer edges widened to cover
 * both samples.
 */
export function quantileEdges(ref: Float64Array, cur: Float64Array, bins: number): Float64Array {
  const n = ref.length;
  const cuts: number[] = [];
  for (let k = 0; k <= bins; k++) {
    const pos = ((n - 1) * k) / bins;
    const i = Math.floor(pos);
    const t = pos - i;
    const a = ref[i]!;
    const b = ref[Math.min(i + 1, n - 1)]!;
    const diff = b - a;
    cuts.push(t >= 0.5 ? b - diff * (1 - t) : a + diff * t);
  }
  const edges = [...new Set(cuts)].sort((x, y) => x - y);
  if (cur.length) {
    edges[0] = Math.min(edges[0]!, cur[0]!);
    edges[edges.length - 1] = Math.max(edges[edges.length - 1]!, cur[cur.length - 1]!);
  }
  if (edges.length === 1) edges.push(edges[0]! + 1);
  return Float64Array.from(edges);
}

/**
 * Counts of sorted values per bin [e_i, e_{i+1}), the last bin closed (numpy.histogram with explicit
 * edges); values outside [e_0, e_last] are not counted.
 */
export function histogramSorted(sorted: Float64Array, edges: Float64Array): Float64Array {
  const k = edges.length - 1;
  const counts = new Float64Array(k);
  // Index of the first value ≥ x (side 'left') or > x (side 'right') by binary search.
  const search = (x: number, right: boolean): number => {
    let l = 0;
    let r = sorted.length;
    while (l < r) {
      const mid = (l + r) >>> 1;
      if (right ? sorted[mid]! <= x : sorted[mid]! < x) l = mid + 1;
      else r = mid;
    }
    return l;
  };
  let prev = search(edges[0]!, false);
  for (let i = 0; i < k; i++) {
    const at = i === k - 1 ? search(edges[k]!, true) : search(edges[i + 1]!, false);
    counts[i] = at - prev;
    prev = at;
  }
  return counts;
}
