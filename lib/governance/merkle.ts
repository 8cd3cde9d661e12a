/**
 * Merkle tree hashing, inclusion and consistency proofs as RFC 9162 (Certificate Transparency 2.0) §2.1 defines
 * them: the audit log's entries are the leaves, in order. A verifier holding a signed checkpoint (tree size and root
 * hash) can check that an entry is in the log (inclusion) and that a later log only grew from it (consistency),
 * from the proof and the two roots alone.
 */
import { createHash } from 'node:crypto';

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const LEAF = Buffer.from([0x00]);
const NODE = Buffer.from([0x01]);

/** The hash of a leaf: SHA-256(0x00 || data). */
export const leafHash = (data: Uint8Array | string): Buffer => sha256(LEAF, Buffer.from(data));
/** The hash of an interior node: SHA-256(0x01 || left || right). */
export const nodeHash = (left: Uint8Array, right: Uint8Array): Buffer => sha256(NODE, left, right);
/** The hash of the empty tree. */
export const EMPTY_ROOT = sha256();

/** The largest power of two smaller than n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH of leaves[lo, hi): the Merkle tree hash of that range of leaf hashes. */
function mth(leaves: readonly Buffer[], lo: number, hi: number): Buffer {
  const n = hi - lo;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[lo]!;
  const k = split(n);
  return nodeHash(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

/** The root hash of a tree of the first `size` leaves (all of them by default). */
export function rootHash(leaves: readonly Buffer[], size = leaves.length): Buffer {
  if (size > leaves.length) throw new RangeError(`a tree of ${size} leaves needs ${size} leaves, got ${leaves.length}`);
  return mth(leaves, 0, size);
}

function path(m: number, leaves: readonly Buffer[], lo: number, hi: number): Buffer[] {
  const n = hi - lo;
  if (n <= 1) return [];
  const k = split(n);
  return m < k
    ? [...path(m, leaves, lo, lo + k), mth(leaves, lo + k, hi)]
    : [...path(m - k, leaves, lo + k, hi), mth(leaves, lo, lo + k)];
}

/** The inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 9162 §2.1.3.1). */
export function inclusionProof(leaves: readonly Buffer[], index: number, size = leaves.length): Buffer[] {
  if (!(index >= 0 && index < size && size <= leaves.length))
    throw new RangeError(`no leaf ${index} in a tree of ${size}`);
  return path(index, leaves, 0, size);
}

/** Checks an inclusion proof of `leaf` at `index` against the root of a tree of `size` leaves (RFC 9162 §2.1.3.2). */
export function verifyInclusion(
  leaf: Buffer,
  index: number,
  size: number,
  proof: readonly Buffer[],
  root: Buffer,
): boolean {
  if (index >= size || index < 0) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

function subproof(m: number, leaves: readonly Buffer[], lo: number, hi: number, complete: boolean): Buffer[] {
  const n = hi - lo;
  if (m === n) return complete ? [] : [mth(leaves, lo, hi)];
  const k = split(n);
  return m <= k
    ? [...subproof(m, leaves, lo, lo + k, complete), mth(leaves, lo + k, hi)]
    : [...subproof(m - k, leaves, lo + k, hi, false), mth(leaves, lo, lo + k)];
}

/** The consistency proof between the trees of the first `first` and `second` leaves (RFC 9162 §2.1.4.1). */
export function consistencyProof(leaves: readonly Buffer[], first: number, second = leaves.length): Buffer[] {
  if (!(first > 0 && first <= second && second <= leaves.length))
    throw new RangeError(`no consistency proof from ${first} to ${second} leaves`);
  return first === second ? [] : subproof(first, leaves, 0, second, true);
}

/**
 * Checks that the tree of `second` leaves with root `secondRoot` extends the tree of `first` leaves with root
 * `firstRoot`: nothing in the first tree was changed, removed or reordered (RFC 9162 §2.1.4.2).
 */
export function verifyConsistency(
  first: number,
  second: number,
  proof: readonly Buffer[],
  firstRoot: Buffer,
  secondRoot: Buffer,
): boolean {
  if (first > second || first <= 0) return false;
  if (first === second) return proof.length === 0 && firstRoot.equals(secondRoot);
  if (proof.length === 0) return false;
  const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return fr.equals(firstRoot) && sr.equals(secondRoot) && sn === 0;
}

/**
 * The root of a growing log without keeping its leaves: the roots of the perfect subtrees the leaves so far form
 * (one per set bit of the size, largest first). Appending is O(log n) amortised and so is reading the root, so a
 * verifier can check every checkpoint of a long log in one pass.
 */
export class MerkleAccumulator {
  #size = 0;
  readonly #peaks: Buffer[] = [];

  get size(): number {
    return this.#size;
  }

  append(leaf: Buffer): void {
    let hash = leaf;
    // Each trailing one bit of the old size is a perfect subtree the new leaf completes.
    for (let n = this.#size; n % 2 === 1; n = Math.floor(n / 2)) hash = nodeHash(this.#peaks.pop()!, hash);
    this.#peaks.push(hash);
    this.#size += 1;
  }

  /** The RFC 9162 root of the leaves appended so far. */
  root(): Buffer {
    if (this.#peaks.length === 0) return EMPTY_ROOT;
    let hash = this.#peaks[this.#peaks.length - 1]!;
    for (let i = this.#peaks.length - 2; i >= 0; i--) hash = nodeHash(this.#peaks[i]!, hash);
    return hash;
  }
}
