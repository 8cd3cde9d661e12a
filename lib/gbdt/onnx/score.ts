/**
 * Scoring an exported GBDT graph with onnxruntime-node. The native runtime is loaded on first use (dynamic import),
 * so importing `lib/gbdt` never loads it.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { FeatureMatrix } from '../../../schemas/matrix';
import { GbdtDataError } from '../errors';
import { ONNX_PROBABILITY_OUTPUT, ONNX_RAW_OUTPUT } from './export';
import type { OnnxInputSpec } from './export';
import { codedGraph } from './coded';
import type { CodedGraphOptions, InputEncoder } from './coded';

/** Raw columns by input name: strings for categoricals, numbers for numerics (NaN = missing). */
export type OnnxColumns = Record<string, readonly string[] | ArrayLike<number>>;

export interface OnnxScorerOptions {
  /** onnxruntime intra-op threads (default 1: one core per scorer). */
  intraOpThreads?: number;
  /**
   * Rows per `session.run`. Per row the graph holds depth · trees bytes of split bits, the condition bytes twice and
   * 12 bytes per tree (leaf index and value): ≈ 10 KB for the default model (500 trees of depth 8), 2 KB for 100
   * trees. The default (batchRowsFor) keeps a batch's intermediates near 64 MiB: 4,096 rows for the default model,
   * 32,768 for 100 trees (fewer runs: the coded graph's fixed cost per run shows on small models); the string graph
   * (`coded: false`) runs ONNX_BATCH_ROWS.
   */
  batchRows?: number;
  /**
   * Score the coded form of the graph (./coded: categorical inputs as int64 codes, computed here), with these
   * options; `false` runs the graph as given, string inputs and all (default: coded, the default options).
   */
  coded?: CodedGraphOptions | false;
  /** onnxruntime's profiler on: it writes `<prefix>_<date>.json` when the scorer closes (bench/onnx-throughput.ts). */
  profileFilePrefix?: string;
}

/** Default rows per session.run of the string graph (see OnnxScorerOptions.batchRows). */
export const ONNX_BATCH_ROWS = 4096;
/** Bytes of intermediates a default batch aims at (batchRowsFor). */
const BATCH_BYTES = 2 ** 26;

/**
 * Default rows per run for a graph with `rowBytes` bytes of intermediates per row: the largest power of two that
 * keeps a batch within 64 MiB, between 1,024 and 65,536 (ONNX_BATCH_ROWS when unknown). On the seed-sized set,
 * 100 trees: 4,096-row batches ≈ 0.87M rows/s, 16,384 ≈ 1.0M, 32,768 ≈ 1.1M; 500 trees: 2,048 / 4,096 / 8,192 ≈
 * 195k / 205k / 220k (coded graph, one thread, a shared machine, 2026-12-07).
 */
export function batchRowsFor(rowBytes: number | undefined): number {
  if (!rowBytes || !Number.isFinite(rowBytes)) return ONNX_BATCH_ROWS;
  return Math.min(65_536, Math.max(1024, 2 ** Math.floor(Math.log2(BATCH_BYTES / rowBytes))));
}

export interface OnnxScorer {
  /** The graph's inputs (name and element type), in graph order. */
  readonly inputs: readonly OnnxInputSpec[];
  /** Approval probabilities, one per row. */
  score(input: FeatureMatrix | OnnxColumns): Promise<Float32Array>;
  /** Probabilities and raw scores (log-odds). */
  run(input: FeatureMatrix | OnnxColumns): Promise<{ probability: Float32Array; raw: Float32Array }>;
  /** Releases the native session. */
  close(): Promise<void>;
}

const isMatrix = (x: FeatureMatrix | OnnxColumns): x is FeatureMatrix =>
  typeof (x as FeatureMatrix).rowCount === 'number' &&
  Array.isArray((x as FeatureMatrix).categorical) &&
  Array.isArray((x as FeatureMatrix).numeric);

/**
 * A column checked against the graph's input spec: strings or dictionary codes (a FeatureMatrix's categoricals,
 * kept encoded) for categoricals, float64 for numerics.
 */
export type CheckedColumn =
  | { name: string; strings: readonly string[] }
  | { name: string; dictionary: readonly string[]; codes: ArrayLike<number> }
  | { name: string; values: Float64Array };

/**
 * The input's columns in graph input order, checked: every input present, all the same length, strings for
 * categoricals and numbers for numerics (a FeatureMatrix's categoricals stay dictionary-encoded).
 * @throws GbdtDataError naming the missing or mistyped column
 */
export function checkedColumns(
  inputs: readonly OnnxInputSpec[],
  input: FeatureMatrix | OnnxColumns,
): { columns: CheckedColumn[]; rows: number } {
  const matrix = isMatrix(input);
  const byName = new Map<string, CheckedColumn | readonly string[] | ArrayLike<number>>(
    matrix
      ? [
          ...input.categorical.map(
            (c) => [c.name, { name: c.name, dictionary: c.dictionary, codes: c.codes }] as const,
          ),
          ...input.numeric.map((c) => [c.name, { name: c.name, values: c.values }] as const),
        ]
      : Object.entries(input),
  );
  const missing = inputs.filter((i) => byName.get(i.name) === undefined).map((i) => `'${i.name}' (${i.type})`);
  if (missing.length > 0) {
    throw new GbdtDataError(
      `missing input column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; the model needs ` +
        `${inputs.map((i) => i.name).join(', ')}`,
    );
  }
  let rows: number | undefined;
  const checked: CheckedColumn[] = [];
  for (const spec of inputs) {
    const col = byName.get(spec.name)!;
    const length =
      'name' in col ? ('values' in col ? col.values.length : 'codes' in col ? col.codes.length : 0) : col.length;
    rows ??= length;
    if (length !== rows) {
      throw new GbdtDataError(`input column '${spec.name}' has ${length} rows, expected ${rows}`);
    }
    if (spec.type === 'string') {
      if ('name' in col) {
        if (!('codes' in col))
          throw new GbdtDataError(`input column '${spec.name}' is categorical: pass an array of strings`);
        checked.push(col);
        continue;
      }
      if (!Array.isArray(col) || (col.length > 0 && typeof col[0] !== 'string')) {
        throw new GbdtDataError(`input column '${spec.name}' is categorical: pass an array of strings`);
      }
      checked.push({ name: spec.name, strings: col as string[] });
    } else {
      if ('name' in col) {
        if (!('values' in col))
          throw new GbdtDataError(`input column '${spec.name}' is numeric: pass numbers (NaN = missing)`);
        checked.push(col);
        continue;
      }
      if (Array.isArray(col) && col.length > 0 && typeof col[0] !== 'number') {
        throw new GbdtDataError(`input column '${spec.name}' is numeric: pass numbers (NaN = missing)`);
      }
      checked.push({
        name: spec.name,
        values: col instanceof Float64Array ? col : Float64Array.from(col as ArrayLike<number>),
      });
    }
  }
  return { columns: checked, rows: rows ?? 0 };
}

/** Rows lo..hi of a categorical column as strings. */
function stringsOf(c: CheckedColumn, lo: number, hi: number): string[] {
  if ('strings' in c) return c.strings.slice(lo, hi) as string[];
  if (!('codes' in c)) throw new GbdtDataError(`input column '${c.name}' is categorical`);
  const out = new Array<string>(hi - lo);
  for (let i = lo; i < hi; i++) out[i - lo] = c.dictionary[c.codes[i]!] ?? '';
  return out;
}

/**
 * A categorical column's codes under `e`: int32, or int64 written as little-endian pairs of int32 words (as
 * onnxruntime-node reads them on every platform it ships for: the low word holds the code, below 2^31 as codedGraph
 * checks; the high word stays 0). A FeatureMatrix column maps each dictionary entry once (or each row, when it has
 * fewer rows than dictionary entries).
 */
function encodedColumn(
  e: InputEncoder,
  c: CheckedColumn,
  rows: number,
  type: 'int32' | 'int64',
): Int32Array | BigInt64Array {
  const step = type === 'int32' ? 1 : 2;
  const out = new Int32Array(step * rows);
  if ('codes' in c && rows < c.dictionary.length) {
    for (let i = 0; i < rows; i++) out[step * i] = e.codes.get(c.dictionary[c.codes[i]!]!) ?? e.fallback;
  } else if ('codes' in c) {
    const map = Int32Array.from(c.dictionary, (v) => e.codes.get(v) ?? e.fallback);
    for (let i = 0; i < rows; i++) out[step * i] = map[c.codes[i]!] ?? e.fallback;
  } else if ('strings' in c) {
    for (let i = 0; i < rows; i++) out[step * i] = e.codes.get(c.strings[i]!) ?? e.fallback;
  } else throw new GbdtDataError(`input column '${c.name}' is categorical`);
  return type === 'int32' ? out : new BigInt64Array(out.buffer);
}

/**
 * Opens an onnxruntime session on exported GBDT bytes (`exportOnnx`).
 * @example
 *   const scorer = await createOnnxScorer(exportOnnx(model));
 *   const p = await scorer.score(matrix); // Float32Array
 *   await scorer.close();
 */
export async function createOnnxScorer(onnxBytes: Uint8Array, options: OnnxScorerOptions = {}): Promise<OnnxScorer> {
  const ort = await import('onnxruntime-node');
  if (options.batchRows !== undefined && (!Number.isInteger(options.batchRows) || options.batchRows < 1)) {
    throw new GbdtDataError(`batchRows must be a positive integer, got ${options.batchRows}`);
  }
  const coded = options.coded === false ? undefined : codedGraph(onnxBytes, options.coded);
  const batchRows = options.batchRows ?? (coded ? batchRowsFor(coded.rowBytes) : ONNX_BATCH_ROWS);
  const session: InferenceSession = await ort.InferenceSession.create(coded?.bytes ?? onnxBytes, {
    intraOpNumThreads: options.intraOpThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    ...(options.profileFilePrefix ? { enableProfiling: true, profileFilePrefix: options.profileFilePrefix } : {}),
  });
  const typed = coded
    ? coded.inputs.map((i) => ({ name: i.name, type: i.elemType === 'STRING' ? 'string' : i.elemType.toLowerCase() }))
    : session.inputMetadata.map((m) => ({ name: m.name, type: m.isTensor ? m.type : 'non-tensor' }));
  const inputs: OnnxInputSpec[] = typed.map(({ name, type }) => {
    if (type !== 'string' && type !== 'float64' && type !== 'double') {
      throw new GbdtDataError(`ONNX input '${name}' has type ${type}; expected an access-perm GBDT export`);
    }
    return { name, type: type === 'string' ? 'string' : 'double' };
  });

  /** The input as column tensors, one feed per batch of at most `batchRows` rows. */
  const feeds = (input: FeatureMatrix | OnnxColumns): { batches: Array<Record<string, Tensor>>; rows: number } => {
    const { columns: checked, rows: n } = checkedColumns(inputs, input);
    const numeric = checked.filter((c): c is Extract<CheckedColumn, { values: Float64Array }> => 'values' in c);
    const byName = new Map(checked.map((c) => [c.name, c] as const));
    const codes = (coded?.encoders ?? []).map((e) => ({
      name: e.coded,
      values: encodedColumn(e, byName.get(e.input)!, n, coded!.codeType),
    }));
    const batches: Array<Record<string, Tensor>> = [];
    for (let lo = 0; lo === 0 || lo < n; lo += batchRows) {
      const hi = Math.min(n, lo + batchRows);
      const feed: Record<string, Tensor> = {};
      for (const c of numeric) feed[c.name] = new ort.Tensor('float64', c.values.subarray(lo, hi), [hi - lo]);
      if (coded)
        for (const c of codes) feed[c.name] = new ort.Tensor(coded.codeType, c.values.subarray(lo, hi), [hi - lo]);
      else {
        for (const c of checked)
          if (!('values' in c)) feed[c.name] = new ort.Tensor('string', stringsOf(c, lo, hi), [hi - lo]);
      }
      batches.push(feed);
    }
    return { batches, rows: n };
  };

  /** Runs every batch and concatenates the requested outputs. */
  const runBatches = async (input: FeatureMatrix | OnnxColumns, names: string[]): Promise<Float32Array[]> => {
    const { batches, rows } = feeds(input);
    const out = names.map(() => new Float32Array(rows));
    let at = 0;
    for (const feed of batches) {
      const result = await session.run(feed, names);
      const part = names.map((name) => result[name]!.data as Float32Array);
      part.forEach((p, k) => out[k]!.set(p, at));
      at += part[0]!.length;
    }
    return out;
  };

  return {
    inputs,
    run: async (input) => {
      const [probability, raw] = await runBatches(input, [ONNX_PROBABILITY_OUTPUT, ONNX_RAW_OUTPUT]);
      return { probability: probability!, raw: raw! };
    },
    score: async (input) => (await runBatches(input, [ONNX_PROBABILITY_OUTPUT]))[0]!,
    close: async () => {
      if (options.profileFilePrefix) session.endProfiling();
      await session.release();
    },
  };
}
