/**
 * The subset of ONNX's protobuf schema (onnx/onnx.proto, proto2) that the GBDT export writes, as plain data types
 * and an encoder. Field numbers are those of onnx.proto; they have been stable since IR version 3.
 */
import { ProtoWriter } from './protobuf';

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
