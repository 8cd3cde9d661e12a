import { describe, expect, it } from 'vitest';
import {
  featureImportance,
  GbdtDataError,
  leafCover,
  meanAbsShap,
  predictRaw,
  resolveParams,
  shapRow,
  shapValues,
  storedLeafWeights,
  topContributions,
  trainGbdt,
  tableOfEntries,
} from '../lib/gbdt';
import type { GbdtModel } from '../lib/gbdt';
import { prepareMatrix, preparedChunks, treeLeaves } from '../lib/gbdt/apply';
import { Rng } from '../lib/rng';
import type { FeatureMatrix } from '../schemas/matrix';

/**
 * x dominates (±2.5); app has per-level effects; dept × office interact (so combinations pay); `noise` is noise;
 * `constant` never varies, so no split can use it.
 */
function synthetic(n: number, seed: number) {
  const rng = new Rng(seed);
  const fx = new Rng(99);
  const appEff = Float64Array.from({ length: 40 }, () => fx.normal());
  const pairEff = Float64Array.from({ length: 6 * 5 }, () => fx.normal() * 1.2);
  const app = new Int32Array(n);
  const dept = new Int32Array(n);
  const office = new Int32Array(n);
  const x = new Float64Array(n);
  const noise = new Float64Array(n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    app[i] = rng.int(40);
    dept[i] = rng.int(6);
    office[i] = rng.int(5);
    x[i] = rng.next() < 0.05 ? NaN : rng.normal();
    noise[i] = rng.normal();
    const z = (x[i]! > 0 ? 2.5 : -2.5) + 0.8 * appEff[app[i]!]! + pairEff[dept[i]! * 5 + office[i]!]!;
    labels[i] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  const dict = (p: string, k: number) => Array.from({ length: k }, (_, i) => `${p}${i}`);
  const matrix: FeatureMatrix = {
    rowCount: n,
    categorical: [
      { name: 'app', codes: app, dictionary: dict('a', 40) },
      { name: 'dept', codes: dept, dictionary: dict('d', 6) },
      { name: 'office', codes: office, dictionary: dict('o', 5) },
    ],
    numeric: [
      { name: 'x', values: x },
      { name: 'noise', values: noise },
      { name: 'constant', values: new Float64Array(n).fill(1) },
    ],
  };
  return { matrix, labels };
}

/** Rows to explain: fresh draws plus an unseen app value and a NaN x. */
function scoringRows(n: number): FeatureMatrix {
  const m = synthetic(n, 4242).matrix;
  const app = m.categorical[0]!;
  app.dictionary = [...app.dictionary, 'never-seen'];
  app.codes[0] = app.dictionary.length - 1;
  m.numeric[0]!.values[1] = NaN;
  return m;
}

/** Input columns each level of each tree reads, derived independently of lib/gbdt/explain. */
function levelColumns(model: GbdtModel): number[][][] {
  const idx = (name: string) => model.features.findIndex((f) => f.name === name);
  return model.trees.map((t) =>
    t.splits.map((s) =>
      s.type === 'float'
        ? [idx(model.floatFeatures[s.feature]!.name)]
        : s.type === 'onehot'
          ? [idx(model.oneHotFeatures[s.feature]!.name)]
          : model.ctrTables[model.ctrs[s.ctr]!.table]!.features.map(idx),
    ),
  );
}

/**
 * Brute-force Shapley values over all 2^F coalitions of the model's input columns, with the value function
 * v(S) = bias + Σ_t (cover-weighted mean of the leaves agreeing with the row's leaf on every level whose columns
 * all lie in S; plain mean when those leaves have no weight).
 */
function bruteForceShap(model: GbdtModel, matrix: FeatureMatrix, cover: Float64Array[]) {
  const F = model.features.length;
  const cols = levelColumns(model);
  const prepared = prepareMatrix(model, matrix);
  const leafOf = model.trees.map((t) => {
    const out = new Uint32Array(matrix.rowCount);
    treeLeaves(t, prepared, out);
    return out;
  });
  const fact = (k: number): number => (k <= 1 ? 1 : k * fact(k - 1));
  const popcount = (s: number) => s.toString(2).replace(/0/g, '').length;
  const rows: number[][] = [];
  for (let i = 0; i < matrix.rowCount; i++) {
    const v = new Float64Array(1 << F);
    for (let S = 0; S < 1 << F; S++) {
      let total = model.bias;
      model.trees.forEach((tree, t) => {
        const L = leafOf[t]![i]!;
        const known = cols[t]!.map((c) => c.every((j) => (S >> j) & 1));
        let num = 0;
        let den = 0;
        let sum = 0;
        let cnt = 0;
        tree.leafValues.forEach((val, l) => {
          if (known.some((kn, d) => kn && ((l >> d) & 1) !== ((L >> d) & 1))) return;
          num += cover[t]![l]! * val;
          den += cover[t]![l]!;
          sum += val;
          cnt++;
        });
        total += den > 0 ? num / den : sum / cnt;
      });
      v[S] = total;
    }
    const phi: number[] = [];
    for (let j = 0; j < F; j++) {
      let p = 0;
      for (let S = 0; S < 1 << F; S++) {
        if ((S >> j) & 1) continue;
        const s = popcount(S);
        p += ((fact(s) * fact(F - s - 1)) / fact(F)) * (v[S | (1 << j)]! - v[S]!);
      }
      phi.push(p);
    }
    rows.push(phi);
  }
  return rows;
}

function expectAdditive(model: GbdtModel, matrix: FeatureMatrix, shap: ReturnType<typeof shapValues>) {
  const raw = predictRaw(model, matrix);
  let worst = 0;
  shap.values.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, shap.expectedValue);
    worst = Math.max(worst, Math.abs(total - raw[i]!));
  });
  expect(worst).toBeLessThan(1e-9);
}

function expectClose(actual: ArrayLike<number>[], expected: number[][], tol: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  expected.forEach((row, i) => row.forEach((e, j) => (worst = Math.max(worst, Math.abs(actual[i]![j]! - e)))));
  expect(worst).toBeLessThan(tol);
}

/** A model built by hand; `params` are defaults (never used for scoring). */
function handModel(parts: Pick<GbdtModel, 'features' | 'floatFeatures' | 'ctrTables' | 'ctrs' | 'trees'>): GbdtModel {
  return {
    format: 'access-perm-gbdt',
    formatVersion: 2,
    lossFunction: 'Logloss',
    oneHotFeatures: [],
    bias: 0.25,
    bestIteration: null,
    iterationsRun: parts.trees.length,
    bestEvalMetric: null,
    params: resolveParams({}, 100),
    ...parts,
  };
}

const train = synthetic(3000, 1);
const model = trainGbdt(train.matrix, train.labels, {
  iterations: 60,
  depth: 6,
  learning_rate: 0.2,
  max_ctr_complexity: 2,
  random_seed: 3,
});
const cover = leafCover(model, train.matrix);
const equalCounts = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.from(a).every((x, i) => x === b[i]);
const rows = scoringRows(300);

describe('explain: trained model with combinations', () => {
  it('uses combinations and never the constant column', () => {
    expect(model.ctrTables.some((t) => t.features.length === 2)).toBe(true);
    expect(model.floatFeatures.some((f) => f.name === 'constant' && f.borders.length > 0)).toBe(false);
  });

  it('a matrix prepared in chunks (sharing CTR values and dictionary ids) equals it prepared whole', () => {
    const whole = prepareMatrix(model, rows);
    const chunks = [...preparedChunks(model, rows, 37)];
    expect(chunks.map((c) => c.from)).toEqual(Array.from({ length: Math.ceil(300 / 37) }, (_, k) => k * 37));
    for (const { from, prepared } of chunks) {
      const to = from + prepared.rowCount;
      expect(prepared.ctr.length).toBe(model.ctrs.length);
      prepared.ctr.forEach((col, ci) => expect(col).toEqual(whole.ctr[ci]!.subarray(from, to)));
      prepared.float.forEach((col, fi) => expect(col).toEqual(whole.float[fi]!.subarray(from, to)));
      prepared.oneHot.forEach((col, oi) => expect(col).toEqual(whole.oneHot[oi]!.subarray(from, to)));
    }
  });

  it('SHAP is additive: Σ values + expectedValue = predictRaw (1e-9), incl. unseen values and NaN', () => {
    const shap = shapValues(model, rows, { leafWeights: cover });
    expect(shap.features).toEqual(model.features.map((f) => f.name));
    expect(shap.values).toHaveLength(rows.rowCount);
    expectAdditive(model, rows, shap);
    // the explicit background gives the same numbers as precomputed cover
    const again = shapValues(model, rows, { background: train.matrix });
    expect(again.expectedValue).toBe(shap.expectedValue);
    expectClose(
      again.values.slice(0, 20),
      shap.values.slice(0, 20).map((r) => Array.from(r)),
      1e-15,
    );
  });

  it('importance sums to 100, the dominant feature ranks first, the unused one gets 0', () => {
    const imp = featureImportance(model, train.matrix);
    expect(imp.map((r) => r.feature).sort()).toEqual(model.features.map((f) => f.name).sort());
    expect(imp.reduce((a, r) => a + r.importance, 0)).toBeCloseTo(100, 9);
    expect(imp[0]!.feature).toBe('x');
    expect(imp.find((r) => r.feature === 'constant')!.importance).toBe(0);
    for (let i = 1; i < imp.length; i++) expect(imp[i - 1]!.importance).toBeGreaterThanOrEqual(imp[i]!.importance);
    expect(featureImportance(model, cover)).toEqual(imp);

    const global = meanAbsShap(model, rows, { leafWeights: cover });
    expect(global[0]!.feature).toBe('x');
    expect(global.find((r) => r.feature === 'constant')!.importance).toBe(0);
    const j = model.features.findIndex((f) => f.name === 'constant');
    expect(shapValues(model, rows, { leafWeights: cover }).values.every((r) => r[j] === 0)).toBe(true);
  });

  it("training stores each tree's leaf weights: every row once, and a tree of float splits alone has the rows' cover", () => {
    const stored = storedLeafWeights(model)!;
    expect(stored).toHaveLength(model.trees.length);
    for (const w of stored) {
      expect(w.length).toBeGreaterThan(1);
      expect(Array.from(w).every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
      expect(Array.from(w).reduce((a, b) => a + b, 0)).toBe(train.matrix.rowCount);
    }
    // Where no CTR decides a split (numeric columns alone), the fit's leaves are the applied model's: the stored
    // weights are the training rows' cover.
    const numeric = { ...train.matrix, categorical: [] };
    const floats = trainGbdt(numeric, train.labels, { iterations: 15, depth: 4, random_seed: 5 });
    expect(storedLeafWeights(floats)).toEqual(leafCover(floats, numeric).map((w) => Array.from(w)));
    // Where one does, the fit saw ordered (earlier rows') CTRs, not the final table's: the counts differ somewhere.
    expect(stored.some((w, i) => !equalCounts(w, cover[i]!))).toBe(true);
  });

  it('weights stored in the model are used when no data is given; none at all is a clear error', () => {
    const withCover = {
      ...model,
      trees: model.trees.map((t, i) => ({ ...t, leafWeights: Array.from(cover[i]!) })),
    } as GbdtModel;
    expect(featureImportance(withCover)).toEqual(featureImportance(model, cover));
    expect(shapValues(withCover, rows).expectedValue).toBe(
      shapValues(model, rows, { leafWeights: cover }).expectedValue,
    );
    const without = { ...model, trees: model.trees.map(({ leafWeights: _, ...t }) => t) } as GbdtModel;
    expect(() => featureImportance(without)).toThrow(GbdtDataError);
    expect(() => shapValues(without, rows)).toThrow(/stores no leaf weights/);
    expect(() => shapValues(model, rows, { leafWeights: cover.slice(1) })).toThrow(GbdtDataError);
  });

  it('topContributions: the k largest |values|, zeros left out', () => {
    const shap = shapValues(model, rows, { leafWeights: cover });
    const row = shapRow(shap, 5);
    const top = topContributions(row, 3);
    expect(top).toHaveLength(3);
    const sorted = Array.from(row.values)
      .filter((v) => v !== 0)
      .sort((a, b) => Math.abs(b) - Math.abs(a));
    expect(top.map((c) => c.value)).toEqual(sorted.slice(0, 3));
    expect(top.every((c) => c.feature !== 'constant')).toBe(true);
    expect(topContributions(row, 100).length).toBe(sorted.length);
  });
});

describe('explain: agreement with brute-force Shapley values', () => {
  const tiny = synthetic(600, 2);
  const tinyMatrix: FeatureMatrix = {
    rowCount: tiny.matrix.rowCount,
    categorical: tiny.matrix.categorical,
    numeric: [tiny.matrix.numeric[0]!],
  };
  const tinyModel = trainGbdt(tinyMatrix, tiny.labels, {
    iterations: 8,
    depth: 4,
    learning_rate: 0.3,
    max_ctr_complexity: 2,
    model_size_reg: 0, // so that a combination enters the model on these 200 rows
    random_seed: 5,
  });
  const explained: FeatureMatrix = {
    rowCount: 40,
    categorical: rows.categorical.map((c) => ({ ...c, codes: c.codes.subarray(0, 40) })),
    numeric: [{ ...rows.numeric[0]!, values: rows.numeric[0]!.values.subarray(0, 40) }],
  };

  it('tiny trained model (4 features, combinations), training cover', () => {
    expect(tinyModel.features).toHaveLength(4);
    expect(tinyModel.ctrTables.some((t) => t.features.length === 2)).toBe(true);
    const w = leafCover(tinyModel, tinyMatrix);
    const shap = shapValues(tinyModel, explained, { leafWeights: w });
    expectClose(shap.values, bruteForceShap(tinyModel, explained, w), 1e-9);
    expectAdditive(tinyModel, explained, shap);
    // one row: one leaf per tree, explained by the per-leaf subset sum instead of the 3^D table
    const one: FeatureMatrix = {
      rowCount: 1,
      categorical: explained.categorical.map((c) => ({ ...c, codes: c.codes.subarray(3, 4) })),
      numeric: explained.numeric.map((c) => ({ ...c, values: c.values.subarray(3, 4) })),
    };
    expectClose(shapValues(tinyModel, one, { leafWeights: w }).values, [Array.from(shap.values[3]!)], 1e-12);
  });

  it('small background: empty leaves fall back to plain means, still exact and additive', () => {
    const bg: FeatureMatrix = {
      rowCount: 12,
      categorical: tinyMatrix.categorical.map((c) => ({ ...c, codes: c.codes.subarray(0, 12) })),
      numeric: tinyMatrix.numeric.map((c) => ({ ...c, values: c.values.subarray(0, 12) })),
    };
    const w = leafCover(tinyModel, bg);
    expect(w.some((tw) => tw.some((c) => c === 0))).toBe(true);
    const shap = shapValues(tinyModel, explained, { background: bg });
    expectClose(shap.values, bruteForceShap(tinyModel, explained, w), 1e-9);
    expectAdditive(tinyModel, explained, shap);
  });

  it('hand-built depth-13 model (subset-sum path) with a combination CTR split', () => {
    const rng = new Rng(77);
    const n = 12;
    const num = (name: string) => ({ name, values: Float64Array.from({ length: n }, () => rng.normal()) });
    const cat = (name: string) => ({
      name,
      codes: Int32Array.from({ length: n }, () => rng.int(3)),
      dictionary: ['p', 'q', 'r'],
    });
    const matrix: FeatureMatrix = { rowCount: n, categorical: [cat('c1'), cat('c2')], numeric: [num('u'), num('v')] };
    const keys = ['p', 'q', 'r'].flatMap((a) => ['p', 'q', 'r'].map((b) => [a, b]));
    const deep = (seed: number) => {
      const r = new Rng(seed);
      return {
        splits: Array.from({ length: 13 }, (_, d) =>
          d % 3 === 2
            ? { type: 'ctr' as const, ctr: 0, border: 0.2 + 0.1 * r.next() }
            : { type: 'float' as const, feature: d % 3, border: r.normal() * 0.7 },
        ),
        leafValues: Array.from({ length: 1 << 13 }, () => r.normal() * 0.1),
      };
    };
    const hand = handModel({
      features: [
        { name: 'c1', type: 'categorical' },
        { name: 'u', type: 'numeric' },
        { name: 'c2', type: 'categorical' },
        { name: 'v', type: 'numeric' },
      ],
      floatFeatures: [
        { name: 'u', nanMode: 'Min', borders: [0] },
        { name: 'v', nanMode: 'Min', borders: [0] },
      ],
      ctrTables: [
        tableOfEntries(
          ['c1', 'c2'],
          keys.map((k, i): [string[], number, number] => [k, i % 4, 5]),
          5,
        ),
      ],
      ctrs: [{ table: 0, type: 'Borders', prior: 0.5, borders: [0.3] }],
      trees: [deep(1), deep(2)],
    });
    const w = leafCover(hand, matrix); // 12 rows over 8192 leaves: mostly empty
    for (const tw of w) for (let l = 0; l < tw.length; l += 7) tw[l]! += 0.5; // and some fractional weights
    const shap = shapValues(hand, matrix, { leafWeights: w });
    expectClose(shap.values, bruteForceShap(hand, matrix, w), 1e-9);
    expectAdditive(hand, matrix, shap);
  });
});

describe('explain: PredictionValuesChange by hand', () => {
  it('weighted squared differences per split, a combination shared equally, normalised to 100', () => {
    const hand = handModel({
      features: [
        { name: 'a', type: 'numeric' },
        { name: 'b', type: 'numeric' },
        { name: 'c1', type: 'categorical' },
        { name: 'c2', type: 'categorical' },
      ],
      floatFeatures: [
        { name: 'a', nanMode: 'Min', borders: [0] },
        { name: 'b', nanMode: 'Min', borders: [0] },
      ],
      ctrTables: [tableOfEntries(['c1', 'c2'], [[['x', 'y'], 1, 2]], 2)],
      ctrs: [{ table: 0, type: 'Borders', prior: 0, borders: [0.5] }],
      trees: [
        // split on a: leaves 0 / 2 with weights 1 / 1 → avg 1, effect 1 + 1 = 2
        { splits: [{ type: 'float', feature: 0, border: 0 }], leafValues: [0, 2] },
        // level 0 on b: pairs (0,1) and (2,3); level 1 on the c1×c2 CTR: pairs (0,2) and (1,3)
        {
          splits: [
            { type: 'float', feature: 1, border: 0 },
            { type: 'ctr', ctr: 0, border: 0.5 },
          ],
          leafValues: [0, 1, 0, 3],
        },
      ],
    });
    const w = [Float64Array.of(1, 1), Float64Array.of(1, 1, 0, 2)];
    // tree 2, level 0 (b): pair (0,1) w 1/1 v 0/1 → 0.5; pair (2,3) has an empty leaf → skipped. b = 0.5
    // level 1 (c1×c2): pair (0,2) skipped; pair (1,3) w 1/2 v 1/3 → avg 7/3: (4/3)²·1 + (2/3)²·2 = 8/3 → 4/3 each
    const total = 2 + 0.5 + 8 / 3;
    const imp = featureImportance(hand, w);
    const by = Object.fromEntries(imp.map((r) => [r.feature, r.importance]));
    expect(by.a).toBeCloseTo((2 / total) * 100, 12);
    expect(by.b).toBeCloseTo((0.5 / total) * 100, 12);
    expect(by.c1).toBeCloseTo((4 / 3 / total) * 100, 12);
    expect(by.c2).toBeCloseTo(by.c1!, 12);
    expect(imp[0]!.feature).toBe('a');
  });
});
