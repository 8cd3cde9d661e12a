/**
 * Exports a `GbdtModel` to one self-contained ONNX graph that scores raw feature columns, with the same results as
 * the TS evaluator (`predictRaw` / `predictProba`).
 *
 * Graph contract:
 * - one input per model feature, named as the feature, shape [N]: `string` for categoricals (values exactly as the
 *   pipeline produces them: missing is the sentinel `__UNKNOWN__`), `double` for numerics (NaN = missing);
 * - outputs `probability` (float [N]: sigmoid of the raw score, then the model's calibrator when it has one) and
 *   `raw` (float [N], log-odds); everything before the final Casts is float64;
 * - metadata_props: the model's `threshold` (when set), the input list, the format.
 *
 * How the model maps onto standard operators (ONNX opset 20 + ai.onnx.ml opset 3, all implemented by onnxruntime).
 * The trees are oblivious, so instead of walking trees (TreeEnsembleRegressor: ~9k rows/s on the default model, ten
 * times slower) the graph computes every split condition for all rows at once and turns bits into leaf indices
 * with array operations:
 * 1. Condition bits [conditions, N] (uint8 0/1), one row per distinct (feature, border) the trees split on —
 *    - numeric feature: Less of its border column against the value row; NaN exceeds no border, or, for nan_mode
 *      'Max', is first replaced by +∞;
 *    - CTR table: one byte per (CTR of the table, border), precomputed per key in float64 with the evaluator's own
 *      `ctrValue` (the graph never compares a rounded CTR) and picked by a row Gather on the key's id, then
 *      transposed (pickRows). Keys are
 *      numbers: each categorical input → int64 code (LabelEncoder on the string), a combination's prefix →
 *      interned id (int64 LabelEncoder on previous id · radix + code, shared by tables with that prefix); the
 *      last row of a table is the unseen key;
 *    - one-hot feature: a bit per value the trees test.
 *    The parts, each [k, N], are concatenated along axis 0.
 * 2. Gather each (level, tree)'s condition row → [depth, trees, N]; MatMulInteger with [1, 2, 4, …] → leaf index
 *    [trees, N] (int32, exact); GatherElements from the [trees, 2^depth] leaf table (float64); ReduceSum over trees;
 *    + bias; Sigmoid.
 * Bytes rather than floats and no bool→float Cast: on the default model this layout scores 98,500 rows/s on one
 * core against 73,000 for float bucket rows compared per condition (bench/onnx-throughput.ts). The largest tensor is
 * [depth · trees, N] bytes: score large inputs in batches (`createOnnxScorer` does).
 *
 * The bytes are a function of the model only (no timestamps, no map-order dependence): same model ⇒ same bytes.
 */
import type { GbdtModel } from '../../../schemas/gbdt';
import { LOGIT_EPS } from '../calibration';
import { ctrValue } from '../ctr';
import { GbdtModelError } from '../errors';
import { DataType, encodeModel } from './onnx-proto';
import type { OnnxAttribute, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnx-proto';

export const ONNX_PROBABILITY_OUTPUT = 'probability';
export const ONNX_RAW_OUTPUT = 'raw';
/** Version of this export's graph layout, recorded in metadata_props (`access-perm.onnx_export`). */
export const ONNX_EXPORT_VERSION = 3;
export const ONNX_OPSET = 20;
export const ONNX_ML_OPSET = 3;
const IR_VERSION = 9; // the IR version that introduced opset 20
const ML = 'ai.onnx.ml';
/** Prefix of every tensor and node name the graph creates; feature names must not start with it. */
const INTERNAL = '@gbdt/';

/** One graph input: a model feature. */
export interface OnnxInputSpec {
  name: string;
  /** 'string' for categoricals, 'double' (float64) for numerics. */
  type: 'string' | 'double';
}

/** The inputs the exported graph of `model` takes, in the model's feature order. */
export function onnxInputs(model: Pick<GbdtModel, 'features'>): OnnxInputSpec[] {
  return model.features.map((f) => ({ name: f.name, type: f.type === 'numeric' ? 'double' : 'string' }));
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const ascending = (a: number, b: number): number => a - b;

/** Accumulates nodes and initializers with unique internal names. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];

  constant(name: string, t: Omit<OnnxTensor, 'name'>): string {
    const full = `${INTERNAL}${name}`;
    this.initializers.push({ ...t, name: full } as OnnxTensor);
    return full;
  }

  /** A constant made once and reused by every caller that asks for `name`. */
  shared(name: string, t: Omit<OnnxTensor, 'name'>): string {
    const full = `${INTERNAL}${name}`;
    return this.initializers.some((i) => i.name === full) ? full : this.constant(name, t);
  }

  /** Adds a node with one output named `${INTERNAL}${output}`; returns the output name. */
  op(opType: string, inputs: string[], output: string, attributes: OnnxAttribute[] = [], domain = ''): string {
    const full = `${INTERNAL}${output}`;
    this.nodes.push({ opType, domain, name: `${INTERNAL}${opType}/${output}`, inputs, outputs: [full], attributes });
    return full;
  }
}

/** Splits of the model grouped by what they read, with the X column each (feature, threshold family) gets. */
interface SplitUse {
  /** Float feature index → ascending distinct borders used by the trees. */
  floatBorders: Map<number, number[]>;
  /** CTR index → ascending distinct borders used by the trees. */
  ctrBorders: Map<number, number[]>;
  /** One-hot feature index → distinct split values, code-unit order. */
  oneHotValues: Map<number, string[]>;
}

function collectSplits(model: GbdtModel): SplitUse {
  const floatBorders = new Map<number, Set<number>>();
  const ctrBorders = new Map<number, Set<number>>();
  const oneHot = new Map<number, Set<string>>();
  for (const tree of model.trees) {
    for (const s of tree.splits) {
      if (s.type === 'float') {
        if (!floatBorders.has(s.feature)) floatBorders.set(s.feature, new Set());
        floatBorders.get(s.feature)!.add(s.border);
      } else if (s.type === 'ctr') {
        if (!ctrBorders.has(s.ctr)) ctrBorders.set(s.ctr, new Set());
        ctrBorders.get(s.ctr)!.add(s.border);
      } else {
        if (!oneHot.has(s.feature)) oneHot.set(s.feature, new Set());
        oneHot.get(s.feature)!.add(s.value);
      }
    }
  }
  const sorted = <K>(m: Map<K, Set<number>>): Map<K, number[]> =>
    new Map([...m].map(([k, b]) => [k, [...b].sort(ascending)] as const));
  return {
    floatBorders: sorted(floatBorders),
    ctrBorders: sorted(ctrBorders),
    oneHotValues: new Map([...oneHot].map(([f, v]) => [f, [...v].sort(byCodeUnit)] as const)),
  };
}

function checkModel(model: GbdtModel): void {
  const bad = (msg: string): never => {
    throw new GbdtModelError(`cannot export to ONNX: ${msg}`);
  };
  if (model.trees.length === 0) bad('the model has no trees');
  const names = new Set<string>();
  for (const f of model.features) {
    if (names.has(f.name)) bad(`feature '${f.name}' appears twice`);
    names.add(f.name);
    if (f.name.startsWith(INTERNAL)) bad(`feature name '${f.name}' starts with the reserved prefix '${INTERNAL}'`);
    if (f.name === ONNX_PROBABILITY_OUTPUT || f.name === ONNX_RAW_OUTPUT) {
      bad(`feature name '${f.name}' is the name of an output`);
    }
  }
  const typeOf = new Map(model.features.map((f) => [f.name, f.type] as const));
  const need = (name: string, type: 'numeric' | 'categorical', what: string): void => {
    if (typeOf.get(name) !== type) bad(`${what} reads '${name}', which is not a ${type} feature of the model`);
  };
  model.floatFeatures.forEach((f, i) => need(f.name, 'numeric', `float feature ${i}`));
  model.oneHotFeatures.forEach((f, i) => need(f.name, 'categorical', `one-hot feature ${i}`));
  model.ctrTables.forEach((t, i) => t.features.forEach((name) => need(name, 'categorical', `CTR table ${i}`)));
  model.trees.forEach((tree, ti) => {
    if (tree.leafValues.length !== 2 ** tree.splits.length) {
      bad(`tree ${ti} has ${tree.leafValues.length} leaf values for depth ${tree.splits.length}`);
    }
    for (const s of tree.splits) {
      if (s.type === 'float' && !model.floatFeatures[s.feature]) bad(`tree ${ti} splits on float feature ${s.feature}`);
      if (s.type === 'onehot' && !model.oneHotFeatures[s.feature]) bad(`tree ${ti} splits on one-hot ${s.feature}`);
      if (s.type === 'ctr') {
        const c = model.ctrs[s.ctr];
        if (!c) bad(`tree ${ti} splits on CTR ${s.ctr}, which does not exist`);
        else if (!model.ctrTables[c.table]) bad(`CTR ${s.ctr} reads table ${c.table}, which does not exist`);
      }
    }
  });
}

/**
 * The bits of a constant table picked per row, as condition rows: `table` [K, m] (row-major uint8), `index` int64
 * [N] with values in [0, K) → [m, N]. Gather along axis 0 copies one m-byte row per input row, then a Transpose;
 * gathering the transposed table along axis 1 instead copies byte by byte, and was 1.6–2.5× slower on the default
 * model (bench/onnx-throughput.ts).
 */
function pickRows(g: GraphBuilder, name: string, index: string, table: Uint8Array, m: number): string {
  const data = g.constant(`${name}.table`, { type: 'UINT8', dims: [table.length / m, m], values: table });
  return g.op('Transpose', [g.op('Gather', [data, index], `${name}.rows`)], `${name}.bits`);
}

/** A LabelEncoder node mapping `keys` to `values`, anything else to `fallback` (strings or int64 keys → int64). */
function encode(
  g: GraphBuilder,
  name: string,
  input: string,
  keys: { strings: string[] } | { ints: number[] },
  values: readonly number[],
  fallback: number,
): string {
  // A table whose stats hold no key for this input (all its rows dropped) still needs an encoder: one key that
  // maps to the fallback itself, so every value encodes as unseen whatever it is (an empty key list is invalid).
  if (('strings' in keys ? keys.strings : keys.ints).length === 0) {
    keys = 'strings' in keys ? { strings: [''] } : { ints: [-1] };
    values = [fallback];
  }
  return g.op(
    'LabelEncoder',
    [input],
    name,
    [
      'strings' in keys
        ? { name: 'keys_strings', kind: 'strings', value: keys.strings }
        : { name: 'keys_int64s', kind: 'ints', value: keys.ints },
      { name: 'values_int64s', kind: 'ints', value: values },
      { name: 'default_int64', kind: 'int', value: fallback },
    ],
    ML,
  );
}

/**
 * The model's calibrator applied to the probability tensor `p` (double [N]), with the operations of
 * lib/evaluation/calibration.ts in the same order, so the results agree to the last bits of float64:
 * - Platt: q = clip(p, ε, 1 − ε); 1 / (1 + exp(a · log(q / (1 − q)) + b)) = Sigmoid(−(a · logit + b));
 * - isotonic: p clipped to [x₀, x_last]; k = the last knot ≤ p by binary search (⌈log₂ K⌉ rounds of Gather +
 *   LessOrEqual over [N], the knots padded with +∞ to a power of two); y_k + (y_{k+1} − y_k)(p − x_k)/(x_{k+1} − x_k),
 *   the last knot with a zero slope.
 */
function calibrated(g: GraphBuilder, p: string, c: GbdtModel['calibration']): string {
  if (!c) return p;
  const scalar = (name: string, v: number): string => g.constant(name, { type: 'DOUBLE', dims: [], values: [v] });
  if (c.method === 'platt') {
    const q = g.op(
      'Max',
      [g.op('Min', [p, scalar('platt.hi', 1 - LOGIT_EPS)], 'platt.q1'), scalar('platt.lo', LOGIT_EPS)],
      'platt.q',
    );
    const odds = g.op('Div', [q, g.op('Sub', [scalar('platt.one', 1), q], 'platt.1-q')], 'platt.odds');
    const z = g.op(
      'Add',
      [g.op('Mul', [scalar('platt.a', c.a), g.op('Log', [odds], 'platt.logit')], 'platt.az'), scalar('platt.b', c.b)],
      'platt.z',
    );
    return g.op('Sigmoid', [g.op('Neg', [z], 'platt.-z')], 'platt.p');
  }
  const k = c.x.length;
  const size = 2 ** Math.ceil(Math.log2(k));
  const xs = new Float64Array(size).fill(Infinity);
  xs.set(c.x);
  const dy = c.y.map((y, i) => (i + 1 < k ? c.y[i + 1]! - y : 0));
  const dx = c.x.map((x, i) => (i + 1 < k ? c.x[i + 1]! - x : 1));
  const knots = g.constant('iso.x', { type: 'DOUBLE', dims: [size], values: xs });
  const q = g.op(
    'Max',
    [g.op('Min', [p, scalar('iso.last', c.x[k - 1]!)], 'iso.q1'), scalar('iso.first', c.x[0]!)],
    'iso.q',
  );
  // lo starts at 0 (x₀ ≤ q) and takes each step whose knot is still ≤ q.
  let lo = g.op('ConstantOfShape', [g.op('Shape', [q], 'iso.shape')], 'iso.lo', [
    { name: 'value', kind: 'tensor', value: { name: 'value', type: 'INT64', dims: [1], values: [0] } },
  ]);
  for (let step = size / 2; step >= 1; step /= 2) {
    const stepC = g.constant(`iso.step${step}`, { type: 'INT64', dims: [], values: [step] });
    const candidate = g.op('Add', [lo, stepC], `iso.cand${step}`);
    const ok = g.op('LessOrEqual', [g.op('Gather', [knots, candidate], `iso.x${step}`), q], `iso.ok${step}`);
    const take = g.op('Cast', [ok], `iso.take${step}`, [{ name: 'to', kind: 'int', value: DataType.INT64 }]);
    lo = g.op('Add', [lo, g.op('Mul', [take, stepC], `iso.move${step}`)], `iso.lo${step}`);
  }
  const at = (name: string, values: number[]): string =>
    g.op('Gather', [g.constant(`iso.${name}`, { type: 'DOUBLE', dims: [k], values }), lo], `iso.${name}@lo`);
  const rise = g.op('Mul', [at('dy', dy), g.op('Sub', [q, at('xk', c.x)], 'iso.dx')], 'iso.rise');
  return g.op('Add', [at('yk', c.y), g.op('Div', [rise, at('width', dx)], 'iso.slope')], 'iso.p');
}

/**
 * Exports `model` to ONNX bytes (a serialized ModelProto) that onnxruntime scores from raw feature columns.
 * @example
 *   const bytes = exportOnnx(parseModel(await readFile('model.json', 'utf8')));
 *   await writeFile('model.onnx', bytes);
 * @throws GbdtModelError when the model cannot be expressed (no trees, inconsistent references, name clashes)
 */
export function exportOnnx(model: GbdtModel): Uint8Array {
  checkModel(model);
  const use = collectSplits(model);
  const g = new GraphBuilder();
  /** Tensors [k, N] (uint8 0/1 condition bits) concatenated into the condition matrix, and its running row count. */
  const parts: string[] = [];
  let conditionCount = 0;
  const toUint8: OnnxAttribute[] = [{ name: 'to', kind: 'int', value: DataType.UINT8 }];

  // Numeric inputs → one bit per border the trees use: value > border (NaN first replaced by its nan_mode side).
  const floatConditions = new Map<number, number>();
  let infinity: string | undefined;
  for (const fi of [...use.floatBorders.keys()].sort(ascending)) {
    const ff = model.floatFeatures[fi]!;
    const borders = use.floatBorders.get(fi)!;
    let x = ff.name;
    if (ff.nanMode === 'Max') {
      // NaN counts as +∞ (exceeds every border); for 'Min' NaN already exceeds none (every comparison is false).
      infinity ??= g.constant('infinity', { type: 'DOUBLE', dims: [], values: [Infinity] });
      x = g.op('Where', [g.op('IsNaN', [x], `float${fi}.isnan`), infinity, x], `float${fi}.nan`);
    }
    const b = g.constant(`float${fi}.borders`, { type: 'DOUBLE', dims: [borders.length, 1], values: borders });
    const axis0 = g.shared('axes0', { type: 'INT64', dims: [1], values: [0] });
    const row = g.op('Unsqueeze', [x, axis0], `float${fi}.row`);
    parts.push(g.op('Cast', [g.op('Less', [b, row], `float${fi}.above`)], `float${fi}.bits`, toUint8));
    floatConditions.set(fi, conditionCount);
    conditionCount += borders.length;
  }
  // CTR tables. Keys become numbers: every categorical input a table reads → int64 code (LabelEncoder on the
  // string; values sorted, an unseen value = the count); a combination's prefix f1..fj (j ≥ 2) → an id interned
  // from (id of f1..fj−1) · (codes of fj + 1) + code of fj, one int64 LabelEncoder per distinct prefix, shared by
  // the tables that start with it; an unseen prefix gets the id count, so every longer prefix is unseen too. A
  // table then picks each row's condition bytes from a dense [ids + 1, conditions] table by the id of its full key.
  const ctrsOfTable = new Map<number, number[]>();
  for (const ci of [...use.ctrBorders.keys()].sort(ascending)) {
    const t = model.ctrs[ci]!.table;
    if (!ctrsOfTable.has(t)) ctrsOfTable.set(t, []);
    ctrsOfTable.get(t)!.push(ci);
  }
  const usedTables = [...ctrsOfTable.keys()].sort(ascending);
  const valuesOf = new Map<string, Set<string>>();
  for (const ti of usedTables) {
    const table = model.ctrTables[ti]!;
    table.features.forEach((f, j) => {
      if (!valuesOf.has(f)) valuesOf.set(f, new Set());
      const set = valuesOf.get(f)!;
      for (const v of table.values[j]!) set.add(v);
    });
  }
  const codeOf = new Map<string, Map<string, number>>();
  const codeTensor = new Map<string, string>();
  for (const f of [...valuesOf.keys()].sort(byCodeUnit)) {
    const values = [...valuesOf.get(f)!].sort(byCodeUnit);
    codeOf.set(f, new Map(values.map((v, i) => [v, i] as const)));
    codeTensor.set(
      f,
      encode(
        g,
        `code/${f}`,
        f,
        { strings: values },
        values.map((_, i) => i),
        values.length,
      ),
    );
  }
  /** Per prefix (features joined by U+0000): (previous id · radix + code) → id, in first-seen order. */
  const prefixIds = new Map<string, Map<number, number>>();
  /** Per used table: the id of every stats row's full key. */
  const keyIds = new Map<number, number[]>();
  for (const ti of usedTables) {
    const table = model.ctrTables[ti]!;
    const { features, keys } = table;
    const width = features.length;
    // Each feature's positions in the table's values → the feature's codes.
    const codes = features.map((f, j) => table.values[j]!.map((v) => codeOf.get(f)!.get(v)!));
    const prefixes = features.map((_, j) => {
      const prefix = features.slice(0, j + 1).join('\u0000');
      if (j > 0 && !prefixIds.has(prefix)) prefixIds.set(prefix, new Map());
      return prefixIds.get(prefix);
    });
    keyIds.set(
      ti,
      table.positives.map((_, r) => {
        let id = codes[0]![keys[r * width]!]!;
        for (let j = 1; j < width; j++) {
          const ids = prefixes[j]!;
          const key = id * (codeOf.get(features[j]!)!.size + 1) + codes[j]![keys[r * width + j]!]!;
          if (!ids.has(key)) ids.set(key, ids.size);
          id = ids.get(key)!;
        }
        return id;
      }),
    );
  }
  const idTensor = new Map<string, { tensor: string; count: number }>();
  /** The int64 id tensor of a key over `features` and how many ids it has (the unseen id = count). */
  const idOf = (features: string[]): { tensor: string; count: number } => {
    const name = features.join('\u0000');
    const known = idTensor.get(name);
    if (known) return known;
    let out: { tensor: string; count: number };
    if (features.length === 1) out = { tensor: codeTensor.get(features[0]!)!, count: codeOf.get(features[0]!)!.size };
    else {
      const prev = idOf(features.slice(0, -1));
      const f = features.at(-1)!;
      const radix = g.constant(`radix/${name}`, { type: 'INT64', dims: [], values: [codeOf.get(f)!.size + 1] });
      const key = g.op('Add', [g.op('Mul', [prev.tensor, radix], `scaled/${name}`), codeTensor.get(f)!], `key/${name}`);
      const ids = prefixIds.get(name) ?? new Map<number, number>();
      out = {
        tensor: encode(g, `id/${name}`, key, { ints: [...ids.keys()] }, [...ids.values()], ids.size),
        count: ids.size,
      };
    }
    idTensor.set(name, out);
    return out;
  };
  const ctrConditions = new Map<number, number>();
  for (const ti of usedTables) {
    const table = model.ctrTables[ti]!;
    const cis = ctrsOfTable.get(ti)!;
    /** The bits of every (CTR of this table, border) for a key's counts, in condition order. */
    const bitsOf = (positives: number, total: number): number[] =>
      cis.flatMap((ci) => {
        const c = model.ctrs[ci]!;
        const v = ctrValue(c.type, c.prior, positives, total, table.maxCount);
        return use.ctrBorders.get(ci)!.map((border) => (v > border ? 1 : 0));
      });
    const id = idOf(table.features);
    const width = id.count + 1;
    const unseen = bitsOf(0, 0);
    const m = unseen.length;
    // Row k holds every condition's bit for id k; ids that are not keys of this table score as unseen.
    const data = new Uint8Array(width * m);
    for (let k = 0; k < width; k++) data.set(unseen, k * m);
    const ids = keyIds.get(ti)!;
    table.positives.forEach((positives, r) => data.set(bitsOf(positives, table.totals[r]!), ids[r]! * m));
    parts.push(pickRows(g, `ctr_table${ti}`, id.tensor, data, m));
    for (const ci of cis) {
      ctrConditions.set(ci, conditionCount);
      conditionCount += use.ctrBorders.get(ci)!.length;
    }
  }
  // One-hot features: a bit per value the trees test. A value outside the feature's values never matches (as in
  // the evaluator): it gets no key, so its bits stay 0.
  const oneHotConditions = new Map<number, Map<string, number>>();
  for (const fi of [...use.oneHotValues.keys()].sort(ascending)) {
    const oh = model.oneHotFeatures[fi]!;
    const tested = use.oneHotValues.get(fi)!;
    const known = new Set(oh.values);
    const keys = tested.filter((v) => known.has(v));
    const m = tested.length;
    // index = position in `tested` (m: none); row j is 1 at column j, row m is all 0.
    const data = new Uint8Array((m + 1) * m);
    for (let j = 0; j < m; j++) data[j * m + j] = 1;
    const index = encode(
      g,
      `onehot${fi}.index`,
      oh.name,
      { strings: keys },
      keys.map((v) => tested.indexOf(v)),
      m,
    );
    parts.push(pickRows(g, `onehot${fi}`, index, data, m));
    oneHotConditions.set(fi, new Map(tested.map((v, j) => [v, conditionCount + j] as const)));
    conditionCount += m;
  }
  // Trees shallower than the deepest get padded levels on a condition that is never true (a row of zeros), so
  // those bits of their leaf index stay 0.
  const depth = Math.max(...model.trees.map((t) => t.splits.length));
  const trees = model.trees.length;
  let never = -1;
  if (model.trees.some((t) => t.splits.length < depth)) {
    const rowShape = g.op(
      'Concat',
      [g.constant('one', { type: 'INT64', dims: [1], values: [1] }), g.op('Shape', [model.features[0]!.name], 'N')],
      'row_shape',
      [{ name: 'axis', kind: 'int', value: 0 }],
    );
    parts.push(
      g.op('ConstantOfShape', [rowShape], 'never', [
        { name: 'value', kind: 'tensor', value: { name: 'value', type: 'UINT8', dims: [1], values: [0] } },
      ]),
    );
    never = conditionCount++;
  }
  // Parts [k, N] → [conditions, N], so that each (level, tree) Gathers a whole row. Producing each part as rows and
  // concatenating them is about three times faster in onnxruntime than one Concat along axis 1 and a wide Transpose.
  const conditions = g.op('Concat', parts, 'conditions', [{ name: 'axis', kind: 'int', value: 0 }]);

  // Each (level, tree) reads one condition row. Leaf values [trees, 2^depth], a shallower tree's row padded with
  // zeros it never reaches.
  const splitCondition = new Array<number>(depth * trees).fill(never);
  const leaves = new Float64Array(trees * 2 ** depth);
  model.trees.forEach((tree, t) => {
    tree.splits.forEach((s, d) => {
      splitCondition[d * trees + t] =
        s.type === 'float'
          ? floatConditions.get(s.feature)! + use.floatBorders.get(s.feature)!.indexOf(s.border)
          : s.type === 'ctr'
            ? ctrConditions.get(s.ctr)! + use.ctrBorders.get(s.ctr)!.indexOf(s.border)
            : oneHotConditions.get(s.feature)!.get(s.value)!;
    });
    leaves.set(tree.leafValues, t * 2 ** depth);
  });
  // Leaf index of every tree [trees, N] = Σ_d 2^d · bit_d. Per group of up to 8 levels: Gather the levels' bits
  // [levels, trees, N] (uint8) and multiply by their powers of two with a uint8 MatMulInteger ([1, levels] ×
  // [levels, trees · N] → int32, exact); a second group (depth > 8) is weighted by 256.
  let leafIndex: string | undefined;
  for (let lo = 0; lo < depth; lo += 8) {
    const levels = Math.min(8, depth - lo);
    const rows = g.constant(`split_conditions${lo}`, {
      type: 'INT64',
      dims: [levels, trees],
      values: splitCondition.slice(lo * trees, (lo + levels) * trees),
    });
    const bits = g.op('Gather', [conditions, rows], `split_bits${lo}`);
    const shape = g.constant(`bits_shape${lo}`, { type: 'INT64', dims: [2], values: [levels, -1] });
    const powers = g.constant(`powers${lo}`, {
      type: 'UINT8',
      dims: [1, levels],
      values: Array.from({ length: levels }, (_, d) => 2 ** d),
    });
    let part = g.op('MatMulInteger', [powers, g.op('Reshape', [bits, shape], `bits_flat${lo}`)], `leaf_bits${lo}`);
    if (lo > 0)
      part = g.op(
        'Mul',
        [part, g.constant(`weight${lo}`, { type: 'INT32', dims: [], values: [2 ** lo] })],
        `leaf_high${lo}`,
      );
    leafIndex = leafIndex === undefined ? part : g.op('Add', [leafIndex, part], `leaf_index_to${lo + levels}`);
  }
  const treeRows = g.constant('index_shape', { type: 'INT64', dims: [2], values: [trees, -1] });
  const leafTable = g.constant('leaf_values', { type: 'DOUBLE', dims: [trees, 2 ** depth], values: leaves });
  const leafValues = g.op(
    'GatherElements',
    [leafTable, g.op('Reshape', [leafIndex!, treeRows], 'leaf_index')],
    'tree_values',
    [{ name: 'axis', kind: 'int', value: 1 }],
  );
  const axis0 = g.shared('axes0', { type: 'INT64', dims: [1], values: [0] });
  const sum = g.op('ReduceSum', [leafValues, axis0], 'tree_sum', [{ name: 'keepdims', kind: 'int', value: 0 }]);
  const bias = g.constant('bias', { type: 'DOUBLE', dims: [], values: [model.bias] });
  const raw = g.op('Add', [sum, bias], 'raw');
  const toFloat: OnnxAttribute[] = [{ name: 'to', kind: 'int', value: DataType.FLOAT }];
  g.nodes.push(
    {
      opType: 'Cast',
      domain: '',
      name: `${INTERNAL}Cast/raw`,
      inputs: [raw],
      outputs: [ONNX_RAW_OUTPUT],
      attributes: toFloat,
    },
    {
      opType: 'Cast',
      domain: '',
      name: `${INTERNAL}Cast/probability`,
      inputs: [calibrated(g, g.op('Sigmoid', [raw], 'probability'), model.calibration)],
      outputs: [ONNX_PROBABILITY_OUTPUT],
      attributes: toFloat,
    },
  );

  const inputs: OnnxValueInfo[] = onnxInputs(model).map((i) => ({
    name: i.name,
    elemType: i.type === 'string' ? 'STRING' : 'DOUBLE',
    shape: ['N'],
    doc: i.type === 'string' ? 'categorical value (missing = __UNKNOWN__)' : 'numeric value (NaN = missing)',
  }));
  const outputs: OnnxValueInfo[] = [
    { name: ONNX_PROBABILITY_OUTPUT, elemType: 'FLOAT', shape: ['N'], doc: 'approval probability' },
    { name: ONNX_RAW_OUTPUT, elemType: 'FLOAT', shape: ['N'], doc: 'raw score (log-odds)' },
  ];
  const metadata: Array<readonly [string, string]> = [
    ['access-perm.format', model.format],
    ['access-perm.format_version', String(model.formatVersion)],
    ['access-perm.onnx_export', String(ONNX_EXPORT_VERSION)],
    ['inputs', JSON.stringify(onnxInputs(model))],
    ['outputs', JSON.stringify([ONNX_PROBABILITY_OUTPUT, ONNX_RAW_OUTPUT])],
    ['trees', String(model.trees.length)],
  ];
  if (model.threshold !== undefined) metadata.push(['threshold', String(model.threshold)]);
  return encodeModel({
    irVersion: IR_VERSION,
    opsetImports: [
      { domain: '', version: ONNX_OPSET },
      { domain: ML, version: ONNX_ML_OPSET },
    ],
    producerName: 'access-perm',
    producerVersion: String(ONNX_EXPORT_VERSION),
    doc: 'access-perm GBDT (CatBoost-class, binary Logloss): raw feature columns in, approval probability out.',
    graph: {
      name: 'access_perm_gbdt',
      doc:
        'Inputs: one per feature, shape [N]; string for categoricals (missing = __UNKNOWN__), double for numerics ' +
        '(NaN = missing). Outputs: probability and raw (log-odds), float [N]. The decision threshold is in ' +
        'metadata_props["threshold"] when the model has one.',
      nodes: g.nodes,
      initializers: g.initializers,
      inputs,
      outputs,
    },
    metadata,
  });
}
