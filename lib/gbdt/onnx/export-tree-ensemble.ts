/**
 * Exports a `GbdtModel` to one self-contained ONNX graph that scores raw feature columns, with the same results as
 * the TS evaluator (`predictRaw` / `predictProba`).
 *
 * Graph contract:
 * - one input per model feature, named as the feature, shape [N]: `string` for categoricals (values exactly as the
 *   pipeline produces them: missing is the sentinel `__UNKNOWN__`), `double` for numerics (NaN = missing);
 * - outputs `probability` (float [N], sigmoid of the raw score) and `raw` (float [N], log-odds);
 * - metadata_props: the model's `threshold` (when set), the input list, the format.
 *
 * How the model maps onto standard operators (ONNX opset 20 + ai.onnx.ml opset 3, all implemented by onnxruntime):
 * - Every split compares one column of a double matrix X [N, F] against a threshold; X is the Concat of
 *   - numeric inputs used by float splits (Unsqueeze to [N, 1]), compared against the model's borders as is;
 *   - per CTR table: the row's key (the input, or for a combination the inputs joined by U+001F with StringConcat,
 *     exactly as `lib/gbdt` keys its tables) → LabelEncoder (keys_strings → values_int64s, default = the "unseen"
 *     row) → Gather from a constant [K + 1, m] table holding, for each of the table's m CTR features, the value's
 *     bucket: how many of the borders the trees use for that CTR the CTR value exceeds. The CTR values and their
 *     comparisons are computed here in float64 with the evaluator's own `ctrValue`, so the graph never compares
 *     a rounded CTR; a split `ctr > border_j` becomes `bucket > j + 0.5`. Keys whose buckets equal the unseen
 *     value's are left out of the encoder (they score as unseen anyway).
 *   - per one-hot feature: LabelEncoder to the index of the split value → Gather from an identity table: one 0/1
 *     column per value the trees split on; `value == v` becomes `indicator > 0.5`.
 * - TreeEnsembleRegressor (double input, double thresholds/weights via the `_as_tensor` attributes): each oblivious
 *   tree expanded to a full binary tree. A split's condition `x > t` sets bit d of the leaf index. The node mode
 *   carries the NaN rule, so no `nodes_missing_value_tracks_true` is needed (onnxruntime's fast path): nan_mode
 *   'Min' (NaN counts as -∞, the condition is false) → BRANCH_GT, whose comparison is false for NaN, so NaN takes
 *   the false branch = bit 0; 'Max' (NaN counts as +∞, condition true) → BRANCH_LEQ with the false branch = bit 1,
 *   where `NaN <= t` sends it. CTR and one-hot columns are never NaN and use the same mode, so a model (nan_mode
 *   is one training parameter) has one mode throughout. The bias is `base_values_as_tensor`; then Reshape to [N]
 *   and Sigmoid.
 *
 * The bytes are a function of the model only (no timestamps, no map-order dependence): same model ⇒ same bytes.
 */
import { COMBINATION_SEPARATOR } from '../../../schemas/gbdt';
import type { GbdtModel } from '../../../schemas/gbdt';
import { ctrValue } from '../ctr';
import { GbdtModelError } from '../errors';
import { encodeModel } from './onnx-proto';
import type { OnnxAttribute, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnx-proto';

export const ONNX_PROBABILITY_OUTPUT = 'probability';
export const ONNX_RAW_OUTPUT = 'raw';
/** Version of this export's graph layout, recorded in metadata_props (`access-perm.onnx_export`). */
export const ONNX_EXPORT_VERSION = 1;
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

/** How many of `sorted` (ascending) borders `value` exceeds, i.e. the split `value > sorted[j]` ⇔ result > j. */
function bucketOf(value: number, sorted: readonly number[]): number {
  let k = 0;
  while (k < sorted.length && value > sorted[k]!) k++;
  return k;
}

/** Accumulates nodes and initializers with unique internal names. */
class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];

  constant(name: string, t: Omit<OnnxTensor, 'name'>): string {
    const full = `${INTERNAL}${name}`;
    this.initializers.push({ ...t, name: full } as OnnxTensor);
    return full;
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
  floatFeatures: Set<number>;
  /** CTR index → ascending distinct borders used by the trees. */
  ctrBorders: Map<number, number[]>;
  /** One-hot feature index → distinct split values, code-unit order. */
  oneHotValues: Map<number, string[]>;
}

function collectSplits(model: GbdtModel): SplitUse {
  const floatFeatures = new Set<number>();
  const ctrBorders = new Map<number, Set<number>>();
  const oneHot = new Map<number, Set<string>>();
  for (const tree of model.trees) {
    for (const s of tree.splits) {
      if (s.type === 'float') floatFeatures.add(s.feature);
      else if (s.type === 'ctr') {
        if (!ctrBorders.has(s.ctr)) ctrBorders.set(s.ctr, new Set());
        ctrBorders.get(s.ctr)!.add(s.border);
      } else {
        if (!oneHot.has(s.feature)) oneHot.set(s.feature, new Set());
        oneHot.get(s.feature)!.add(s.value);
      }
    }
  }
  return {
    floatFeatures,
    ctrBorders: new Map([...ctrBorders].map(([c, b]) => [c, [...b].sort(ascending)] as const)),
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
 * A LabelEncoder from a string column to row indices of a constant table, then Gather: [N] strings → [N, m].
 * `keys[i]` selects `rows[i]`; any other value selects `defaultRow`.
 */
function lookupColumns(
  g: GraphBuilder,
  name: string,
  key: string,
  keys: string[],
  rows: number[][],
  defaultRow: number[],
): string {
  const m = defaultRow.length;
  const indices = keys.map((_, i) => i);
  if (keys.length === 0) {
    // LabelEncoder wants at least one key: a key that maps to the default row is harmless.
    keys = [''];
    indices.push(0);
  }
  const table = new Float64Array((rows.length + 1) * m);
  rows.forEach((r, i) => table.set(r, i * m));
  table.set(defaultRow, rows.length * m);
  const index = g.op(
    'LabelEncoder',
    [key],
    `${name}.index`,
    [
      { name: 'keys_strings', kind: 'strings', value: keys },
      { name: 'values_int64s', kind: 'ints', value: indices },
      { name: 'default_int64', kind: 'int', value: rows.length },
    ],
    ML,
  );
  const data = g.constant(`${name}.table`, { type: 'DOUBLE', dims: [rows.length + 1, m], values: table });
  return g.op('Gather', [data, index], `${name}.columns`, [{ name: 'axis', kind: 'int', value: 0 }]);
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
  /** Tensors [N, k] (double) concatenated into X, and the running column count. */
  const parts: string[] = [];
  let width = 0;

  // Numeric inputs, compared against the model's borders directly.
  const floatColumn = new Map<number, number>();
  const axis1 = g.constant('axes1', { type: 'INT64', dims: [1], values: [1] });
  for (const fi of [...use.floatFeatures].sort(ascending)) {
    const ff = model.floatFeatures[fi]!;
    parts.push(g.op('Unsqueeze', [ff.name, axis1], `float${fi}`));
    floatColumn.set(fi, width++);
  }

  // CTR tables: key → bucket of each used CTR feature of the table.
  const ctrColumn = new Map<number, number>();
  const ctrsOfTable = new Map<number, number[]>();
  for (const ci of [...use.ctrBorders.keys()].sort(ascending)) {
    const t = model.ctrs[ci]!.table;
    if (!ctrsOfTable.has(t)) ctrsOfTable.set(t, []);
    ctrsOfTable.get(t)!.push(ci);
  }
  let separator: string | undefined;
  const withSeparator = new Map<string, string>();
  const prefixKey = new Map<string, string>();
  /** The key tensor of a combination, built left to right and shared between tables with a common prefix. */
  const keyOf = (features: string[]): string => {
    let key = features[0]!;
    for (let k = 1; k < features.length; k++) {
      const id = features.slice(0, k + 1).join('\u0000');
      const known = prefixKey.get(id);
      if (known) {
        key = known;
        continue;
      }
      const f = features[k]!;
      let sepF = withSeparator.get(f);
      if (!sepF) {
        separator ??= g.constant('separator', { type: 'STRING', dims: [1], values: [COMBINATION_SEPARATOR] });
        sepF = g.op('StringConcat', [separator, f], `sep+${f}`);
        withSeparator.set(f, sepF);
      }
      key = g.op('StringConcat', [key, sepF], `key/${features.slice(0, k + 1).join('+')}`);
      prefixKey.set(id, key);
    }
    return key;
  };
  for (const ti of [...ctrsOfTable.keys()].sort(ascending)) {
    const table = model.ctrTables[ti]!;
    const cis = ctrsOfTable.get(ti)!;
    const buckets = (positives: number, total: number): number[] =>
      cis.map((ci) => {
        const c = model.ctrs[ci]!;
        return bucketOf(ctrValue(c.type, c.prior, positives, total, table.maxCount), use.ctrBorders.get(ci)!);
      });
    const unseen = buckets(0, 0);
    const keys: string[] = [];
    const rows: number[][] = [];
    for (const [value, positives, total] of table.stats) {
      const row = buckets(positives, total);
      if (row.every((b, k) => b === unseen[k])) continue;
      keys.push(value);
      rows.push(row);
    }
    parts.push(lookupColumns(g, `ctr_table${ti}`, keyOf(table.features), keys, rows, unseen));
    for (const ci of cis) ctrColumn.set(ci, width++);
  }

  // One-hot features: a 0/1 column per value the trees test.
  const oneHotColumn = new Map<number, Map<string, number>>();
  for (const fi of [...use.oneHotValues.keys()].sort(ascending)) {
    const oh = model.oneHotFeatures[fi]!;
    const tested = use.oneHotValues.get(fi)!;
    const known = new Set(oh.values);
    const keys: string[] = [];
    const rows: number[][] = [];
    const columns = new Map<string, number>();
    tested.forEach((v, j) => {
      columns.set(v, width + j);
      // A value outside the feature's values never matches (as in the evaluator): no key, its column stays 0.
      if (!known.has(v)) return;
      keys.push(v);
      rows.push(tested.map((_, k) => (k === j ? 1 : 0)));
    });
    parts.push(
      lookupColumns(
        g,
        `onehot${fi}`,
        oh.name,
        keys,
        rows,
        tested.map(() => 0),
      ),
    );
    oneHotColumn.set(fi, columns);
    width += tested.length;
  }

  const x = g.op('Concat', parts, 'X', [{ name: 'axis', kind: 'int', value: 1 }]);

  // One node mode for the whole ensemble when the float features agree on nan_mode (they share the training
  // parameter), so onnxruntime takes its single-mode path; a float split with the other nan_mode gets its own.
  const modeFor = (nanMode: 'Min' | 'Max'): 'BRANCH_GT' | 'BRANCH_LEQ' =>
    nanMode === 'Min' ? 'BRANCH_GT' : 'BRANCH_LEQ';
  const floatModes = new Set([...use.floatFeatures].map((fi) => modeFor(model.floatFeatures[fi]!.nanMode)));
  const defaultMode = floatModes.size === 1 ? [...floatModes][0]! : 'BRANCH_LEQ';

  // Oblivious trees → full binary trees. Node id at level d, path p (the leaf-index bits decided so far, first
  // decision most significant): 2^d − 1 + p; its children are paths 2p (bit 0) and 2p + 1 (bit 1). BRANCH_GT's
  // true branch is `x > t` (bit 1), BRANCH_LEQ's is `x <= t` (bit 0).
  const nodeTree: number[] = [];
  const nodeId: number[] = [];
  const nodeFeature: number[] = [];
  const nodeMode: string[] = [];
  const nodeValue: number[] = [];
  const nodeTrue: number[] = [];
  const nodeFalse: number[] = [];
  const leafTree: number[] = [];
  const leafNode: number[] = [];
  const leafWeight: number[] = [];
  model.trees.forEach((tree, t) => {
    const depth = tree.splits.length;
    tree.splits.forEach((s, d) => {
      let column: number;
      let threshold: number;
      let mode = defaultMode;
      if (s.type === 'float') {
        column = floatColumn.get(s.feature)!;
        threshold = s.border;
        mode = modeFor(model.floatFeatures[s.feature]!.nanMode);
      } else if (s.type === 'ctr') {
        column = ctrColumn.get(s.ctr)!;
        threshold = use.ctrBorders.get(s.ctr)!.indexOf(s.border) + 0.5;
      } else {
        column = oneHotColumn.get(s.feature)!.get(s.value)!;
        threshold = 0.5;
      }
      const first = 2 ** d - 1;
      const next = 2 ** (d + 1) - 1;
      for (let p = 0; p < 2 ** d; p++) {
        nodeTree.push(t);
        nodeId.push(first + p);
        nodeFeature.push(column);
        nodeMode.push(mode);
        nodeValue.push(threshold);
        const [bit0, bit1] = [next + 2 * p, next + 2 * p + 1];
        nodeTrue.push(mode === 'BRANCH_GT' ? bit1 : bit0);
        nodeFalse.push(mode === 'BRANCH_GT' ? bit0 : bit1);
      }
    });
    const first = 2 ** depth - 1;
    for (let p = 0; p < 2 ** depth; p++) {
      // Path bit for decision d is bit (depth − 1 − d) of p; the model's leaf index has it at bit d.
      let leaf = 0;
      for (let d = 0; d < depth; d++) if ((p >> (depth - 1 - d)) & 1) leaf |= 1 << d;
      nodeTree.push(t);
      nodeId.push(first + p);
      nodeFeature.push(0);
      nodeMode.push('LEAF');
      nodeValue.push(0);
      nodeTrue.push(0);
      nodeFalse.push(0);
      leafTree.push(t);
      leafNode.push(first + p);
      leafWeight.push(tree.leafValues[leaf]!);
    }
  });
  const doubles = (name: string, values: number[]): OnnxAttribute => ({
    name,
    kind: 'tensor',
    value: { name, type: 'DOUBLE', dims: [values.length], values },
  });
  const ensemble = g.op(
    'TreeEnsembleRegressor',
    [x],
    'ensemble',
    [
      { name: 'aggregate_function', kind: 'string', value: 'SUM' },
      doubles('base_values_as_tensor', [model.bias]),
      { name: 'n_targets', kind: 'int', value: 1 },
      { name: 'nodes_falsenodeids', kind: 'ints', value: nodeFalse },
      { name: 'nodes_featureids', kind: 'ints', value: nodeFeature },
      { name: 'nodes_modes', kind: 'strings', value: nodeMode },
      { name: 'nodes_nodeids', kind: 'ints', value: nodeId },
      { name: 'nodes_treeids', kind: 'ints', value: nodeTree },
      { name: 'nodes_truenodeids', kind: 'ints', value: nodeTrue },
      doubles('nodes_values_as_tensor', nodeValue),
      { name: 'post_transform', kind: 'string', value: 'NONE' },
      { name: 'target_ids', kind: 'ints', value: leafNode.map(() => 0) },
      { name: 'target_nodeids', kind: 'ints', value: leafNode },
      { name: 'target_treeids', kind: 'ints', value: leafTree },
      doubles('target_weights_as_tensor', leafWeight),
    ],
    ML,
  );
  const flat = g.constant('shapeN', { type: 'INT64', dims: [1], values: [-1] });
  g.nodes.push(
    {
      opType: 'Reshape',
      domain: '',
      name: `${INTERNAL}Reshape/raw`,
      inputs: [ensemble, flat],
      outputs: [ONNX_RAW_OUTPUT],
      attributes: [],
    },
    {
      opType: 'Sigmoid',
      domain: '',
      name: `${INTERNAL}Sigmoid/probability`,
      inputs: [ONNX_RAW_OUTPUT],
      outputs: [ONNX_PROBABILITY_OUTPUT],
      attributes: [],
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
