import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  MerkleAccumulator,
  rootHash,
  verifyConsistency,
  verifyInclusion,
} from '../../lib/governance/merkle';

const hex = (b: Buffer) => b.toString('hex');
const unhex = (s: string) => Buffer.from(s, 'hex');

// The Certificate Transparency reference leaves and the published root of every prefix (RFC 6962 test data).
const REFERENCE_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map((data) => leafHash(unhex(data)));
const REFERENCE_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

const leavesOf = (n: number, salt = 0) => Array.from({ length: n }, (_, i) => leafHash(`entry ${i} ${salt}`));

describe('Merkle tree (RFC 9162)', () => {
  it('gives the published root of every prefix of the reference leaves, directly and incrementally', () => {
    const acc = new MerkleAccumulator();
    expect(hex(EMPTY_ROOT)).toBe(REFERENCE_ROOTS[0]);
    expect(hex(acc.root())).toBe(REFERENCE_ROOTS[0]);
    for (let n = 1; n <= REFERENCE_LEAVES.length; n++) {
      acc.append(REFERENCE_LEAVES[n - 1]!);
      expect(hex(rootHash(REFERENCE_LEAVES, n)), `size ${n}`).toBe(REFERENCE_ROOTS[n]);
      expect(hex(acc.root()), `size ${n}`).toBe(REFERENCE_ROOTS[n]);
    }
  });

  it('gives the published inclusion proofs of the reference tree', () => {
    expect(inclusionProof(REFERENCE_LEAVES, 0).map(hex)).toEqual([
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ]);
    expect(inclusionProof(REFERENCE_LEAVES, 5).map(hex)).toEqual([
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ]);
  });

  it('the incremental root equals the recursive one at every size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), (n) => {
        const leaves = leavesOf(n);
        const acc = new MerkleAccumulator();
        for (const leaf of leaves) acc.append(leaf);
        return acc.size === n && acc.root().equals(rootHash(leaves));
      }),
    );
  });

  it('every inclusion proof verifies, and fails for another leaf, index, size or root', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }).chain((size) => fc.tuple(fc.constant(size), fc.nat(size - 1))),
        ([size, index]) => {
          const leaves = leavesOf(size);
          const root = rootHash(leaves);
          const proof = inclusionProof(leaves, index);
          expect(verifyInclusion(leaves[index]!, index, size, proof, root)).toBe(true);
          expect(verifyInclusion(leafHash('forged'), index, size, proof, root)).toBe(false);
          expect(verifyInclusion(leaves[index]!, index, size, proof, rootHash(leavesOf(size, 1)))).toBe(false);
          expect(verifyInclusion(leaves[index]!, size, size, proof, root)).toBe(false);
          if (size > 1) {
            const other = (index + 1) % size;
            expect(verifyInclusion(leaves[other]!, index, size, proof, root)).toBe(false);
            expect(verifyInclusion(leaves[index]!, other, size, proof, root)).toBe(false);
          }
        },
      ),
    );
  });

  it('every consistency proof verifies, and fails when any leaf of the older tree changed', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 200 })
          .chain((second) =>
            fc
              .tuple(fc.integer({ min: 1, max: second }), fc.constant(second))
              .chain(([first, s]) => fc.tuple(fc.constant(first), fc.constant(s), fc.nat(first - 1))),
          ),
        ([first, second, changed]) => {
          const leaves = leavesOf(second);
          const proof = consistencyProof(leaves, first, second);
          const firstRoot = rootHash(leaves, first);
          const secondRoot = rootHash(leaves, second);
          expect(verifyConsistency(first, second, proof, firstRoot, secondRoot)).toBe(true);
          // A log rewritten below the older checkpoint: its new root cannot be shown to extend the old one.
          const rewritten = [...leaves];
          rewritten[changed] = leafHash('rewritten');
          const rewrittenRoot = rootHash(rewritten, second);
          const rewrittenProof = first === second ? [] : consistencyProof(rewritten, first, second);
          expect(verifyConsistency(first, second, rewrittenProof, firstRoot, rewrittenRoot)).toBe(false);
          if (first < second) expect(verifyConsistency(first, second, proof, firstRoot, rewrittenRoot)).toBe(false);
        },
      ),
    );
  });

  it('refuses proofs it cannot make', () => {
    const leaves = leavesOf(4);
    expect(() => inclusionProof(leaves, 4)).toThrow(RangeError);
    expect(() => consistencyProof(leaves, 0)).toThrow(RangeError);
    expect(() => consistencyProof(leaves, 3, 5)).toThrow(RangeError);
    expect(() => rootHash(leaves, 5)).toThrow(RangeError);
  });
});
