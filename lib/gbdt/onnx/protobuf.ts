/**
 * A minimal protocol-buffers writer: exactly the wire types the ONNX messages in `./onnx-proto` need
 * (varint, 64-bit, length-delimited, 32-bit), no reflection and no parsing.
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
