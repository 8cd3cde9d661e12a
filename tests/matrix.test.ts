import { describe, expect, it } from 'vitest';
import { queryColumns, withDuckDb } from '../lib/data/duck';
import { encodeCategorical, readLabelledMatrix, toNumeric } from '../lib/features/matrix';

describe('readLabelledMatrix', () => {
  it('streams a result of several chunks into the same matrix as the whole result encoded at once', async () => {
    // 6,000 rows, 4,500 selected (DuckDB hands out 2,048-row chunks), stored out of row_idx order, with NULLs, an INTEGER and a
    // BIGINT numeric, and categories first seen in different chunks.
    const n = 6000;
    const { read, whole } = await withDuckDb(async (conn) => {
      await conn.run(`CREATE TABLE t AS SELECT
          (i * 7919) % ${n} AS row_idx,
          CASE WHEN i % 13 = 0 THEN NULL ELSE 'v' || ((i * 31) % (i / 100 + 3)) END AS cat,
          'w' || (i % 5) AS other,
          CASE WHEN i % 11 = 0 THEN NULL ELSE i / 7.0 END AS x,
          (i % 17)::INTEGER AS k,
          (i * 3)::BIGINT AS big,
          (i % 3 = 0)::INTEGER AS label,
          (i % 4)::INTEGER AS fold
        FROM range(${n}) r(i)`);
      const spec = { categorical: ['cat', 'other'], numeric: ['x', 'k', 'big'] };
      const read = await readLabelledMatrix(conn, 't', spec, 'fold <> 2');
      const whole = await queryColumns(conn, 'SELECT * FROM t WHERE fold <> 2 ORDER BY row_idx');
      return { read, whole };
    });
    const rows = whole.row_idx!.length;
    expect(read.matrix.rowCount).toBe(rows);
    expect(rows).toBeGreaterThan(2 * 2048);
    for (const name of ['cat', 'other']) {
      const got = read.matrix.categorical.find((c) => c.name === name)!;
      const want = encodeCategorical(name, whole[name]!);
      expect(got.dictionary).toEqual(want.dictionary);
      expect(got.codes).toEqual(want.codes);
    }
    for (const name of ['x', 'k', 'big']) {
      expect(read.matrix.numeric.find((c) => c.name === name)!.values).toEqual(toNumeric(name, whole[name]!).values);
    }
    expect(read.matrix.numeric[0]!.values.some(Number.isNaN)).toBe(true);
    expect(read.labels).toEqual(Uint8Array.from(whole.label as number[]));
    expect(read.folds).toEqual(Int32Array.from(whole.fold as number[]));
    expect(read.rowIdx).toEqual(Float64Array.from(whole.row_idx!, Number));
    expect([...read.rowIdx].every((v, i) => i === 0 || v > read.rowIdx[i - 1]!)).toBe(true);
  });

  it('reads an empty selection as an empty matrix', async () => {
    const read = await withDuckDb(async (conn) => {
      await conn.run("CREATE TABLE t AS SELECT 1 AS row_idx, 'a' AS cat, 0.5 AS x, 1 AS label, 0 AS fold");
      return readLabelledMatrix(conn, 't', { categorical: ['cat'], numeric: ['x'] }, 'false');
    });
    expect(read.matrix.rowCount).toBe(0);
    expect(read.matrix.categorical[0]!.codes.length).toBe(0);
    expect(read.matrix.categorical[0]!.dictionary).toEqual([]);
    expect(read.labels.length).toBe(0);
  });
});
