/**
 * The scorer's form of an exported graph (`exportOnnx`): the same operations after the input encoders, with
 * categorical inputs given as int64 codes instead of strings. `model.onnx` stays self-contained with string inputs
 * for other runtimes; createOnnxScorer derives this form from the bytes it is given, at load time:
 * - every string LabelEncoder that reads a graph input is dropped and its output becomes an int64 input; the scorer
 *   maps each value to its code in JavaScript (once per dictionary entry for a FeatureMatrix, a Map lookup per row
 *   for string columns), with the encoder's own keys, values and default, so the graph sees the same codes.
 *   onnxruntime-node copies every string of a string tensor into the native side on each run, and the string
 *   LabelEncoders hash them again: both go;
 * - an int64 LabelEncoder (a combination prefix's interning, `previous id · radix + code`) whose input range is
 *   known and small becomes a GatherElements from a dense table of the same mapping (onnxruntime's LabelEncoder is a
 *   hash lookup, ~10 ns a row; GatherElements ~2.5 ns);
 * - a CTR table of few condition columns picked by a row Gather + Transpose is picked per column instead
 *   (GatherElements on the transposed table, the ids broadcast to [columns, N]): onnxruntime's Gather costs ~15 ns
 *   per row copied whatever its width, GatherElements ~2.5 ns per byte.
 * Input ranges are followed from the encoders through Mul by a constant and Add; anything else is left as it is.
 */
import { DataType, decodeModel, encodeModel } from './onnx-proto';
import type { OnnxAttribute, OnnxNode, OnnxTensor, OnnxValueInfo } from './onnx-proto';

const ML = 'ai.onnx.ml';
/** Prefix of the tensors this rewrite adds (the export's names start with '@gbdt/'). */
const CODED = '@gbdt-coded/';

/** How the scorer feeds one coded input: the string input's values mapped through an encoder's table. */
export interface InputEncoder {
  /** The exported graph's string input (a model feature). */
  input: string;
  /** The coded graph's int64 input (the dropped encoder's output). */
  coded: string;
  /** Value → code; anything else is `fallback`. */
  codes: Map<string, number>;
  fallback: number;
}

export interface CodedGraph {
  /** The rewritten model (ModelProto bytes). */
  bytes: Uint8Array;
  /** The exported graph's inputs (what callers pass), in its order. */
  inputs: readonly OnnxValueInfo[];
  /**
   * Bytes of intermediates per row (trees · (depth + 12): split bits, leaf index, leaf value), from the leaf table;
   * undefined when the graph has none. The scorer sizes its batches by it.
   */
  rowBytes: number | undefined;
  /** The coded inputs' element type. */
  codeType: 'int32' | 'int64';
  /** One per coded input, in the coded graph's input order after the numeric inputs. */
  encoders: InputEncoder[];
  /** What the rewrite did (for the bench and tests). */
  stats: { denseEncoders: number; denseEntries: number; columnTables: number; foldedTables: number };
}

export interface CodedGraphOptions {
  /** Largest dense table (entries) that replaces an int64 LabelEncoder (default 2^20; 0 keeps every encoder). */
  denseMaxEntries?: number;
  /** CTR tables of at most this many condition columns are picked per column (default 4; 0: none). */
  columnTableMaxWidth?: number;
  /**
   * A dense id table read only by CTR tables is folded into them (rows per key instead of per id) when the folded
   * tables are no larger than the dense table or at most this many bytes (default 2^22; 0: only the former).
   */
  foldMaxBytes?: number;
  /** Codes, combination keys and ids as int32 where the graph allows (default true). */
  int32Codes?: boolean;
}

const attr = (n: OnnxNode, name: string): OnnxAttribute | undefined => n.attributes.find((a) => a.name === name);

/**
 * The coded form of exported GBDT bytes, or undefined when the graph has a string input read by anything but a
 * LabelEncoder or Shape (not an access-perm export: the scorer then runs the graph as given).
 * @throws RangeError when the bytes are not a well-formed ONNX model
 */
export function codedGraph(onnxBytes: Uint8Array, options: CodedGraphOptions = {}): CodedGraph | undefined {
  const denseMax = options.denseMaxEntries ?? 2 ** 20;
  const columnMax = options.columnTableMaxWidth ?? 4;
  const foldMaxBytes = options.foldMaxBytes ?? 2 ** 22;
  const model = decodeModel(onnxBytes);
  const g = model.graph;
  const initializers = new Map(g.initializers.map((t) => [t.name, t] as const));
  const stringInputs = new Set(g.inputs.filter((i) => i.elemType === 'STRING').map((i) => i.name));
  const readers = new Map<string, OnnxNode[]>();
  for (const n of g.nodes) for (const i of n.inputs) readers.set(i, [...(readers.get(i) ?? []), n]);

  /** [min, max] of the int64 tensors whose range is known. */
  const bounds = new Map<string, [number, number]>();
  /** [min, max] of an encoder's values and default (a loop: tables can hold more keys than a call has arguments). */
  const range = (values: readonly number[], fallback: number): [number, number] => {
    let lo = fallback;
    let hi = fallback;
    for (const v of values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return [lo, hi];
  };
  const encoders: InputEncoder[] = [];
  const added: OnnxTensor[] = [];
  const stats = { denseEncoders: 0, denseEntries: 0, columnTables: 0, foldedTables: 0 };
  const nodes: OnnxNode[] = [];
  /** Per index tensor: its ids as a [1, N] row (shared by the tables it picks from). */
  const idRows = new Map<string, string>();
  const dropped = new Set<OnnxNode>();
  const axes0 = `${CODED}axes0`;

  /** A CTR table pick (pickRows): Gather(table [K, m] uint8, ids) whose only reader is a plain Transpose. */
  const pickOf = (n: OnnxNode): { table: Extract<OnnxTensor, { type: 'UINT8' }>; transpose: OnnxNode } | undefined => {
    const table = initializers.get(n.inputs[0]!);
    const next = readers.get(n.outputs[0]!) ?? [];
    const ids = bounds.get(n.inputs[1]!);
    const ok =
      n.opType === 'Gather' &&
      table?.type === 'UINT8' &&
      table.dims.length === 2 &&
      next.length === 1 &&
      next[0]!.opType === 'Transpose' &&
      attr(next[0]!, 'perm') === undefined &&
      (folded.has(n.inputs[1]!) || (ids !== undefined && ids[0] >= 0 && ids[1] < table.dims[0]!));
    return ok && table.type === 'UINT8' ? { table, transpose: next[0]! } : undefined;
  };
  /** `index` [N] as [m, N] (a [1, N] row expanded), made once per (index, m). */
  const broadcastIds = (index: string, m: number): string => {
    let row = idRows.get(index);
    if (!row) {
      row = `${CODED}row/${index}`;
      if (!added.some((t) => t.name === axes0)) added.push({ name: axes0, type: 'INT64', dims: [1], values: [0] });
      nodes.push({
        opType: 'Unsqueeze',
        domain: '',
        name: `${CODED}Unsqueeze/${row}`,
        inputs: [index, axes0],
        outputs: [row],
        attributes: [],
      });
      idRows.set(index, row);
    }
    const shape = `${CODED}expand${m}`;
    if (!added.some((t) => t.name === shape)) added.push({ name: shape, type: 'INT64', dims: [2], values: [m, 1] });
    const expanded = `${CODED}ids${m}/${index}`;
    if (!nodes.some((x) => x.outputs[0] === expanded)) {
      nodes.push({
        opType: 'Expand',
        domain: '',
        name: `${CODED}Expand/${expanded}`,
        inputs: [row, shape],
        outputs: [expanded],
        attributes: [],
      });
    }
    return expanded;
  };
  /** Dense id tables folded into the CTR tables that read the ids: id tensor → (key tensor, key → id). */
  const folded = new Map<string, { key: string; dense: number[] }>();

  for (const n of g.nodes) {
    if (dropped.has(n)) continue;
    const ints = (name: string): readonly number[] | undefined => {
      const a = attr(n, name);
      return a?.kind === 'ints' ? Array.from(a.value) : undefined;
    };
    const int = (name: string): number | undefined => {
      const a = attr(n, name);
      return a?.kind === 'int' ? a.value : undefined;
    };
    if (n.opType === 'LabelEncoder' && n.domain === ML) {
      const values = ints('values_int64s');
      const fallback = int('default_int64');
      const keys = attr(n, 'keys_strings');
      if (stringInputs.has(n.inputs[0]!) && keys?.kind === 'strings' && values && fallback !== undefined) {
        // The scorer writes codes as the low 32 bits of int64s.
        if (!values.every((v) => v >= 0 && v < 2 ** 31) || fallback < 0 || fallback >= 2 ** 31) return undefined;
        encoders.push({
          input: n.inputs[0]!,
          coded: n.outputs[0]!,
          codes: new Map(keys.value.map((k, i) => [k, values[i]!] as const)),
          fallback,
        });
        bounds.set(n.outputs[0]!, range(values, fallback));
        continue;
      }
      const intKeys = ints('keys_int64s');
      const inRange = bounds.get(n.inputs[0]!);
      if (values && fallback !== undefined) bounds.set(n.outputs[0]!, range(values, fallback));
      if (intKeys && values && fallback !== undefined && inRange && inRange[0] >= 0 && inRange[1] < denseMax) {
        const table = new Array<number>(inRange[1] + 1).fill(fallback);
        intKeys.forEach((k, i) => {
          if (k >= 0 && k < table.length) table[k] = values[i]!;
        });
        // Ids read only by CTR table picks: the tables are indexed by the key instead (when they stay small).
        const picks = (readers.get(n.outputs[0]!) ?? []).map((r) =>
          r.inputs[1] === n.outputs[0] ? pickOf(r) : undefined,
        );
        const foldBytes = picks.reduce((b, p) => b + table.length * (p?.table.dims[1] ?? Infinity), 0);
        if (picks.length > 0 && foldBytes <= Math.max(8 * table.length * picks.length, foldMaxBytes)) {
          folded.set(n.outputs[0]!, { key: n.inputs[0]!, dense: table });
          continue;
        }
        const name = `${CODED}dense/${n.outputs[0]!}`;
        added.push({ name, type: 'INT64', dims: [table.length], values: table });
        nodes.push({ ...n, opType: 'GatherElements', domain: '', inputs: [name, n.inputs[0]!], attributes: [] });
        stats.denseEncoders++;
        stats.denseEntries += table.length;
        continue;
      }
    } else if (n.opType === 'Mul' && n.domain === '') {
      const [a, b] = n.inputs.map((i) => bounds.get(i!));
      const c = initializers.get(n.inputs[1]!);
      if (a && c?.type === 'INT64' && c.values.length === 1 && c.values[0]! >= 0) {
        bounds.set(n.outputs[0]!, [a[0] * c.values[0]!, a[1] * c.values[0]!]);
      } else if (a && b && a[0] >= 0 && b[0] >= 0) bounds.set(n.outputs[0]!, [a[0] * b[0], a[1] * b[1]]);
    } else if (n.opType === 'Add' && n.domain === '') {
      const [a, b] = n.inputs.map((i) => bounds.get(i!));
      if (a && b) bounds.set(n.outputs[0]!, [a[0] + b[0], a[1] + b[1]]);
    } else if (n.opType === 'Gather' && n.domain === '') {
      const pick = pickOf(n);
      if (pick) {
        const { table, transpose } = pick;
        const m = table.dims[1]!;
        let k = table.dims[0]!;
        let index = n.inputs[1]!;
        let rows = Uint8Array.from(table.values);
        let tableName = table.name;
        const fold = folded.get(index);
        if (fold) {
          // Rows per key of the dense table instead of per id: one lookup fewer per row.
          const byKey = new Uint8Array(fold.dense.length * m);
          fold.dense.forEach((id, key) => byKey.set(rows.subarray(id * m, id * m + m), key * m));
          [rows, k, index, tableName] = [byKey, fold.dense.length, fold.key, `${CODED}by-key/${table.name}`];
          stats.foldedTables++;
        }
        if (m <= columnMax) {
          const columns = new Uint8Array(k * m);
          for (let r = 0; r < k; r++) for (let j = 0; j < m; j++) columns[j * k + r] = rows[r * m + j]!;
          const name = `${CODED}columns/${table.name}`;
          added.push({ name, type: 'UINT8', dims: [m, k], values: columns });
          nodes.push({
            opType: 'GatherElements',
            domain: '',
            name: `${CODED}GatherElements/${table.name}`,
            inputs: [name, broadcastIds(index, m)],
            outputs: transpose.outputs,
            attributes: [{ name: 'axis', kind: 'int', value: 1 }],
          });
          dropped.add(transpose);
          stats.columnTables++;
          continue;
        }
        if (fold) {
          added.push({ name: tableName, type: 'UINT8', dims: [k, m], values: rows });
          nodes.push({ ...n, inputs: [tableName, index] });
          continue;
        }
      }
    }
    nodes.push(n);
  }

  // Codes, keys and ids as int32 instead of int64 when every reader takes either (half the bytes per row).
  const codeType = options.int32Codes === false ? 'INT64' : narrowIndices(nodes, added, initializers, bounds);

  // The string inputs are gone; a Shape of one reads another input of the same length instead.
  const numeric = g.inputs.filter((i) => !stringInputs.has(i.name));
  const coded: OnnxValueInfo[] = encoders.map((e) => ({
    name: e.coded,
    elemType: codeType,
    shape: ['N'],
    doc: `code of '${e.input}'`,
  }));
  const inputs = [...numeric, ...coded];
  if (inputs.length === 0) return undefined;
  for (const n of nodes) {
    if (!n.inputs.some((i) => stringInputs.has(i))) continue;
    if (n.opType !== 'Shape') return undefined;
    nodes[nodes.indexOf(n)] = { ...n, inputs: [inputs[0]!.name] };
  }
  const read = new Set(nodes.flatMap((n) => n.inputs));
  const leaves = initializers.get('@gbdt/leaf_values');
  return {
    bytes: encodeModel({
      ...model,
      graph: {
        ...g,
        nodes,
        initializers: [...g.initializers, ...added].filter((t) => read.has(t.name)),
        inputs,
      },
    }),
    inputs: g.inputs,
    rowBytes: leaves && leaves.dims.length === 2 ? leaves.dims[0]! * (Math.log2(leaves.dims[1]!) + 12) : undefined,
    codeType: codeType === 'INT32' ? 'int32' : 'int64',
    encoders,
    stats,
  };
}

/**
 * Rewrites `nodes` (in place) so that the integer tensors of known range (`bounds`: codes, combination keys, ids)
 * are int32: the int64 constants they are multiplied by and the dense id tables become int32, a remaining int64
 * LabelEncoder is wrapped in Casts. Gather / GatherElements take int32 indices alike. Returns the coded inputs' type:
 * 'INT64' (nothing changed) when some reader needs int64 or a range does not fit.
 */
function narrowIndices(
  nodes: OnnxNode[],
  added: OnnxTensor[],
  initializers: ReadonlyMap<string, OnnxTensor>,
  bounds: ReadonlyMap<string, [number, number]>,
): 'INT32' | 'INT64' {
  const fits = [...bounds.values()].every(([lo, hi]) => lo >= -(2 ** 31) && hi < 2 ** 31);
  const scalar64 = (name: string): boolean => {
    const t = initializers.get(name);
    return t?.type === 'INT64' && t.values.length === 1 && Math.abs(t.values[0]!) < 2 ** 31;
  };
  const takes = (n: OnnxNode, slot: number): boolean => {
    if (n.opType === 'Mul' || n.opType === 'Add') return n.inputs.every((i) => bounds.has(i) || scalar64(i));
    if (n.opType === 'Gather' || n.opType === 'GatherElements') return slot === 1;
    if (n.opType === 'Unsqueeze') return slot === 0;
    return (n.opType === 'LabelEncoder' && n.domain === ML) || n.opType === 'Shape';
  };
  if (!fits || !nodes.every((n) => n.inputs.every((i, slot) => !bounds.has(i) || takes(n, slot)))) return 'INT64';
  const cast = (input: string, output: string, to: number): OnnxNode => ({
    opType: 'Cast',
    domain: '',
    name: `${CODED}Cast/${output}`,
    inputs: [input],
    outputs: [output],
    attributes: [{ name: 'to', kind: 'int', value: to }],
  });
  const out: OnnxNode[] = [];
  for (const n of nodes) {
    if (n.opType === 'LabelEncoder' && n.domain === ML && bounds.has(n.inputs[0]!)) {
      const wideIn = `${CODED}int64/${n.inputs[0]!}`;
      const wideOut = `${CODED}int64/${n.outputs[0]!}`;
      out.push(cast(n.inputs[0]!, wideIn, DataType.INT64));
      out.push({ ...n, inputs: [wideIn], outputs: [wideOut] });
      out.push(cast(wideOut, n.outputs[0]!, DataType.INT32));
    } else if ((n.opType === 'Mul' || n.opType === 'Add') && n.inputs.some((i) => bounds.has(i))) {
      const inputs = n.inputs.map((i) => {
        if (bounds.has(i)) return i;
        const name = `${CODED}int32/${i}`;
        if (!added.some((t) => t.name === name)) {
          added.push({
            name,
            type: 'INT32',
            dims: initializers.get(i)!.dims,
            values: initializers.get(i)!.values as number[],
          });
        }
        return name;
      });
      out.push({ ...n, inputs });
    } else out.push(n);
  }
  nodes.splice(0, nodes.length, ...out);
  added.forEach((t, i) => {
    if (t.name.startsWith(`${CODED}dense/`) && t.type === 'INT64') added[i] = { ...t, type: 'INT32' };
  });
  return 'INT32';
}
