/**
 * A minimal protocol-buffers writer: exactly the wire types the ONNX messages in `./onnx-proto` need
 * (varint, 64-bit, length-delimited, 32-bit), no reflection; and a reader of the same wire format (`eachField`), for
 * the scorer's decoding of a graph it rewrites (./coded).
 *
 * A message is built into a `ProtoWriter`, which keeps a list of byte chunks and their total length, so a nested
 * message is written once and wrapped by its parent (tag + length prefix) without re-copying; `finish()` copies
 * everything into one buffer. Fields are written in the order the caller writes them, so the same calls give the
 * same bytes.
 */

/** Protobuf wire types (https://protobuf.dev/programming-guides/encoding/). */
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextEncoder();

export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  /** Small writes (tags, varints, scalars) are collected here and flushed as one chunk. */
  private scratch: number[] = [];
  private flushedLength = 0;

  /** Total bytes written so far. */
  get length(): number {
    return this.flushedLength + this.scratch.length;
  }

  /** An unsigned varint; `value` must be a non-negative safe integer or a non-negative bigint. */
  private varint(value: number | bigint): void {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`);
      while (value >= 0x80) {
        this.scratch.push((value % 0x80) | 0x80);
        value = Math.floor(value / 0x80);
      }
      this.scratch.push(value);
      return;
    }
    if (value < 0n) throw new RangeError(`varint out of range: ${value}`);
    while (value >= 0x80n) {
      this.scratch.push(Number(value & 0x7fn) | 0x80);
      value >>= 7n;
    }
    this.scratch.push(Number(value));
  }

  /** A signed 64-bit integer as protobuf `int64` (negative values take ten bytes, two's complement). */
  private int64Varint(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`int64 must be a safe integer, got ${value}`);
    if (value >= 0) this.varint(value);
    else this.varint(BigInt.asUintN(64, BigInt(value)));
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  private flush(): void {
    if (this.scratch.length === 0) return;
    this.chunks.push(Uint8Array.from(this.scratch));
    this.flushedLength += this.scratch.length;
    this.scratch = [];
  }

  private append(bytes: Uint8Array): void {
    this.flush();
    this.chunks.push(bytes);
    this.flushedLength += bytes.length;
  }

  /** `int64` / `int32` / enum field. */
  int64(field: number, value: number): this {
    this.tag(field, WIRE_VARINT);
    this.int64Varint(value);
    return this;
  }

  /** `float` field (fixed32, little-endian IEEE 754 single). */
  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    for (const x of b) this.scratch.push(x);
    return this;
  }

  /** `double` field (fixed64, little-endian IEEE 754 double). */
  double(field: number, value: number): this {
    this.tag(field, WIRE_FIXED64);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    for (const x of b) this.scratch.push(x);
    return this;
  }

  /** `bytes` field. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.varint(value.length);
    if (value.length <= 64) for (const x of value) this.scratch.push(x);
    else this.append(value);
    return this;
  }

  /** `string` (or `bytes` holding UTF-8) field. */
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** Embedded message field: the child's bytes, prefixed by tag and length. */
  message(field: number, child: ProtoWriter): this {
    child.flush();
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.varint(child.flushedLength);
    this.flush();
    for (const c of child.chunks) this.chunks.push(c);
    this.flushedLength += child.flushedLength;
    return this;
  }

  /** Repeated `int64` written packed (one length-delimited field); parsers accept packed and unpacked alike. */
  packedInt64(field: number, values: ArrayLike<number>): this {
    const body = new ProtoWriter();
    for (let i = 0; i < values.length; i++) body.int64Varint(values[i]!);
    body.flush();
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.varint(body.flushedLength);
    for (const c of body.chunks) this.append(c);
    return this;
  }

  /** Repeated `float` written packed (little-endian singles). */
  packedFloat(field: number, values: ArrayLike<number>): this {
    const b = new Uint8Array(values.length * 4);
    const view = new DataView(b.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
    return this.bytes(field, b);
  }

  /** The encoded message as one buffer. */
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.flushedLength);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** One field of a message as `eachField` reports it: a varint's value, or a length-delimited field's bytes. */
export type ProtoField =
  { field: number; varint: number } | { field: number; bytes: Uint8Array } | { field: number; fixed: Uint8Array };

/**
 * The varint at `bytes[at]` as a signed 64-bit value (int64 negatives are ten bytes of two's complement) and the
 * position after it. Values beyond ±2^53 lose precision; the export writes none.
 * @throws RangeError when the varint is truncated or longer than ten bytes
 */
export function readVarint(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < at + 7; i++) {
    if (i >= bytes.length) throw new RangeError('protobuf: truncated varint');
    const b = bytes[i]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, i + 1];
    scale *= 0x80;
  }
  // Eight or more bytes (≥ 2^49, or a negative int64): exact in BigInt.
  let big = 0n;
  for (let i = at, shift = 0n; ; i++, shift += 7n) {
    if (i >= bytes.length) throw new RangeError('protobuf: truncated varint');
    if (shift > 63n) throw new RangeError('protobuf: varint longer than 64 bits');
    const b = bytes[i]!;
    big |= BigInt(b & 0x7f) << shift;
    if (b < 0x80) return [Number(BigInt.asIntN(64, big)), i + 1];
  }
}

/** The values of a packed repeated varint field (`int64`, `int32`, enums). */
export function readPackedVarints(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = 0; at < bytes.length;) {
    const [v, next] = readVarint(bytes, at);
    out.push(v);
    at = next;
  }
  return out;
}

/**
 * Walks the fields of one message (the ONNX decoder's reader): varints as numbers (see readVarint), length-delimited
 * fields as views of `bytes`, fixed32 / fixed64 fields as views of their 4 / 8 little-endian bytes.
 * @throws RangeError on a truncated or malformed message
 */
export function* eachField(bytes: Uint8Array): Generator<ProtoField> {
  let at = 0;
  while (at < bytes.length) {
    const [tag, afterTag] = readVarint(bytes, at);
    at = afterTag;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === WIRE_VARINT) {
      const [value, next] = readVarint(bytes, at);
      at = next;
      yield { field, varint: value };
    } else if (wire === WIRE_FIXED64 || wire === WIRE_FIXED32) {
      const size = wire === WIRE_FIXED64 ? 8 : 4;
      if (at + size > bytes.length) throw new RangeError(`protobuf: field ${field} runs past the end`);
      yield { field, fixed: bytes.subarray(at, at + size) };
      at += size;
    } else if (wire === WIRE_LENGTH_DELIMITED) {
      const [length, next] = readVarint(bytes, at);
      at = next;
      if (at + length > bytes.length) throw new RangeError(`protobuf: field ${field} runs past the end`);
      yield { field, bytes: bytes.subarray(at, at + length) };
      at += length;
    } else throw new RangeError(`protobuf: unsupported wire type ${wire} (field ${field})`);
    if (at > bytes.length) throw new RangeError(`protobuf: field ${field} runs past the end`);
  }
}
