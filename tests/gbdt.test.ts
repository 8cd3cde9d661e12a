import { describe, expect, it } from 'vitest';
import {
  autoLearningRate,
  GbdtDataError,
  GbdtModelError,
  GbdtParamError,
  loglossFromRaw,
  orderedBordersCtrs,
  parseModel,
  predictProba,
  predictRaw,
  resolveParams,
  serializeModel,
  trainGbdt,
  entryValues,
} from '../lib/gbdt';
import type { CatBoostParams, GbdtModel } from '../lib/gbdt';
import { LeafScratch, leafDeltas } from '../lib/gbdt/leaves';
import { WasmLeaves } from '../lib/gbdt/wasm';
import { Rng } from '../lib/rng';
import type { FeatureMatrix } from '../schemas/matrix';

/** Tiny rank-based ROC-AUC (ties averaged), independent of the engine's own. */
function auc(scores: ArrayLike<number>, labels: Uint8Array): number {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  const ranks = new Array<number>(idx.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    for (let k = i; k <= j; k++) ranks[idx[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  let pos = 0;
  let sum = 0;
  labels.forEach((y, i) => {
    if (y) {
      pos++;
      sum += ranks[i]!;
    }
  });
  const neg = labels.length - pos;
  return (sum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** A categorical with `levels` per-level effects, a numeric with a threshold effect (10% NaN), and noise. */
function synthetic(n: number, seed: number, levels = 100, signal = 1) {
  const rng = new Rng(seed);
  const effects = new Rng(12345);
  const eff = Float64Array.from({ length: levels }, () => effects.normal() * 1.5);
  const codes = new Int32Array(n);
  const values = new Float64Array(n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(levels);
    const x = rng.next() < 0.1 ? NaN : rng.normal();
    codes[i] = c;
    values[i] = x;
    const z = signal * (eff[c]! + (x > 0.3 ? 1 : -0.5) + (Number.isNaN(x) ? 0.8 : 0));
    labels[i] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  const matrix: FeatureMatrix = {
    rowCount: n,
    categorical: [{ name: 'app', codes, dictionary: Array.from({ length: levels }, (_, i) => `app_${i}`) }],
    numeric: [{ name: 'x', values }],
  };
  return { matrix, labels };
}

function rowsOf(data: { matrix: FeatureMatrix; labels: Uint8Array }, from: number, to: number) {
  const m = data.matrix;
  return {
    matrix: {
      rowCount: to - from,
      categorical: m.categorical.map((c) => ({ ...c, codes: c.codes.slice(from, to) })),
      numeric: m.numeric.map((c) => ({ ...c, values: c.values.slice(from, to) })),
    } satisfies FeatureMatrix,
    labels: data.labels.slice(from, to),
  };
}

const FAST: CatBoostParams = { iterations: 40, depth: 4, learning_rate: 0.2, random_seed: 7 };

/** One depth-1 tree on x = 1..8 with labels 0,0,0,0,1,1,1,1: every figure of it can be checked by hand. */
function oneStump(leafEstimationIterations: number) {
  const matrix: FeatureMatrix = {
    rowCount: 8,
    categorical: [],
    numeric: [{ name: 'x', values: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]) }],
  };
  return trainGbdt(matrix, Uint8Array.from([0, 0, 0, 0, 1, 1, 1, 1]), {
    iterations: 1,
    depth: 1,
    learning_rate: 0.5,
    l2_leaf_reg: 1,
    random_strength: 0,
    bootstrap_type: 'No',
    leaf_estimation_iterations: leafEstimationIterations,
  });
}

describe('gbdt: hand-checkable cases', () => {
  it('finds the single best split and Newton leaf values on a tiny numeric set', () => {
    const model = oneStump(1);
    expect(model.floatFeatures[0]!.borders).toEqual([1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]);
    expect(model.trees).toHaveLength(1);
    expect(model.trees[0]!.splits).toEqual([{ type: 'float', feature: 0, border: 4.5 }]);
    // g = y − 0.5 = ±0.5, h = 0.25 per row: leaf = lr · ΣG / (ΣH + λ) = 0.5 · (±2) / (1 + 1) = ±0.5.
    expect(model.trees[0]!.leafValues[0]).toBeCloseTo(-0.5, 12);
    expect(model.trees[0]!.leafValues[1]).toBeCloseTo(0.5, 12);
    expect(model.bias).toBe(0);
  });

  it('takes several Newton leaf steps on all rows, each accepted only if it lowers the Logloss', () => {
    const model = oneStump(2);
    // Step 1: δ = ΣG / (ΣH + λ) = 2 / (1 + 1) = 1. Step 2 from p = σ(1): δ += 4(1 − p) / (4p(1 − p) + 1).
    const p = 1 / (1 + Math.exp(-1));
    const delta = 1 + (4 * (1 - p)) / (4 * p * (1 - p) + 1);
    expect(model.trees[0]!.leafValues[1]).toBeCloseTo(0.5 * delta, 12);
    expect(model.trees[0]!.leafValues[0]).toBeCloseTo(-0.5 * delta, 12);
  });

  it('takes a single leaf step without checking the loss, as CatBoost does with one iteration', () => {
    // Three positives at approx −4 and a negative at approx 2 in one leaf, λ = 0: the Newton step (13.07) raises the
    // Logloss. With one iteration it is taken all the same (CatBoost has no backtracking objective then); with two,
    // it is halved until the loss goes down. The kernels' sums give the same steps.
    const approx = [-4, -4, -4, 2];
    const labels = Uint8Array.from([1, 1, 1, 0]);
    const loss = (d: number) =>
      approx.reduce((s, a, i) => s + Math.log1p(Math.exp(-(a + d))) + (1 - labels[i]!) * (a + d), 0);
    let g = 0;
    let h = 0;
    approx.forEach((a, i) => {
      const p = 1 / (1 + Math.exp(-a));
      g += labels[i]! - p;
      h += p * (1 - p);
    });
    expect(loss(g / h)).toBeGreaterThan(loss(0));
    const kernels = new WasmLeaves(4, labels, 1, 1, 1);
    kernels.expNeg[0]!.set(approx.map((a) => Math.exp(-a)));
    const steps = [1, 2].map((iterations) =>
      [null, { kernels, fold: 0 }].map(
        (wasm) =>
          leafDeltas(
            kernels.leaf,
            kernels.expNeg[0]!,
            labels,
            1,
            { l2_leaf_reg: 0, leaf_estimation_iterations: iterations },
            true,
            new LeafScratch(2),
            wasm,
          )[0]!,
      ),
    );
    expect(steps[0]![0]).toBe(g / h);
    expect(steps[0]![1]).toBe(g / h);
    expect(steps[1]![0]).toBe(g / h / 2);
    expect(steps[1]![1]).toBe(g / h / 2);
    expect(loss(g / h / 2)).toBeLessThan(loss(0));
  });

  it('computes ordered CTRs by hand: first occurrences get the prior', () => {
    // values a, a, b, a with labels 1, 0, 1, 1
    const valueOf = Int32Array.from([0, 0, 1, 0]);
    const labels = Uint8Array.from([1, 0, 1, 1]);
    const [p0, p05] = orderedBordersCtrs(valueOf, 2, labels, Uint32Array.from([0, 1, 2, 3]), [0, 0.5]);
    expect(Array.from(p05!)).toEqual([0.5, (1 + 0.5) / 2, 0.5, (1 + 0.5) / 3]);
    expect(Array.from(p0!)).toEqual([0, 1 / 2, 0, 1 / 3]);
    // Reversed permutation: row 3 comes first.
    const [r05] = orderedBordersCtrs(valueOf, 2, labels, Uint32Array.from([3, 2, 1, 0]), [0.5]);
    expect(Array.from(r05!)).toEqual([(1 + 0.5) / 3, (1 + 0.5) / 2, 0.5, 0.5]);
  });

  it('stores full-data CTR statistics keyed by value and applies them at prediction time', () => {
    const matrix: FeatureMatrix = {
      rowCount: 6,
      categorical: [{ name: 'c', codes: Int32Array.from([0, 0, 1, 0, 2, 2]), dictionary: ['a', 'b', 'c'] }],
      numeric: [],
    };
    const labels = Uint8Array.from([1, 0, 1, 1, 0, 0]);
    const model = trainGbdt(matrix, labels, { iterations: 2, depth: 1, random_strength: 0, bootstrap_type: 'No' });
    expect(model.ctrTables).toEqual([
      {
        features: ['c'],
        values: [['a', 'b', 'c']],
        keys: [0, 1, 2],
        positives: [2, 1, 0],
        totals: [3, 1, 2],
        maxCount: 3,
      },
    ]);
    expect(model.ctrs.map((c) => [c.type, c.prior])).toEqual([
      ['Borders', 0],
      ['Borders', 0.5],
      ['Borders', 1],
      ['Counter', 0],
    ]);
  });
});

describe('gbdt: determinism and model files', () => {
  const data = synthetic(3000, 1);

  it('same data, params and seed give a byte-identical model file; another seed does not', () => {
    const a = serializeModel(trainGbdt(data.matrix, data.labels, FAST));
    const b = serializeModel(trainGbdt(data.matrix, data.labels, FAST));
    expect(a).toBe(b);
    const c = serializeModel(trainGbdt(data.matrix, data.labels, { ...FAST, random_seed: 8 }));
    expect(c).not.toBe(a);
  });

  it.each(['Bayesian', 'Bernoulli', 'MVS', 'No'] as const)(
    'is deterministic with bootstrap_type %s',
    (bootstrap_type) => {
      const p: CatBoostParams = { ...FAST, iterations: 10, bootstrap_type };
      const a = serializeModel(trainGbdt(data.matrix, data.labels, p));
      expect(serializeModel(trainGbdt(data.matrix, data.labels, p))).toBe(a);
    },
  );

  it('serialize → parse round trip gives identical predictions and bytes', () => {
    const model = trainGbdt(data.matrix, data.labels, { ...FAST, bootstrap_type: 'Bayesian', bagging_temperature: 1 });
    const json = serializeModel(model);
    const back = parseModel(json);
    expect(serializeModel(back)).toBe(json);
    expect(predictRaw(back, data.matrix)).toEqual(predictRaw(model, data.matrix));
    const parsed = JSON.parse(json) as GbdtModel;
    expect(parsed.format).toBe('access-perm-gbdt');
    expect(parsed.params.depth).toBe(4);
  });

  it('rejects a bad model file with a message saying where', () => {
    expect(() => parseModel('{not json')).toThrow(GbdtModelError);
    const model = trainGbdt(data.matrix, data.labels, { ...FAST, iterations: 2 });
    const broken = JSON.parse(serializeModel(model)) as { trees: { leafValues: unknown[] }[] };
    broken.trees[0]!.leafValues[0] = 'x';
    expect(() => parseModel(JSON.stringify(broken))).toThrow(/trees\.0\.leafValues\.0/);
    broken.trees[0]!.leafValues = [1, 2];
    expect(() => parseModel(JSON.stringify(broken))).toThrow(/leaf values/);
    const unweighed = JSON.parse(serializeModel(model)) as { trees: { leafWeights: number[] }[] };
    unweighed.trees[1]!.leafWeights.pop();
    expect(() => parseModel(JSON.stringify(unweighed))).toThrow(/trees\[1\] has 15 leaf weights for 16 leaf values/);
    unweighed.trees[1]!.leafWeights.push(-1);
    expect(() => parseModel(JSON.stringify(unweighed))).toThrow(/trees\.1\.leafWeights\.15/);
    // A CTR table's columns are checked against each other.
    type Columns = { values: string[][]; keys: unknown[]; positives: unknown[]; totals: number[] };
    const table = (edit: (t: Columns) => void) => {
      const m = JSON.parse(serializeModel(model)) as { ctrTables: Columns[] };
      edit(m.ctrTables[0]!);
      return () => parseModel(JSON.stringify(m));
    };
    expect(model.ctrTables[0]!.positives.length).toBeGreaterThan(2);
    expect(table((t) => (t.keys[1] = t.values[0]!.length))).toThrow(/ctrTables\[0\]\.keys\[1\] is not a position/);
    expect(table((t) => (t.keys[1] = 'x'))).toThrow(/ctrTables\[0\]\.keys\[1\] is not a position/);
    expect(table((t) => t.values[0]!.reverse())).toThrow(/ctrTables\[0\]\.values\[0\] is not in code-unit order/);
    expect(table((t) => t.keys.reverse())).toThrow(/entry 1 does not follow entry 0/);
    expect(table((t) => (t.positives[0] = t.totals[0]! + 1))).toThrow(/positives\[0\] is not a whole number/);
    expect(table((t) => t.totals.pop())).toThrow(/has \d+ totals for \d+ positives/);
  });
});

describe('gbdt: scoring', () => {
  const data = synthetic(3000, 2);
  const model = trainGbdt(data.matrix, data.labels, FAST);

  it('maps categories by string, so a scoring matrix may carry its own dictionary', () => {
    const col = data.matrix.categorical[0]!;
    const reversed = [...col.dictionary].reverse();
    const recoded: FeatureMatrix = {
      ...data.matrix,
      categorical: [{ name: 'app', dictionary: reversed, codes: col.codes.map((c) => col.dictionary.length - 1 - c) }],
    };
    expect(predictRaw(model, recoded)).toEqual(predictRaw(model, data.matrix));
  });

  it('handles unseen categories (prior-based value) and NaN', () => {
    const m: FeatureMatrix = {
      rowCount: 4,
      categorical: [
        { name: 'app', codes: Int32Array.from([0, 1, 2, 2]), dictionary: ['never_seen', 'also_new', 'app_3'] },
      ],
      numeric: [{ name: 'x', values: Float64Array.from([0.5, 0.5, NaN, Number.NEGATIVE_INFINITY]) }],
    };
    const p = predictProba(model, m);
    for (const v of p) expect(Number.isFinite(v) && v > 0 && v < 1).toBe(true);
    // Two unseen values look the same to the model.
    expect(p[0]).toBe(p[1]);
    // Training had NaNs: a NaN-separating border exists ('Min': NaN counts as −∞).
    expect(model.floatFeatures[0]!.borders[0]).toBe(-Number.MAX_VALUE);
    expect(p[2]).toBe(p[3]);
  });

  it('names a missing column', () => {
    const m: FeatureMatrix = { rowCount: 1, categorical: [], numeric: [{ name: 'x', values: Float64Array.from([1]) }] };
    expect(() => predictRaw(model, m)).toThrow(GbdtDataError);
    expect(() => predictRaw(model, m)).toThrow(/'app'/);
  });
});

describe('gbdt: learning', () => {
  it('learns a ~100-level categorical and a numeric signal (held-out AUC)', () => {
    const all = synthetic(6000, 3);
    const train = rowsOf(all, 0, 4500);
    const test = rowsOf(all, 4500, 6000);
    const model = trainGbdt(train.matrix, train.labels, {
      iterations: 150,
      depth: 6,
      learning_rate: 0.1,
      random_seed: 1,
    });
    const a = auc(predictProba(model, test.matrix), test.labels);
    expect(a).toBeGreaterThan(0.8);
  });

  it('early stopping truncates to the best iteration', () => {
    // Pure noise: eval loss bottoms out early.
    const all = synthetic(3000, 4, 300, 0);
    const train = rowsOf(all, 0, 2000);
    const evalSet = rowsOf(all, 2000, 3000);
    const seen: number[] = [];
    const model = trainGbdt(
      train.matrix,
      train.labels,
      { iterations: 500, depth: 6, learning_rate: 0.3, od_wait: 15, random_seed: 3 },
      {
        evalSet,
        onIteration: (i) => seen.push(i.iteration),
      },
    );
    expect(model.bestIteration).not.toBeNull();
    const best = model.bestIteration!;
    expect(model.iterationsRun).toBe(best + 16);
    expect(model.iterationsRun).toBeLessThan(500);
    expect(seen).toHaveLength(model.iterationsRun);
    expect(model.trees).toHaveLength(best + 1);
    expect(model.params.use_best_model).toBe(true);
    // The recorded best metric is what the truncated model scores on the eval set.
    expect(loglossFromRaw(predictRaw(model, evalSet.matrix), evalSet.labels)).toBe(model.bestEvalMetric!.value);
  });

  it('reports the training loss read during each iteration callback, never rising (backtracked leaf steps)', () => {
    const train = synthetic(1500, 9);
    const losses: number[] = [];
    trainGbdt(
      train.matrix,
      train.labels,
      { iterations: 25, depth: 4, random_seed: 1 },
      {
        onIteration: (i) => {
          losses.push(i.trainLoss);
          expect(i.trainLoss).toBe(losses[losses.length - 1]);
        },
      },
    );
    expect(losses).toHaveLength(25);
    expect(losses[0]!).toBeLessThan(Math.log(2));
    for (let k = 1; k < losses.length; k++) expect(losses[k]!).toBeLessThanOrEqual(losses[k - 1]!);
  });

  it('supports AUC as eval_metric and use_best_model: false', () => {
    const all = synthetic(2000, 5);
    const train = rowsOf(all, 0, 1500);
    const evalSet = rowsOf(all, 1500, 2000);
    const model = trainGbdt(
      train.matrix,
      train.labels,
      { ...FAST, eval_metric: 'AUC', use_best_model: false },
      { evalSet },
    );
    expect(model.trees).toHaveLength(40);
    expect(model.bestEvalMetric!.name).toBe('AUC');
    expect(model.bestEvalMetric!.value).toBeGreaterThan(0.7);
  });
});

describe('gbdt: categorical combinations', () => {
  /** The label depends only on the (a, b) pair; a alone and b alone carry almost nothing. */
  function pairs(n: number, seed: number) {
    const rng = new Rng(seed);
    const effects = new Rng(99);
    const eff = Float64Array.from({ length: 100 }, () => (effects.next() < 0.5 ? -2 : 2));
    const a = new Int32Array(n);
    const b = new Int32Array(n);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      a[i] = rng.int(10);
      b[i] = rng.int(10);
      labels[i] = rng.next() < 1 / (1 + Math.exp(-eff[a[i]! * 10 + b[i]!]!)) ? 1 : 0;
    }
    const dict = Array.from({ length: 10 }, (_, i) => `v${i}`);
    const matrix: FeatureMatrix = {
      rowCount: n,
      categorical: [
        { name: 'a', codes: a, dictionary: dict },
        { name: 'b', codes: b, dictionary: dict },
      ],
      numeric: [],
    };
    return { matrix, labels };
  }
  const all = pairs(5000, 11);
  const train = rowsOf(all, 0, 3500);
  const test = rowsOf(all, 3500, 5000);
  const params: CatBoostParams = { iterations: 60, depth: 2, learning_rate: 0.2, random_seed: 5 };

  it('finds an interaction that single-column CTRs cannot see (max_ctr_complexity)', () => {
    const simple = trainGbdt(train.matrix, train.labels, { ...params, max_ctr_complexity: 1 });
    const combo = trainGbdt(train.matrix, train.labels, params, { evalSet: test });
    const simpleAuc = auc(predictProba(simple, test.matrix), test.labels);
    const comboAuc = auc(predictProba(combo, test.matrix), test.labels);
    expect(comboAuc).toBeGreaterThan(0.85);
    expect(comboAuc - simpleAuc).toBeGreaterThan(0.1);
    const table = combo.ctrTables.find((t) => t.features.length === 2);
    expect(table?.features).toEqual(['a', 'b']);
    expect(entryValues(table!, 0)).toEqual(['v0', 'v0']);
    // Only combinations the trees use are kept, and the file round-trips.
    const used = new Set(combo.trees.flatMap((t) => t.splits.flatMap((s) => (s.type === 'ctr' ? [s.ctr] : []))));
    combo.ctrs.forEach((c, i) => {
      if (combo.ctrTables[c.table]!.features.length > 1) expect(used.has(i)).toBe(true);
    });
    const back = parseModel(serializeModel(combo));
    expect(predictRaw(back, test.matrix)).toEqual(predictRaw(combo, test.matrix));
    // The eval metric tracked during training matches scoring the final model.
    expect(loglossFromRaw(predictRaw(combo, test.matrix), test.labels)).toBe(combo.bestEvalMetric!.value);
  });

  it('model_size_reg keeps large combination tables out unless they pay: fewer entries, the interaction still found', () => {
    // Two columns with a value per few rows: their combinations with a and b are large tables of noise.
    const rng = new Rng(4);
    const wide = (name: string) => ({
      name,
      codes: Int32Array.from({ length: train.matrix.rowCount }, () => rng.int(1000)),
      dictionary: Array.from({ length: 1000 }, (_, i) => `${name}${i}`),
    });
    const matrix = { ...train.matrix, categorical: [...train.matrix.categorical, wide('u'), wide('w')] };
    const testMatrix = {
      ...test.matrix,
      categorical: [
        ...test.matrix.categorical,
        ...['u', 'w'].map((name) => ({ ...wide(name), codes: new Int32Array(test.matrix.rowCount) })),
      ],
    };
    const p: CatBoostParams = { ...params, depth: 4, max_ctr_complexity: 2 };
    const entries = (m: GbdtModel) =>
      m.ctrTables.filter((t) => t.features.length > 1).reduce((sum, t) => sum + t.positives.length, 0);
    const free = trainGbdt(matrix, train.labels, { ...p, model_size_reg: 0 });
    const regularized = trainGbdt(matrix, train.labels, p); // the default, 0.5
    expect(entries(regularized)).toBeLessThan(entries(free) / 2);
    expect(auc(predictProba(regularized, testMatrix), test.labels)).toBeGreaterThan(0.85);
  });

  it('stores combination tables by columns in code-unit order, whatever characters values hold; reads format 1 files', () => {
    // Values that are prefixes of others, control characters, and U+001F, which joined format 1's keys.
    const names = (extra: string) => ['v', 'v0', 'v01', 'w', 'v!', 'v0 ', 'x', `v${extra}`, 'vv', '~'];
    const byCodeUnit = (a: string[], b: string[]): number => {
      for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return a[j]! < b[j]! ? -1 : 1;
      return 0;
    };
    const check = (aExtra: string): GbdtModel => {
      const m = {
        ...train.matrix,
        categorical: [
          { ...train.matrix.categorical[0]!, dictionary: names(aExtra) },
          { ...train.matrix.categorical[1]!, dictionary: names('z') },
        ],
      };
      const model = trainGbdt(m, train.labels, { ...params, iterations: 20, depth: 3 });
      const tables = model.ctrTables.filter((t) => t.features.length > 1);
      expect(tables.length).toBeGreaterThan(0);
      for (const t of tables) {
        expect(t.positives.length).toBeGreaterThan(10);
        for (const values of t.values)
          for (let i = 1; i < values.length; i++) expect(values[i - 1]! < values[i]!).toBe(true);
        const tuples = t.positives.map((_, r) => entryValues(t, r));
        expect(tuples).toEqual([...tuples].sort(byCodeUnit));
      }
      expect(predictRaw(parseModel(serializeModel(model)), m)).toEqual(predictRaw(model, m));
      return model;
    };
    check('\u0001');
    check('\u001f');
    const plain = check('y');
    // The same model as format 1 wrote it: rows [joined key, positives, total] sorted by key.
    const v1 = {
      ...(JSON.parse(serializeModel(plain)) as object),
      formatVersion: 1,
      ctrTables: plain.ctrTables.map((t) => ({
        features: t.features,
        maxCount: t.maxCount,
        stats: t.positives
          .map((p, r) => [entryValues(t, r).join('\u001f'), p, t.totals[r]!] as const)
          .sort((a, b) => (a[0] < b[0] ? -1 : 1)),
      })),
    };
    expect(serializeModel(parseModel(JSON.stringify(v1)))).toBe(serializeModel(plain));
  });
});

describe('gbdt: parameters', () => {
  it("accepts the seed's block as is and applies CatBoost defaults", () => {
    const r = resolveParams(
      { iterations: 500, learning_rate: 0.05, depth: 8, l2_leaf_reg: 8, random_seed: 42 },
      90_000,
    );
    expect(r).toMatchObject({ iterations: 500, learning_rate: 0.05, depth: 8, l2_leaf_reg: 8, random_seed: 42 });
    expect(r).toMatchObject({
      border_count: 254,
      one_hot_max_size: 2,
      random_strength: 1,
      bootstrap_type: 'MVS',
      subsample: 0.8,
    });
    const auto = resolveParams({}, 90_000);
    expect(auto.learning_rate_auto).toBe(true);
    expect(auto.learning_rate).toBeGreaterThan(0.01);
    expect(auto.learning_rate).toBeLessThan(0.5);
  });

  it('resolves leaf_estimation_iterations like CatBoost 1.2 for Logloss (10 Newton steps, 1 for runs < 200 trees)', () => {
    // get_all_params() of CatBoost 1.2.10 on a 10-feature set: iterations 150 → 1, 200 → 10, 1000 → 10.
    expect(resolveParams({ iterations: 150 }, 10_000).leaf_estimation_iterations).toBe(1);
    expect(resolveParams({ iterations: 200 }, 10_000).leaf_estimation_iterations).toBe(10);
    expect(resolveParams({}, 10_000).leaf_estimation_iterations).toBe(10);
    expect(resolveParams({ leaf_estimation_method: 'Gradient' }, 10_000).leaf_estimation_iterations).toBe(40);
    expect(resolveParams({ leaf_estimation_iterations: 3 }, 10_000).leaf_estimation_iterations).toBe(3);
  });

  it('permutes blocks of rows as CatBoost does by default: fold_permutation_block = min(256, rows / 1000 + 1)', () => {
    // DefaultFoldPermutationBlockSize in CatBoost's defaults_helper.h.
    expect(resolveParams({}, 999).fold_permutation_block).toBe(1);
    expect(resolveParams({}, 92_850).fold_permutation_block).toBe(93);
    expect(resolveParams({}, 254_999).fold_permutation_block).toBe(255);
    expect(resolveParams({}, 10_000_000).fold_permutation_block).toBe(256);
    expect(resolveParams({ fold_permutation_block: 1 }, 10_000_000).fold_permutation_block).toBe(1);
  });

  it("derives learning_rate like CatBoost when unset (values printed by CatBoost 1.2's get_all_params)", () => {
    expect(autoLearningRate(60_000, 1000, false, false)).toBe(0.059184);
    expect(autoLearningRate(93_000, 500, false, false)).toBe(0.134748);
    expect(resolveParams({ iterations: 500 }, 93_000).learning_rate).toBe(0.134748);
  });

  it.each([
    [{ depth: 20 }, 'depth', 'depth must be an integer in 1..16, got 20'],
    [{ depth: 2.5 }, 'depth', 'depth must be an integer in 1..16, got 2.5'],
    [{ learning_rate: -1 }, 'learning_rate', 'learning_rate must be a number in (0, 1], got -1'],
    [{ l2_leaf_reg: '3' }, 'l2_leaf_reg', 'l2_leaf_reg must be a number in [0, ∞), got "3"'],
    [
      { bootstrap_type: 'Poisson' },
      'bootstrap_type',
      "bootstrap_type must be one of 'Bayesian', 'Bernoulli', 'MVS', 'No', got \"Poisson\"",
    ],
    [{ loss_function: 'RMSE' }, 'loss_function', 'loss_function must be one of \'Logloss\', got "RMSE"'],
    [
      { fold_permutation_block: 0 },
      'fold_permutation_block',
      'fold_permutation_block must be an integer in 1..65536, got 0',
    ],
    [{ depht: 6 }, 'depht', "unknown parameter 'depht'"],
    [
      { bootstrap_type: 'Bayesian', subsample: 0.5 },
      'subsample',
      "subsample is not used with bootstrap_type 'Bayesian'",
    ],
    [{ od_wait: 10, early_stopping_rounds: 20 }, 'od_wait, early_stopping_rounds', 'aliases and disagree'],
  ])('rejects %j naming the parameter', (params, param, message) => {
    let err: unknown;
    try {
      resolveParams(params as CatBoostParams, 100);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GbdtParamError);
    expect((err as GbdtParamError).param).toBe(param);
    expect((err as GbdtParamError).message).toContain(message);
  });

  it('trainGbdt rejects bad params and bad labels', () => {
    const d = synthetic(50, 6);
    expect(() => trainGbdt(d.matrix, d.labels, { depth: 0 })).toThrow(GbdtParamError);
    expect(() => trainGbdt(d.matrix, d.labels.slice(1), {})).toThrow(/labels/);
    expect(() => trainGbdt(d.matrix, new Uint8Array(50), {})).toThrow(/both 0 and 1/);
  });
});
