import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDuckDb } from '../lib/data/duck';
import { readLabelledMatrix, selectRows } from '../lib/features/matrix';
import type { LabelledMatrix } from '../lib/features/matrix';
import { loadCsvAsText } from '../lib/data/raw';
import { buildFeatureTable, SEED_FEATURE_SPEC } from '../lib/features';
import {
  exportOnnx,
  GbdtDataError,
  GbdtModelError,
  onnxInputs,
  onnxMetadata,
  parseModel,
  predictProba,
  predictRaw,
  resolveParams,
  serializeModel,
  trainGbdt,
  tableOfEntries,
} from '../lib/gbdt';
import { createOnnxScorer, createThreadedOnnxScorer, ONNX_BATCH_ROWS } from '../lib/gbdt/onnx';
import { batchRowsFor } from '../lib/gbdt/onnx/score';
import { codedGraph } from '../lib/gbdt/onnx/coded';
import type { CodedGraphOptions } from '../lib/gbdt/onnx/coded';
import { decodeModel, encodeModel } from '../lib/gbdt/onnx/onnx-proto';
import type { GbdtModel } from '../lib/gbdt';
import { GBDT_MODEL_FORMAT, GBDT_MODEL_FORMAT_VERSION } from '../schemas/gbdt';
import type { FeatureMatrix } from '../schemas/matrix';
import { fitIsotonic } from '../lib/evaluation/calibration';
import { applyIsotonic, applyPlatt } from '../lib/gbdt/calibration';
import { calibrateFinalModel } from '../lib/pipeline/evaluate';
import { smallDataset, useTempDataDir } from './helpers';

/** Seed-2 features of a small generated data set, built by the pipeline's SQL; fold = row_idx mod 4. */
async function seedMatrix(dir: string): Promise<LabelledMatrix> {
  return withDuckDb(async (conn) => {
    await loadCsvAsText(conn, 'users', join(dir, 'users_metadata.csv'));
    await loadCsvAsText(conn, 'apps', join(dir, 'apps_metadata.csv'));
    await loadCsvAsText(conn, 'interactions', join(dir, 'interactions.csv'));
    await buildFeatureTable(conn, 'interactions', { sentinel: '__UNKNOWN__', managerBackfill: true }, true);
    await conn.run('CREATE TABLE features_folded AS SELECT *, CAST(row_idx % 4 AS INTEGER) AS fold FROM features');
    return readLabelledMatrix(conn, 'features_folded', SEED_FEATURE_SPEC);
  });
}

/**
 * A copy of `m` where every 3rd row gets an unseen value in one categorical (rotating), every 4th a NaN in one
 * numeric, every 5th the empty string, every 7th an unseen combination of seen values (values from other rows).
 */
function perturb(m: FeatureMatrix): FeatureMatrix {
  const categorical = m.categorical.map((c, ci) => {
    const dictionary = [...c.dictionary, `never-seen-${c.name}`, ''];
    const codes = Int32Array.from(c.codes);
    for (let i = 0; i < m.rowCount; i++) {
      if (i % 3 === 0 && (i / 3) % m.categorical.length === ci) codes[i] = c.dictionary.length;
      else if (i % 5 === 0 && (i / 5) % m.categorical.length === ci) codes[i] = c.dictionary.length + 1;
      else if (i % 7 === 0) codes[i] = c.codes[(i * (ci + 3)) % m.rowCount]!;
    }
    return { name: c.name, dictionary, codes };
  });
  const numeric = m.numeric.map((c, ci) => {
    const values = Float64Array.from(c.values);
    for (let i = 0; i < m.rowCount; i++) if (i % 4 === 1 && (i >> 2) % m.numeric.length === ci) values[i] = NaN;
    return { name: c.name, values };
  });
  return { rowCount: m.rowCount, categorical, numeric };
}

/** Concatenates the rows of two matrices with the same columns (the second's codes re-based). */
function concatRows(a: FeatureMatrix, b: FeatureMatrix): FeatureMatrix {
  return {
    rowCount: a.rowCount + b.rowCount,
    categorical: a.categorical.map((c, i) => {
      const o = b.categorical[i]!;
      const codes = new Int32Array(c.codes.length + o.codes.length);
      codes.set(c.codes);
      codes.set(
        o.codes.map((k) => k + c.dictionary.length),
        c.codes.length,
      );
      return { name: c.name, dictionary: [...c.dictionary, ...o.dictionary], codes };
    }),
    numeric: a.numeric.map((c, i) => {
      const values = new Float64Array(c.values.length + b.numeric[i]!.values.length);
      values.set(c.values);
      values.set(b.numeric[i]!.values, c.values.length);
      return { name: c.name, values };
    }),
  };
}

async function onnxScores(model: GbdtModel, matrix: FeatureMatrix): Promise<{ p: Float32Array; raw: Float32Array }> {
  const scorer = await createOnnxScorer(exportOnnx(model));
  try {
    const { probability, raw } = await scorer.run(matrix);
    return { p: probability, raw };
  } finally {
    await scorer.close();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Columns of the hand-made model's features (app, kind, x, y) as a FeatureMatrix. */
function toMatrix(cols: { app: string[]; kind: string[]; x: number[]; y: number[] }): FeatureMatrix {
  return {
    rowCount: cols.app.length,
    categorical: (['app', 'kind'] as const).map((name) => {
      const dictionary = [...new Set(cols[name])];
      return { name, dictionary, codes: Int32Array.from(cols[name], (v) => dictionary.indexOf(v)) };
    }),
    numeric: (['x', 'y'] as const).map((name) => ({ name, values: Float64Array.from(cols[name]) })),
  };
}

let root: string;
let data: LabelledMatrix;
let model: GbdtModel;
let scoring: FeatureMatrix;

beforeAll(async () => {
  root = await useTempDataDir('onnx');
  data = await seedMatrix(await smallDataset(join(root, 'data'), 2500));
  const train = selectRows(data, (i) => data.folds[i] !== 0);
  const test = selectRows(data, (i) => data.folds[i] === 0);
  // one_hot_max_size 12 makes the departments one-hot; max_ctr_complexity 3 lets trees combine categoricals.
  model = trainGbdt(train.matrix, train.labels, {
    iterations: 40,
    depth: 5,
    learning_rate: 0.2,
    one_hot_max_size: 12,
    max_ctr_complexity: 3,
    random_seed: 7,
  });
  scoring = concatRows(test.matrix, perturb(test.matrix));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ONNX export of a trained model', () => {
  it('the model exercises every split kind, combinations and NaN borders', () => {
    const kinds = new Set(model.trees.flatMap((t) => t.splits.map((s) => s.type)));
    expect([...kinds].sort()).toEqual(['ctr', 'float', 'onehot']);
    const usedTables = new Set(
      model.trees.flatMap((t) => t.splits.flatMap((s) => (s.type === 'ctr' ? [model.ctrs[s.ctr]!.table] : []))),
    );
    expect([...usedTables].some((t) => model.ctrTables[t]!.features.length >= 2)).toBe(true);
    expect(model.floatFeatures.some((f) => f.borders[0] === -Number.MAX_VALUE)).toBe(true);
  });

  it('onnxruntime matches the TS evaluator on real rows, unseen categories and NaN numerics', async () => {
    const ts = predictProba(model, scoring);
    const tsRaw = predictRaw(model, scoring);
    const { p, raw } = await onnxScores(model, scoring);
    const dp = maxAbsDiff(ts, p);
    expect(dp).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(tsRaw, raw)).toBeLessThanOrEqual(1e-4);
    // The perturbed half really differs from the original half (unseen values and NaN reach the trees).
    const n = scoring.rowCount / 2;
    let changed = 0;
    for (let i = 0; i < n; i++) if (ts[i] !== ts[n + i]) changed++;
    expect(changed).toBeGreaterThan(n / 4);
    console.log(`ONNX parity: ${scoring.rowCount} rows, max |Δp| = ${dp.toExponential(2)}`);
  });

  it('scores raw columns by name, as strings and plain numbers', async () => {
    const rows = 50;
    const columns: Record<string, string[] | number[]> = {};
    for (const c of scoring.categorical)
      columns[c.name] = Array.from(c.codes.subarray(0, rows), (k) => c.dictionary[k]!);
    for (const c of scoring.numeric) columns[c.name] = Array.from(c.values.subarray(0, rows));
    const scorer = await createOnnxScorer(exportOnnx(model), { intraOpThreads: 1 });
    const p = await scorer.score(columns);
    await scorer.close();
    expect(maxAbsDiff(predictProba(model, scoring).subarray(0, rows), p)).toBeLessThanOrEqual(1e-5);
  });

  it('scores in batches: 97-row batches give the same probabilities as one batch', async () => {
    const bytes = exportOnnx(model);
    const whole = await createOnnxScorer(bytes, { batchRows: scoring.rowCount });
    const batched = await createOnnxScorer(bytes, { batchRows: 97 });
    const a = await whole.run(scoring);
    const b = await batched.run(scoring);
    await whole.close();
    await batched.close();
    expect(b.probability.length).toBe(scoring.rowCount);
    expect(Array.from(b.probability)).toEqual(Array.from(a.probability));
    expect(Array.from(b.raw)).toEqual(Array.from(a.raw));
    await expect(createOnnxScorer(bytes, { batchRows: 0 })).rejects.toThrow(/batchRows must be a positive integer/);
  });

  it('same model ⇒ byte-identical ONNX, also after a JSON round trip; threshold in metadata', () => {
    const a = exportOnnx(model);
    expect(Buffer.from(exportOnnx(model)).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(exportOnnx(parseModel(serializeModel(model)))).equals(Buffer.from(a))).toBe(true);
    const threshold = 0.4953600046144481;
    const withThreshold = exportOnnx({ ...model, threshold });
    const metadata = onnxMetadata(withThreshold);
    // Read back exactly (the scorers take the threshold from here), next to the export's other properties.
    expect(Number(metadata.get('threshold'))).toBe(threshold);
    expect(metadata.get('trees')).toBe(String(model.trees.length));
    expect(JSON.parse(metadata.get('inputs')!)).toEqual(onnxInputs(model));
    expect(onnxMetadata(a).has('threshold')).toBe(false);
  });

  it('metadata reader: truncated or malformed bytes are named errors, not garbage', () => {
    const bytes = exportOnnx({ ...model, threshold: 0.5 });
    expect(() => onnxMetadata(bytes.subarray(0, bytes.length - 3))).toThrow(/runs past the end|truncated/);
    expect(() => onnxMetadata(Uint8Array.from([0x0f]))).toThrow(/unsupported wire type 7/);
    expect(() => onnxMetadata(Uint8Array.from([0x08, 0xff]))).toThrow(/truncated varint/);
    expect(onnxMetadata(new Uint8Array(0)).size).toBe(0);
  });

  it.each([1, 2])(
    'in %i worker thread(s), concurrent calls (merged into shared runs) score exactly as one by one; a bad call fails alone',
    async (threads) => {
      const direct = await createOnnxScorer(exportOnnx(model));
      const threaded = await createThreadedOnnxScorer(exportOnnx(model), { threads });
      try {
        // 40 calls of 1..7 rows from different places of the scoring rows: all but the first queue while it runs.
        const n = scoring.rowCount;
        const all: LabelledMatrix = {
          matrix: scoring,
          labels: new Uint8Array(n),
          folds: new Int32Array(n),
          rowIdx: new Float64Array(n),
        };
        const calls = Array.from({ length: 40 }, (_, k) => {
          const lo = (k * 97) % (n - 7);
          return selectRows(all, (i) => i >= lo && i < lo + 1 + (k % 7)).matrix;
        });
        const bad = { appId: ['a'] };
        const results = await Promise.allSettled([
          ...calls.slice(0, 20).map((c) => threaded.run(c)),
          threaded.run(bad),
          ...calls.slice(20).map((c) => threaded.run(c)),
        ]);
        const rejected = results.filter((r) => r.status === 'rejected');
        expect(rejected).toHaveLength(1);
        expect(String((rejected[0] as PromiseRejectedResult).reason)).toMatch(/missing input columns/);
        const scored = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
        for (let k = 0; k < calls.length; k++) {
          const expected = await direct.run(calls[k]!);
          expect(Array.from(scored[k]!.probability)).toEqual(Array.from(expected.probability));
          expect(Array.from(scored[k]!.raw)).toEqual(Array.from(expected.raw));
        }
        expect(await threaded.score({ ...Object.fromEntries(threaded.inputs.map((i) => [i.name, []])) })).toHaveLength(
          0,
        );
      } finally {
        await threaded.close();
        await direct.close();
      }
      await expect(threaded.score(scoring)).rejects.toThrow(/closed/);
    },
  );

  it('a threaded scorer needs a whole number of threads', async () => {
    await expect(createThreadedOnnxScorer(exportOnnx(model), { threads: 0 })).rejects.toThrow(
      /threads must be a positive integer, got 0/,
    );
  });

  it('a missing input is a clear error', async () => {
    const bytes = exportOnnx(model);
    const scorer = await createOnnxScorer(bytes);
    const partial: FeatureMatrix = { ...scoring, categorical: scoring.categorical.filter((c) => c.name !== 'appId') };
    await expect(scorer.score(partial)).rejects.toThrow(GbdtDataError);
    await expect(scorer.score(partial)).rejects.toThrow(/missing input column 'appId' \(string\)/);
    await scorer.close();
    // onnxruntime itself refuses too (for callers that bypass the scorer).
    const session = await InferenceSession.create(bytes);
    const feeds = { seniority: new Tensor('float64', new Float64Array([1]), [1]) };
    await expect(session.run(feeds)).rejects.toThrow(/appId/);
    await session.release();
  });
});

describe("the scorer's coded graph (categorical codes computed in JavaScript)", () => {
  /** Every variant of the rewrite: none, the default, and each part alone or pushed to its limit. */
  const variants: Array<[string, CodedGraphOptions | false]> = [
    ['the string graph as exported', false],
    ['default', {}],
    ['coded inputs only', { denseMaxEntries: 0, columnTableMaxWidth: 0 }],
    ['dense ids, no folding, no column tables', { foldMaxBytes: 0, columnTableMaxWidth: 0 }],
    ['int64 codes', { int32Codes: false }],
    ['int32 codes, every interning kept as a LabelEncoder', { denseMaxEntries: 0 }],
    ['every table by columns, everything folded', { columnTableMaxWidth: 1000, foldMaxBytes: 2 ** 30 }],
  ];

  it('the rewrite replaces the string encoders, interns through dense tables, folds them and picks by columns', () => {
    const bytes = exportOnnx(model);
    const stringInputs = onnxInputs(model).filter((i) => i.type === 'string');
    const coded = codedGraph(bytes)!;
    expect(coded.inputs.map((i) => i.name)).toEqual(onnxInputs(model).map((i) => i.name));
    // One encoder per categorical the trees read (CTR codes and one-hot indices), and the string inputs are gone.
    expect(coded.encoders.length).toBeGreaterThanOrEqual(stringInputs.length - 1);
    const graph = decodeModel(coded.bytes).graph;
    expect(graph.inputs.some((i) => i.elemType === 'STRING')).toBe(false);
    expect(
      graph.nodes.some((n) => n.opType === 'LabelEncoder' && stringInputs.some((i) => n.inputs.includes(i.name))),
    ).toBe(false);
    expect(coded.stats.denseEncoders + coded.stats.foldedTables).toBeGreaterThan(0);
    expect(coded.stats.foldedTables).toBeGreaterThan(0);
    expect(coded.stats.columnTables).toBeGreaterThan(0);
    expect(codedGraph(bytes, { denseMaxEntries: 0 })!.stats).toMatchObject({ denseEncoders: 0, foldedTables: 0 });
    expect(coded.codeType).toBe('int32');
    expect(graph.inputs.filter((i) => i.elemType === 'INT32').map((i) => i.name)).toEqual(
      coded.encoders.map((e) => e.coded),
    );
    expect(codedGraph(bytes, { int32Codes: false })!.codeType).toBe('int64');
    // Batches sized by the model: trees · (depth + 12) bytes per row, 64 MiB a batch.
    expect(coded.rowBytes).toBe(model.trees.length * (model.params.depth + 12));
    expect([batchRowsFor(500 * 20), batchRowsFor(100 * 20), batchRowsFor(40 * 17), batchRowsFor(1e6)]).toEqual([
      4096, 32768, 65536, 1024,
    ]);
    expect(batchRowsFor(undefined)).toBe(ONNX_BATCH_ROWS);
    // The exported bytes are untouched (model.onnx keeps its string inputs) and decode/encode round-trips them.
    expect(Buffer.from(encodeModel(decodeModel(bytes))).equals(Buffer.from(bytes))).toBe(true);
    expect(decodeModel(bytes).graph.inputs.filter((i) => i.elemType === 'STRING')).toHaveLength(stringInputs.length);
  });

  it.each(variants)(
    '%s: the same scores as the string graph and the TS evaluator (unseen values and combinations, NaN, batches)',
    async (_, coded) => {
      const bytes = exportOnnx(model);
      const reference = await createOnnxScorer(bytes, { coded: false });
      const scorer = await createOnnxScorer(bytes, { coded, batchRows: 97 });
      try {
        const expected = await reference.run(scoring);
        const got = await scorer.run(scoring);
        // Bytes as a Node Buffer at an offset of a larger allocation (as read from a file) decode alike.
        const file = Buffer.concat([Buffer.from('padding'), Buffer.from(bytes)]).subarray(7);
        const fromFile = await createOnnxScorer(file, { coded, batchRows: 97 });
        expect(Array.from((await fromFile.run(scoring)).probability)).toEqual(Array.from(expected.probability));
        await fromFile.close();
        expect(Array.from(got.probability)).toEqual(Array.from(expected.probability));
        expect(Array.from(got.raw)).toEqual(Array.from(expected.raw));
        expect(maxAbsDiff(predictProba(model, scoring), got.probability)).toBeLessThanOrEqual(1e-5);
        // The same rows as string columns (every value looked up per row) score the same.
        const columns: Record<string, string[] | Float64Array> = {};
        for (const c of scoring.categorical) columns[c.name] = Array.from(c.codes, (k) => c.dictionary[k]!);
        for (const c of scoring.numeric) columns[c.name] = c.values;
        expect(Array.from(await scorer.score(columns))).toEqual(Array.from(expected.probability));
      } finally {
        await reference.close();
        await scorer.close();
      }
    },
  );

  it('a graph whose string input is read by another operator is scored as given', async () => {
    // x (string) → Identity → y; the rewrite has no encoder to take over, so it declines.
    const bytes = encodeModel({
      irVersion: 9,
      opsetImports: [{ domain: '', version: 20 }],
      producerName: 'test',
      producerVersion: '1',
      doc: '',
      graph: {
        name: 'g',
        doc: '',
        nodes: [{ opType: 'Identity', domain: '', name: 'id', inputs: ['x'], outputs: ['y'], attributes: [] }],
        initializers: [],
        inputs: [{ name: 'x', elemType: 'STRING', shape: ['N'] }],
        outputs: [{ name: 'y', elemType: 'STRING', shape: ['N'] }],
      },
      metadata: [],
    });
    expect(codedGraph(bytes)).toBeUndefined();
    expect(() => codedGraph(bytes.subarray(0, bytes.length - 2))).toThrow(RangeError);
  });
});

describe('calibration in the model and the ONNX export', () => {
  /** The model with `calibration`; ONNX vs TS on the scoring rows (real, unseen, NaN). */
  async function parity(calibration: NonNullable<GbdtModel['calibration']>): Promise<Float64Array> {
    const m = { ...model, calibration };
    const ts = predictProba(m, scoring);
    const { p, raw } = await onnxScores(m, scoring);
    expect(maxAbsDiff(ts, p)).toBeLessThanOrEqual(1e-6);
    // raw stays the uncalibrated log-odds.
    expect(maxAbsDiff(predictRaw(model, scoring), raw)).toBeLessThanOrEqual(1e-4);
    return ts;
  }

  it('Platt: predictProba applies 1 / (1 + exp(a·logit(p) + b)) and onnxruntime agrees', async () => {
    const platt = { method: 'platt' as const, a: -1.4, b: 0.3 };
    const ts = await parity(platt);
    const plain = predictProba(model, scoring);
    for (const i of [0, 1, 2, 500]) expect(ts[i]).toBeCloseTo(applyPlatt(platt, plain[i]!), 15);
    expect(maxAbsDiff(ts, plain)).toBeGreaterThan(0.01);
  });

  it('isotonic: fitted on held-out scores, knots hit exactly and clipped outside; onnxruntime agrees', async () => {
    const plain = predictProba(model, scoring);
    const labels = selectRows(data, (i) => data.folds[i] === 0).labels;
    const iso = fitIsotonic(labels, plain.subarray(0, labels.length));
    expect(iso.x.length).toBeGreaterThan(8);
    const ts = await parity(iso);
    for (let i = 0; i < 50; i++) expect(ts[i]).toBe(applyIsotonic(iso, plain[i]!));
    // Below the first knot and above the last: the end values.
    const lo = { ...iso, x: iso.x.map((x) => x + 2) };
    expect(Array.from(await parity(lo)).every((v) => v === lo.y[0])).toBe(true);
  });

  it('the pipeline stores the configured calibrator and maps the threshold onto its scale', () => {
    const report = {
      recommended: 'isotonic' as const,
      platt: { method: 'platt' as const, a: -1.2, b: 0.1 },
      isotonic: { method: 'isotonic' as const, x: [0.1, 0.5, 0.9], y: [0.05, 0.4, 0.95] },
    };
    const none = structuredClone(model);
    calibrateFinalModel(none, 'none', report, 0.55);
    expect(none.calibration).toBeUndefined();
    expect(none.threshold).toBe(0.55);
    const platt = structuredClone(model);
    calibrateFinalModel(platt, 'platt', report, 0.55);
    expect(platt.calibration).toEqual(report.platt);
    expect(platt.threshold).toBe(applyPlatt(report.platt, 0.55));
    const auto = structuredClone(model);
    calibrateFinalModel(auto, 'auto', report, 0.7);
    expect(auto.calibration).toEqual(report.isotonic);
    expect(auto.threshold).toBeCloseTo(0.4 + (0.55 * 0.2) / 0.4, 12);
    // The calibrated model still parses (the scoring spec is validated on load).
    expect(parseModel(serializeModel(auto)).calibration).toEqual(report.isotonic);
  });

  it('rejects malformed calibrators when a model file is parsed', () => {
    const bad = { ...model, calibration: { method: 'isotonic', x: [0.2, 0.1], y: [0, 1] } };
    expect(() => parseModel(JSON.stringify(bad))).toThrow(/x must increase/);
  });
});

describe('ONNX export: small and hand-made models', () => {
  it('a model with only numeric features (nan_mode Max) matches, NaN included', async () => {
    const numericOnly: FeatureMatrix = {
      rowCount: data.matrix.rowCount,
      categorical: [],
      numeric: data.matrix.numeric,
    };
    const m = trainGbdt(numericOnly, data.labels, { iterations: 20, depth: 4, nan_mode: 'Max', random_seed: 3 });
    expect(m.ctrTables).toEqual([]);
    expect(m.floatFeatures.some((f) => f.borders.at(-1) === Number.MAX_VALUE)).toBe(true);
    const { p } = await onnxScores(m, numericOnly);
    expect(maxAbsDiff(predictProba(m, numericOnly), p)).toBeLessThanOrEqual(1e-5);
  });

  // x > 0.1 (nan Min), CTR Borders(prior 0.5) of `app` > 0.3, one-hot `kind` == 'b', y > 0 (nan Max).
  const hand: GbdtModel = {
    format: GBDT_MODEL_FORMAT,
    formatVersion: GBDT_MODEL_FORMAT_VERSION,
    lossFunction: 'Logloss',
    features: [
      { name: 'app', type: 'categorical' },
      { name: 'kind', type: 'categorical' },
      { name: 'x', type: 'numeric' },
      { name: 'y', type: 'numeric' },
    ],
    bestIteration: null,
    iterationsRun: 2,
    bestEvalMetric: null,
    params: resolveParams({}, 4),
    floatFeatures: [
      { name: 'x', nanMode: 'Min', borders: [0.1] },
      { name: 'y', nanMode: 'Max', borders: [0] },
    ],
    oneHotFeatures: [{ name: 'kind', values: ['a', 'b'] }],
    ctrTables: [
      tableOfEntries(
        ['app'],
        [
          [['a1'], 1, 1],
          [['a2'], 0, 3],
        ],
        3,
      ),
    ],
    ctrs: [{ table: 0, type: 'Borders', prior: 0.5, borders: [0.3] }],
    trees: [
      {
        splits: [
          { type: 'float', feature: 0, border: 0.1 },
          { type: 'ctr', ctr: 0, border: 0.3 },
        ],
        leafValues: [1, 2, 4, 8],
      },
      {
        splits: [
          { type: 'onehot', feature: 0, value: 'b' },
          { type: 'float', feature: 1, border: 0 },
        ],
        leafValues: [16, 32, 64, 128],
      },
    ],
    bias: -100,
  };

  it('hand-made model: exact borders, NaN sides, unseen CTR value, one-hot', async () => {
    const nextUp = 0.1 + 2 ** -56; // the double right after 0.1
    const cols = {
      app: ['a1', 'a2', 'zz', 'a1', 'a2', 'zz'],
      kind: ['a', 'b', 'c', 'b', 'a', 'b'],
      x: [0.1, nextUp, NaN, Infinity, -Infinity, 0.1000000001],
      y: [0, NaN, 1e-300, -1e-300, 5, NaN],
    };
    const matrix = toMatrix(cols);
    // ctr(a1) = 1.5/2 = 0.75 > 0.3; ctr(a2) = 0.5/4 = 0.125; unseen: 0.5/1 = 0.5 > 0.3.
    const expected = [-100 + 4 + 16, -100 + 2 + 128, -100 + 4 + 64, -100 + 8 + 32, -100 + 1 + 64, -100 + 8 + 128];
    expect(Array.from(predictRaw(hand, matrix))).toEqual(expected);
    const scorer = await createOnnxScorer(exportOnnx(hand));
    const { raw } = await scorer.run(cols);
    await scorer.close();
    expect(Array.from(raw)).toEqual(expected);
  });

  it('depth 9 (leaf index from two groups of levels) and trees of different depths match the evaluator', async () => {
    const deep = trainGbdt(data.matrix, data.labels, { iterations: 3, depth: 9, learning_rate: 0.3, random_seed: 5 });
    expect(deep.trees.every((t) => t.splits.length === 9)).toBe(true);
    // A depth-1 tree beside the depth-9 ones: its 8 padded levels read the never-true condition.
    const mixed: GbdtModel = {
      ...deep,
      trees: [...deep.trees, { splits: [deep.trees[0]!.splits[3]!], leafValues: [-0.25, 0.5] }],
    };
    for (const m of [deep, mixed]) {
      const { raw } = await onnxScores(m, scoring);
      expect(maxAbsDiff(predictRaw(m, scoring), raw)).toBeLessThanOrEqual(1e-5);
    }
    const without = predictRaw(deep, scoring);
    const added = Array.from(predictRaw(mixed, scoring), (r, i) => Math.round((r - without[i]!) * 4) / 4);
    expect(new Set(added)).toEqual(new Set([-0.25, 0.5]));
  });

  it('a combination table without stats scores every row as unseen', async () => {
    const withEmpty: GbdtModel = {
      ...hand,
      ctrTables: [...hand.ctrTables, tableOfEntries(['app', 'kind'], [], 0)],
      ctrs: [...hand.ctrs, { table: 1, type: 'Borders', prior: 0.25, borders: [0.2] }],
      trees: [...hand.trees, { splits: [{ type: 'ctr', ctr: 1, border: 0.2 }], leafValues: [-1, 1] }],
    };
    const cols = { app: ['a1', 'a2', 'zz'], kind: ['a', 'b', ''], x: [0, 1, NaN], y: [0, 1, NaN] };
    const scorer = await createOnnxScorer(exportOnnx(withEmpty));
    const { raw } = await scorer.run(cols);
    await scorer.close();
    const added = Array.from(raw, (r, i) => r - Number(predictRaw(hand, toMatrix(cols))[i]));
    // unseen: (0 + 0.25) / (0 + 1) = 0.25 > 0.2, so every row takes the right leaf.
    expect(added).toEqual([1, 1, 1]);
  });

  it('rejects models it cannot express, naming the problem', () => {
    expect(() => exportOnnx({ ...hand, trees: [] })).toThrow(GbdtModelError);
    expect(() => exportOnnx({ ...hand, trees: [] })).toThrow(/no trees/);
    const clash = { ...hand, features: hand.features.map((f) => (f.name === 'x' ? { ...f, name: 'probability' } : f)) };
    expect(() => exportOnnx(clash)).toThrow(/'probability' is the name of an output/);
  });
});
