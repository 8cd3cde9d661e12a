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
