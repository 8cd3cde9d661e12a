/**
 * The subset of ONNX's protobuf schema (onnx/onnx.proto, proto2) that the GBDT export writes, as plain data types,
 * an encoder and a decoder (the scorer rewrites the graph it is given: ./coded). Field numbers are those of onnx.proto; they have been stable since IR version 3.
 */
import { eachField, ProtoWriter, readPackedVarints } from './protobuf';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, STRING: 8, DOUBLE: 11 } as const;
export type DataTypeName = keyof typeof DataType;

/** AttributeProto.AttributeType values used here. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

export type TensorData =
  | { type: 'FLOAT'; values: ArrayLike<number> }
  | { type: 'UINT8'; values: ArrayLike<number> }
  | { type: 'DOUBLE'; values: ArrayLike<number> }
  | { type: 'INT32'; values: ArrayLike<number> }
  | { type: 'INT64'; values: ArrayLike<number> }
  | { type: 'STRING'; values: readonly string[] };

export type OnnxTensor = TensorData & { name: string; dims: readonly number[] };

export type OnnxAttribute =
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'string'; value: string }
  | { name: string; kind: 'tensor'; value: OnnxTensor }
  | { name: string; kind: 'floats'; value: ArrayLike<number> }
  | { name: string; kind: 'ints'; value: ArrayLike<number> }
  | { name: string; kind: 'strings'; value: readonly string[] };

export interface OnnxNode {
  opType: string;
  /** '' for the default ONNX domain, 'ai.onnx.ml' for the ML operators. */
  domain: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: readonly OnnxAttribute[];
}

/** A graph input or output: a tensor of `elemType` whose dimensions are sizes or symbolic names. */
export interface OnnxValueInfo {
  name: string;
  elemType: DataTypeName;
  shape: ReadonlyArray<number | string>;
  doc?: string;
}

export interface OnnxGraph {
  name: string;
  doc: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  opsetImports: ReadonlyArray<{ domain: string; version: number }>;
  producerName: string;
  producerVersion: string;
  doc: string;
  graph: OnnxGraph;
  /** ModelProto.metadata_props, written in the given order. */
  metadata: ReadonlyArray<readonly [string, string]>;
}

/** TensorProto: numeric data as little-endian `raw_data`, strings as `string_data`. */
function tensor(t: OnnxTensor): ProtoWriter {
  const w = new ProtoWriter();
  w.packedInt64(1, t.dims); // dims
  w.int64(2, DataType[t.type]); // data_type
  w.string(8, t.name); // name
  if (t.type === 'STRING') {
    for (const s of t.values) w.string(6, s); // string_data
    return w;
  }
  const n = t.values.length;
  const size = t.type === 'UINT8' ? 1 : t.type === 'FLOAT' || t.type === 'INT32' ? 4 : 8;
  const raw = new Uint8Array(n * size);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) {
    const v = t.values[i]!;
    if (t.type === 'UINT8') raw[i] = v;
    else if (t.type === 'FLOAT') view.setFloat32(i * 4, v, true);
    else if (t.type === 'INT32') view.setInt32(i * 4, v, true);
    else if (t.type === 'DOUBLE') view.setFloat64(i * 8, v, true);
    else view.setBigInt64(i * 8, BigInt(v), true);
  }
  w.bytes(9, raw); // raw_data
  return w;
}

function attribute(a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, a.name); // name
  switch (a.kind) {
    case 'float':
      w.int64(20, AttributeType.FLOAT).float(2, a.value);
      break;
    case 'int':
      w.int64(20, AttributeType.INT).int64(3, a.value);
      break;
    case 'string':
      w.int64(20, AttributeType.STRING).string(4, a.value);
      break;
    case 'tensor':
      w.int64(20, AttributeType.TENSOR).message(5, tensor(a.value));
      break;
    case 'floats':
      w.int64(20, AttributeType.FLOATS).packedFloat(7, a.value);
      break;
    case 'ints':
      w.int64(20, AttributeType.INTS).packedInt64(8, a.value);
      break;
    case 'strings':
      w.int64(20, AttributeType.STRINGS);
      for (const s of a.value) w.string(9, s);
      break;
  }
  return w;
}

function node(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes) w.message(5, attribute(a));
  if (n.domain) w.string(7, n.domain);
  return w;
}

/** ValueInfoProto { name, TypeProto { tensor_type { elem_type, shape { dim* } } }, doc_string }. */
function valueInfo(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === 'number')
      dim.int64(1, d); // dim_value
    else dim.string(2, d); // dim_param
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().int64(1, DataType[v.elemType]).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  const w = new ProtoWriter().string(1, v.name).message(2, type);
  if (v.doc) w.string(3, v.doc);
  return w;
}

function graph(g: OnnxGraph): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, node(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, tensor(t));
  if (g.doc) w.string(10, g.doc);
  for (const i of g.inputs) w.message(11, valueInfo(i));
  for (const o of g.outputs) w.message(12, valueInfo(o));
  return w;
}

/** Encodes a ModelProto. */
export function encodeModel(m: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.int64(1, m.irVersion);
  w.string(2, m.producerName);
  w.string(3, m.producerVersion);
  if (m.doc) w.string(6, m.doc);
  w.message(7, graph(m.graph));
  for (const o of m.opsetImports) {
    const op = new ProtoWriter();
    if (o.domain) op.string(1, o.domain);
    op.int64(2, o.version);
    w.message(8, op);
  }
  for (const [key, value] of m.metadata) w.message(14, new ProtoWriter().string(1, key).string(2, value));
  return w.finish();
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const typeName = new Map(Object.entries(DataType).map(([k, v]) => [v, k as DataTypeName] as const));

/**
 * A copy of `bytes` in a buffer of its own (aligned for a typed-array view). Not `bytes.slice()`: on a Node Buffer
 * (what readFile returns) slice is a view of the same memory.
 */
const own = (bytes: Uint8Array): ArrayBuffer => {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy.buffer;
};

function decodeTensor(bytes: Uint8Array): OnnxTensor {
  let dims: number[] = [];
  let type: DataTypeName | undefined;
  let name = '';
  let raw: Uint8Array = new Uint8Array(0);
  const strings: string[] = [];
  for (const f of eachField(bytes)) {
    if (f.field === 1) {
      if ('bytes' in f) dims = readPackedVarints(f.bytes);
      else if ('varint' in f) dims.push(f.varint);
    } else if (f.field === 2 && 'varint' in f) type = typeName.get(f.varint as (typeof DataType)[DataTypeName]);
    else if (f.field === 8 && 'bytes' in f) name = utf8.decode(f.bytes);
    else if (f.field === 6 && 'bytes' in f) strings.push(utf8.decode(f.bytes));
    else if (f.field === 9 && 'bytes' in f) raw = f.bytes;
  }
  if (type === undefined) throw new RangeError(`ONNX tensor '${name}': unsupported data type`);
  const at = { name, dims };
  switch (type) {
    case 'STRING':
      return { ...at, type, values: strings };
    case 'UINT8':
      return { ...at, type, values: new Uint8Array(own(raw)) };
    case 'FLOAT':
      return { ...at, type, values: new Float32Array(own(raw)) };
    case 'INT32':
      return { ...at, type, values: new Int32Array(own(raw)) };
    case 'DOUBLE':
      return { ...at, type, values: new Float64Array(own(raw)) };
    case 'INT64':
      return { ...at, type, values: Array.from(new BigInt64Array(own(raw)), Number) };
  }
}

function decodeAttribute(bytes: Uint8Array): OnnxAttribute {
  let name = '';
  let kind = 0;
  let f32 = 0;
  let int = 0;
  let str = '';
  let t: OnnxTensor | undefined;
  let floats: number[] = [];
  const ints: number[] = [];
  const strs: string[] = [];
  for (const f of eachField(bytes)) {
    if (f.field === 1 && 'bytes' in f) name = utf8.decode(f.bytes);
    else if (f.field === 20 && 'varint' in f) kind = f.varint;
    else if (f.field === 2 && 'fixed' in f) f32 = new DataView(own(f.fixed)).getFloat32(0, true);
    else if (f.field === 3 && 'varint' in f) int = f.varint;
    else if (f.field === 4 && 'bytes' in f) str = utf8.decode(f.bytes);
    else if (f.field === 5 && 'bytes' in f) t = decodeTensor(f.bytes);
    else if (f.field === 7 && 'bytes' in f) floats = Array.from(new Float32Array(own(f.bytes)));
    else if (f.field === 8) {
      // A loop, not push(...values): a LabelEncoder's keys can outnumber a call's arguments.
      if ('bytes' in f) for (const v of readPackedVarints(f.bytes)) ints.push(v);
      else if ('varint' in f) ints.push(f.varint);
    } else if (f.field === 9 && 'bytes' in f) strs.push(utf8.decode(f.bytes));
  }
  switch (kind) {
    case AttributeType.FLOAT:
      return { name, kind: 'float', value: f32 };
    case AttributeType.INT:
      return { name, kind: 'int', value: int };
    case AttributeType.STRING:
      return { name, kind: 'string', value: str };
    case AttributeType.TENSOR:
      if (!t) break;
      return { name, kind: 'tensor', value: t };
    case AttributeType.FLOATS:
      return { name, kind: 'floats', value: floats };
    case AttributeType.INTS:
      return { name, kind: 'ints', value: ints };
    case AttributeType.STRINGS:
      return { name, kind: 'strings', value: strs };
  }
  throw new RangeError(`ONNX attribute '${name}': unsupported type ${kind}`);
}

function decodeNode(bytes: Uint8Array): OnnxNode {
  const n = {
    opType: '',
    domain: '',
    name: '',
    inputs: [] as string[],
    outputs: [] as string[],
    attributes: [] as OnnxAttribute[],
  };
  for (const f of eachField(bytes)) {
    if (!('bytes' in f)) continue;
    if (f.field === 1) n.inputs.push(utf8.decode(f.bytes));
    else if (f.field === 2) n.outputs.push(utf8.decode(f.bytes));
    else if (f.field === 3) n.name = utf8.decode(f.bytes);
    else if (f.field === 4) n.opType = utf8.decode(f.bytes);
    else if (f.field === 5) n.attributes.push(decodeAttribute(f.bytes));
    else if (f.field === 7) n.domain = utf8.decode(f.bytes);
  }
  return n;
}

/** Fields of `bytes` numbered `field` that are length-delimited (an embedded message each). */
const messages = (bytes: Uint8Array, field: number): Uint8Array[] =>
  [...eachField(bytes)].flatMap((f) => (f.field === field && 'bytes' in f ? [f.bytes] : []));

function decodeValueInfo(bytes: Uint8Array): OnnxValueInfo {
  const v: OnnxValueInfo = { name: '', elemType: 'FLOAT', shape: [] };
  const shape: Array<number | string> = [];
  for (const f of eachField(bytes)) {
    if (!('bytes' in f)) continue;
    if (f.field === 1) v.name = utf8.decode(f.bytes);
    else if (f.field === 3) v.doc = utf8.decode(f.bytes);
    else if (f.field === 2) {
      for (const tensorType of messages(f.bytes, 1)) {
        for (const g of eachField(tensorType)) {
          if (g.field === 1 && 'varint' in g) {
            const t = typeName.get(g.varint as (typeof DataType)[DataTypeName]);
            if (!t) throw new RangeError(`ONNX value '${v.name}': unsupported element type ${g.varint}`);
            v.elemType = t;
          } else if (g.field === 2 && 'bytes' in g) {
            for (const dim of messages(g.bytes, 1)) {
              for (const d of eachField(dim)) {
                if (d.field === 1 && 'varint' in d) shape.push(d.varint);
                else if (d.field === 2 && 'bytes' in d) shape.push(utf8.decode(d.bytes));
              }
            }
          }
        }
      }
    }
  }
  return { ...v, shape };
}

/**
 * Decodes a ModelProto written by `encodeModel` (the fields and types above; anything else is skipped or rejected),
 * so that a reader can rewrite the graph and encode it again.
 * @throws RangeError on malformed bytes or a type outside the subset
 */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  const m: OnnxModel = {
    irVersion: 0,
    opsetImports: [],
    producerName: '',
    producerVersion: '',
    doc: '',
    graph: { name: '', doc: '', nodes: [], initializers: [], inputs: [], outputs: [] },
    metadata: [],
  };
  const opsets: Array<{ domain: string; version: number }> = [];
  const metadata: Array<readonly [string, string]> = [];
  for (const f of eachField(bytes)) {
    if (f.field === 1 && 'varint' in f) m.irVersion = f.varint;
    if (!('bytes' in f)) continue;
    if (f.field === 2) m.producerName = utf8.decode(f.bytes);
    else if (f.field === 3) m.producerVersion = utf8.decode(f.bytes);
    else if (f.field === 6) m.doc = utf8.decode(f.bytes);
    else if (f.field === 8) {
      const o = { domain: '', version: 0 };
      for (const g of eachField(f.bytes)) {
        if (g.field === 1 && 'bytes' in g) o.domain = utf8.decode(g.bytes);
        else if (g.field === 2 && 'varint' in g) o.version = g.varint;
      }
      opsets.push(o);
    } else if (f.field === 14) {
      let key = '';
      let value = '';
      for (const g of eachField(f.bytes)) {
        if (g.field === 1 && 'bytes' in g) key = utf8.decode(g.bytes);
        else if (g.field === 2 && 'bytes' in g) value = utf8.decode(g.bytes);
      }
      metadata.push([key, value]);
    } else if (f.field === 7) {
      const g = {
        name: '',
        doc: '',
        nodes: [] as OnnxNode[],
        initializers: [] as OnnxTensor[],
        inputs: [] as OnnxValueInfo[],
        outputs: [] as OnnxValueInfo[],
      };
      for (const h of eachField(f.bytes)) {
        if (!('bytes' in h)) continue;
        if (h.field === 1) g.nodes.push(decodeNode(h.bytes));
        else if (h.field === 2) g.name = utf8.decode(h.bytes);
        else if (h.field === 5) g.initializers.push(decodeTensor(h.bytes));
        else if (h.field === 10) g.doc = utf8.decode(h.bytes);
        else if (h.field === 11) g.inputs.push(decodeValueInfo(h.bytes));
        else if (h.field === 12) g.outputs.push(decodeValueInfo(h.bytes));
      }
      m.graph = g;
    }
  }
  return { ...m, opsetImports: opsets, metadata };
}
