/**
 * Reads `metadata_props` of a serialized ONNX ModelProto without decoding the graph: the scorers take the decision
 * threshold from the graph they score (exportOnnx writes it there), instead of parsing the much larger JSON spec.
 */
import { GbdtModelError } from '../errors';

/** ModelProto field numbers (onnx.proto3). */
const MODEL_METADATA_PROPS = 14;
/** StringStringEntryProto field numbers. */
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Walks the fields of one message: calls `onBytes` for each length-delimited field, skips the other wire types. */
function eachField(bytes: Uint8Array, onBytes: (field: number, value: Uint8Array) => void): void {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (at >= bytes.length) throw new GbdtModelError('ONNX model: truncated varint');
      const b = bytes[at++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
      if (scale > 2 ** 63) throw new GbdtModelError('ONNX model: varint longer than 64 bits');
    }
  };
  while (at < bytes.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) varint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const length = varint();
      if (at + length > bytes.length) throw new GbdtModelError(`ONNX model: field ${field} runs past the end`);
      onBytes(field, bytes.subarray(at, at + length));
      at += length;
    } else throw new GbdtModelError(`ONNX model: unsupported wire type ${wire} (field ${field})`);
    if (at > bytes.length) throw new GbdtModelError(`ONNX model: field ${field} runs past the end`);
  }
}

/**
 * The model's metadata_props as a map (a key given twice keeps its last value).
 * @throws GbdtModelError when the bytes are not a well-formed protobuf message
 * @example onnxMetadata(await readFile('model.onnx')).get('threshold') // '0.4953600046144481'
 */
export function onnxMetadata(onnxBytes: Uint8Array): Map<string, string> {
  const props = new Map<string, string>();
  eachField(onnxBytes, (field, entry) => {
    if (field !== MODEL_METADATA_PROPS) return;
    let key = '';
    let value = '';
    eachField(entry, (f, v) => {
      if (f === ENTRY_KEY) key = utf8.decode(v);
      else if (f === ENTRY_VALUE) value = utf8.decode(v);
    });
    props.set(key, value);
  });
  return props;
}
