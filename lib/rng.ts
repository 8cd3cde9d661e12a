/**
 * Seeded pseudo-random numbers (SplitMix32-style mixing over a 32-bit counter state).
 * Every stochastic step in access-perm (data generation, fold shuffles, permutations, bagging)
 * draws from one of these so that the same seed reproduces the same bytes.
 */
export class Rng {
  /**
   * The counter as int32 bits: a uint32 above 2^31 is no small integer to V8, so every update of it allocated a heap
   * number (a fit draws millions of numbers per tree); the bits, and so every draw, are the same.
   */
  private state: number;

  constructor(seed: number) {
    this.state = Math.floor(seed) ^ 0x9e3779b9;
  }

  /** The next 32 random bits, as int32. */
  private bits(): number {
    const s = (this.state + 0x9e3779b9) | 0;
    this.state = s;
    let z = Math.imul(s ^ (s >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return z ^ (z >>> 16);
  }

  /** Next uint32. */
  nextUint32(): number {
    return this.bits() >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.bits() >>> 5;
    const lo = this.bits() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Exponential(1), used by Bayesian bootstrap weights. */
  exponential(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return -Math.log(u);
  }

  /** A new generator whose stream is independent of this one's, derived from a label. */
  fork(label: number): Rng {
    return new Rng((this.nextUint32() ^ Math.imul(label + 1, 0x27d4eb2d)) >>> 0);
  }

  /** Shuffles the first `length` elements in place (Fisher–Yates). */
  shuffle<T extends { [index: number]: number; length: number }>(values: T, length = values.length): T {
    for (let i = length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = values[i]!;
      values[i] = values[j]!;
      values[j] = t;
    }
    return values;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /**
   * A random permutation of 0..n-1 that moves blocks of `block` consecutive values (the last one shorter) and keeps
   * each block's values in order; with `block` 1 it is `permutation(n)`, draw for draw.
   */
  blockPermutation(n: number, block: number): Uint32Array {
    if (block <= 1) return this.permutation(n);
    const order = this.permutation(Math.ceil(n / block));
    const p = new Uint32Array(n);
    let t = 0;
    for (const b of order) for (let i = b * block, end = Math.min(n, i + block); i < end; i++) p[t++] = i;
    return p;
  }
}
