import type { CtrTable } from '../../schemas/gbdt';

/** Whether a table entry with these statistics is kept. */
export type KeepEntry = (positives: number, total: number) => boolean;

/**
 * A CTR table's entries before encoding: entry r's value of feature j is `sources[j][parts[r · width + j]]`.
 * Sources may hold values no entry uses; each source's values are distinct.
 */
export interface TableEntries {
  sources: string[][];
  parts: ArrayLike<number>;
  positives: ArrayLike<number>;
  totals: ArrayLike<number>;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The columnar form a model stores: per feature the values its entries use in code-unit order, each entry's values
 * as positions in those lists, the entries in the order of their value tuples. Numbers in a few arrays hold tens of
 * millions of entries where one string key per entry did not (V8's heap and its 512 MB string limit, at ten million
 * rows).
 */
export function encodeTable(entries: TableEntries): Pick<CtrTable, 'values' | 'keys' | 'positives' | 'totals'> {
  const width = entries.sources.length;
  const n = entries.positives.length;
  const values: string[][] = [];
  const position: Int32Array[] = [];
  for (let j = 0; j < width; j++) {
    const source = entries.sources[j]!;
    const used = new Uint8Array(source.length);
    for (let r = 0; r < n; r++) used[entries.parts[r * width + j]!] = 1;
    const ids: number[] = [];
    for (let v = 0; v < source.length; v++) if (used[v]) ids.push(v);
    ids.sort((a, b) => byCodeUnit(source[a]!, source[b]!));
    const at = new Int32Array(source.length).fill(-1);
    ids.forEach((v, i) => (at[v] = i));
    values.push(ids.map((v) => source[v]!));
    position.push(at);
  }
  const tuple = (r: number, j: number): number => position[j]![entries.parts[r * width + j]!]!;
  const order = Array.from({ length: n }, (_, r) => r);
  let space = 1;
  for (const v of values) space *= Math.max(1, v.length);
  if (space <= Number.MAX_SAFE_INTEGER) {
    // One number per entry that sorts as its tuple (mixed radix): much faster than comparing tuples.
    const rank = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      let x = 0;
      for (let j = 0; j < width; j++) x = x * values[j]!.length + tuple(r, j);
      rank[r] = x;
    }
    order.sort((a, b) => rank[a]! - rank[b]!);
  } else
    order.sort((a, b) => {
      for (let j = 0; j < width; j++) if (tuple(a, j) !== tuple(b, j)) return tuple(a, j) - tuple(b, j);
      return 0;
    });
  const keys: number[] = [];
  const positives: number[] = [];
  const totals: number[] = [];
  for (const r of order) {
    for (let j = 0; j < width; j++) keys.push(tuple(r, j));
    positives.push(entries.positives[r]!);
    totals.push(entries.totals[r]!);
  }
  return { values, keys, positives, totals };
}

/** The entries of `table` that `keep` keeps, encoded again (values no kept entry uses are dropped). */
export function keptEntries(table: CtrTable, keep: KeepEntry): CtrTable {
  const width = table.features.length;
  const parts: number[] = [];
  const positives: number[] = [];
  const totals: number[] = [];
  for (let r = 0; r < table.positives.length; r++) {
    if (!keep(table.positives[r]!, table.totals[r]!)) continue;
    for (let j = 0; j < width; j++) parts.push(table.keys[r * width + j]!);
    positives.push(table.positives[r]!);
    totals.push(table.totals[r]!);
  }
  return { ...table, ...encodeTable({ sources: table.values, parts, positives, totals }) };
}

/** Entry `r`'s values, one per feature of the table. */
export const entryValues = (table: CtrTable, r: number): string[] =>
  table.values.map((values, j) => values[table.keys[r * table.features.length + j]!]!);

/** A table from entries given as (values, one per feature; positives; total), in any order. */
export function tableOfEntries(
  features: string[],
  entries: Iterable<[string[], number, number]>,
  maxCount: number,
): CtrTable {
  const sources = features.map(() => new Map<string, number>());
  const parts: number[] = [];
  const positives: number[] = [];
  const totals: number[] = [];
  for (const [values, p, total] of entries) {
    values.forEach((v, j) => {
      const ids = sources[j]!;
      if (!ids.has(v)) ids.set(v, ids.size);
      parts.push(ids.get(v)!);
    });
    positives.push(p);
    totals.push(total);
  }
  return {
    features,
    ...encodeTable({ sources: sources.map((ids) => [...ids.keys()]), parts, positives, totals }),
    maxCount,
  };
}
