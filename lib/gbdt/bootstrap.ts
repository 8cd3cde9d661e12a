/** Per-iteration row weights: Bayesian bootstrap, Bernoulli, MVS, or none. */
import type { Rng } from '../rng';
import type { ResolvedParams } from '../../schemas/gbdt';

const MVS_SAMPLE = 8192;

/**
 * Fills `weights` (length n) for one iteration; a weight of 0 leaves the row out of this tree.
 * - Bayesian: w = (−ln U)^bagging_temperature (all rows, T = 0 ⇒ all 1).
 * - Bernoulli: w = 1 with probability subsample, else 0.
 * - MVS (minimal variance sampling): row i kept with p_i = min(1, r_i / τ), r_i = sqrt(g_i² + mean g²), τ set so
 *   that Σ p_i ≈ subsample · n (estimated on a sample of 8192 rows), kept rows weighted 1 / p_i.
 * - No: all 1.
 */
export function drawWeights(
  params: Pick<ResolvedParams, 'bootstrap_type' | 'bagging_temperature' | 'subsample'>,
  grad: Float64Array,
  rng: Rng,
  weights: Float64Array,
): void {
  const n = weights.length;
  switch (params.bootstrap_type) {
    case 'No':
      weights.fill(1);
      return;
    case 'Bayesian': {
      const t = params.bagging_temperature;
      if (t === 0) {
        weights.fill(1);
        return;
      }
      for (let i = 0; i < n; i++) {
        const e = rng.exponential();
        weights[i] = t === 1 ? e : Math.pow(e, t);
      }
      return;
    }
    case 'Bernoulli': {
      const s = params.subsample;
      for (let i = 0; i < n; i++) weights[i] = rng.next() < s ? 1 : 0;
      return;
    }
    case 'MVS': {
      const s = params.subsample;
      if (s >= 1) {
        weights.fill(1);
        return;
      }
      let mu = 0;
      for (let i = 0; i < n; i++) mu += grad[i]! * grad[i]!;
      mu /= Math.max(1, n);
      const m = Math.min(n, MVS_SAMPLE);
      const sample = new Float64Array(m);
      for (let k = 0; k < m; k++) {
        const i = m === n ? k : rng.int(n);
        sample[k] = Math.sqrt(grad[i]! * grad[i]! + mu);
      }
      sample.sort();
      sample.reverse();
      const target = s * m;
      let tail = 0;
      for (let k = 0; k < m; k++) tail += sample[k]!;
      let tau = 0;
      for (let k = 0; k < m && k < target; k++) {
        const t = tail / (target - k);
        if (sample[k]! <= t) {
          tau = t;
          break;
        }
        tail -= sample[k]!;
      }
      if (!(tau > 0)) {
        weights.fill(1);
        return;
      }
      for (let i = 0; i < n; i++) {
        const r = Math.sqrt(grad[i]! * grad[i]! + mu);
        const p = r >= tau ? 1 : r / tau;
        weights[i] = rng.next() < p ? 1 / p : 0;
      }
      return;
    }
  }
}
