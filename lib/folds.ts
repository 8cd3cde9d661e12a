import { Rng } from './rng';

/**
 * Deterministic GroupKFold (as scikit-learn's): groups sorted by size, largest first, each put in the
 * fold that currently has the fewest rows. Ties break on group id and then on the lowest fold index,
 * so the assignment depends only on the data.
 */
export function groupKFold(groupSizes: Map<string, number>, nSplits: number): Map<string, number> {
  if (groupSizes.size < nSplits) {
    throw new Error(`GroupKFold needs at least n_splits=${nSplits} groups, found ${groupSizes.size}`);
  }
  const groups = [...groupSizes.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const foldRows = new Array<number>(nSplits).fill(0);
  const assignment = new Map<string, number>();
  for (const [group, size] of groups) {
    let best = 0;
    for (let f = 1; f < nSplits; f++) if (foldRows[f]! < foldRows[best]!) best = f;
    foldRows[best]! += size;
    assignment.set(group, best);
  }
  return assignment;
}

/**
 * Seeded stratified KFold for rows without a group key: each class's rows are shuffled (Fisher–Yates on `Rng`)
 * and dealt round-robin over the folds, continuing from class to class, so fold sizes differ by at most one and
 * every fold has each class's share. Depends only on the labels and the seed.
 */
export function stratifiedKFold(labels: ArrayLike<number>, nSplits: number, seed: number): Int32Array {
  if (labels.length < nSplits) throw new Error(`KFold needs at least n_splits=${nSplits} rows, found ${labels.length}`);
  const rng = new Rng(seed);
  const folds = new Int32Array(labels.length);
  let next = 0;
  for (const cls of [0, 1]) {
    const rows: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === cls) rows.push(i);
    for (let i = rows.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [rows[i], rows[j]] = [rows[j]!, rows[i]!];
    }
    for (const row of rows) folds[row] = next++ % nSplits;
  }
  return folds;
}
