/** Monotone constraints on oblivious trees (CatBoost's `monotone_constraints`) by pooling leaf values. */
import type { ResolvedParams } from '../../schemas/gbdt';
import type { BuiltFeatures } from './features';
import type { SplitChoice } from './tree';

/** For one constrained feature of a tree: its split bits ordered by border (ascending), and the direction. */
export interface MonotoneChain {
  bits: number[];
  direction: 1 | -1;
}

/** The chains of a tree's splits on constrained numeric features; empty when nothing is constrained. */
export function monotoneChains(
  built: BuiltFeatures,
  splits: SplitChoice[],
  constraints: ResolvedParams['monotone_constraints'],
): MonotoneChain[] {
  if (!constraints) return [];
  const byFeature = new Map<string, { bit: number; border: number }[]>();
  splits.forEach((s, depth) => {
    const f = built.binFeatures[s.feature]!;
    if (f.kind !== 'float') return;
    const float = built.floatFeatures[f.ref]!;
    if (!constraints[float.name]) return;
    const list = byFeature.get(float.name) ?? [];
    list.push({ bit: 1 << depth, border: float.borders[s.bin]! });
    byFeature.set(float.name, list);
  });
  return [...byFeature].map(([name, list]) => ({
    bits: list.sort((a, b) => a.border - b.border).map((x) => x.bit),
    direction: constraints[name] as 1 | -1,
  }));
}

/** Weighted pool-adjacent-violators: makes `values[chain]` non-decreasing in place. */
function isotonic(values: Float64Array, weights: Float64Array, chain: number[]): void {
  const blocks: { value: number; weight: number; size: number }[] = [];
  for (const leaf of chain) {
    blocks.push({ value: values[leaf]!, weight: weights[leaf]!, size: 1 });
    while (blocks.length > 1 && blocks[blocks.length - 2]!.value > blocks[blocks.length - 1]!.value) {
      const b = blocks.pop()!;
      const a = blocks[blocks.length - 1]!;
      const w = a.weight + b.weight;
      a.value = w > 0 ? (a.value * a.weight + b.value * b.weight) / w : (a.value + b.value) / 2;
      a.weight = w;
      a.size += b.size;
    }
  }
  let k = 0;
  for (const b of blocks) for (let j = 0; j < b.size; j++) values[chain[k++]!] = b.value;
}

/**
 * Adjusts leaf values so the tree's output moves only in the constrained direction as each constrained feature
 * grows (other splits fixed): along a feature's chain of leaves (no border passed, the lowest, the two lowest, …)
 * values are pooled by weighted isotonic regression, weights = rows per leaf. A sum of such trees is monotone.
 */
export function enforceMonotone(
  delta: Float64Array,
  nLeaves: number,
  leafOf: Uint32Array,
  chains: MonotoneChain[],
): void {
  const weights = new Float64Array(nLeaves);
  for (let i = 0; i < leafOf.length; i++) weights[leafOf[i]!]!++;
  // Pooling for one feature can reopen a violation of another; a few passes settle it.
  for (let pass = 0; pass < 8; pass++) {
    let changed = false;
    for (const { bits, direction } of chains) {
      const mask = bits.reduce((m, b) => m | b, 0);
      for (let rest = 0; rest < nLeaves; rest++) {
        if (rest & mask) continue;
        const chain = [rest];
        for (const b of bits) chain.push(chain[chain.length - 1]! | b);
        const before = chain.map((l) => delta[l]!);
        if (direction === -1) for (const l of chain) delta[l] = -delta[l]!;
        isotonic(delta, weights, chain);
        if (direction === -1) for (const l of chain) delta[l] = -delta[l]!;
        if (chain.some((l, i) => delta[l] !== before[i])) changed = true;
      }
    }
    if (!changed || chains.length === 1) return;
  }
}
