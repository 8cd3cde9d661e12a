import { describe, expect, it } from 'vitest';
import { groupKFold } from '../lib/folds';

describe('groupKFold', () => {
  const sizes = new Map(Array.from({ length: 50 }, (_, i) => [`u${i}`, 1 + ((i * 7) % 13)] as [string, number]));

  it('puts every group in exactly one fold and balances rows', () => {
    const folds = groupKFold(sizes, 5);
    expect(folds.size).toBe(50);
    const rows = [0, 0, 0, 0, 0];
    for (const [g, f] of folds) rows[f]! += sizes.get(g)!;
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    for (const r of rows) expect(Math.abs(r - total / 5)).toBeLessThanOrEqual(13);
  });

  it('depends only on the data, not on map order', () => {
    const reversed = new Map([...sizes.entries()].reverse());
    expect([...groupKFold(reversed, 5).entries()].sort()).toEqual([...groupKFold(sizes, 5).entries()].sort());
  });

  it('refuses fewer groups than folds', () => {
    expect(() => groupKFold(new Map([['a', 1]]), 2)).toThrow(/at least n_splits=2 groups/);
  });
});
