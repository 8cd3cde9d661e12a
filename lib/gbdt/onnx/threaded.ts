/**
 * An OnnxScorer whose sessions run in worker threads, for servers and batch scoring: onnxruntime-node's
 * `session.run` blocks the calling thread, so on the main thread every request waits for every other request's
 * scoring and HTTP work stops meanwhile. Here the main thread keeps parsing and answering while the workers score,
 * and the calls that arrive while the threads are busy are merged into the next batch (one session.run for many
 * small requests: the graph's fixed cost per run is paid once). No call waits for a timer: an idle worker starts at
 * once.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FeatureMatrix } from '../../../schemas/matrix';
import { PROJECT_ROOT } from '../../paths';
import { GbdtDataError } from '../errors';
import type { OnnxInputSpec } from './export';
import { checkedColumns } from './score';
import type { CheckedColumn, OnnxColumns, OnnxScorer, OnnxScorerOptions } from './score';

/** One merged batch as posted to the scoring thread: numerics as float64, categoricals dictionary-encoded. */
export type ThreadBatch = Record<string, Float64Array | { dictionary: string[]; codes: Uint32Array }>;

export type ScorerThreadReply =
  | { type: 'ready'; inputs: OnnxInputSpec[] }
  | { type: 'scored'; probability: Float32Array; raw: Float32Array }
  | { type: 'error'; name: string; message: string };

interface Scores {
  probability: Float32Array;
  raw: Float32Array;
}

interface Call {
  columns: CheckedColumn[];
  rows: number;
  resolve: (scores: Scores) => void;
  reject: (error: Error) => void;
}

/** An error from the scoring thread, with its original name. */
class ScorerThreadError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** Options of createThreadedOnnxScorer: the session options, and how many scoring threads. */
export interface ThreadedOnnxScorerOptions extends OnnxScorerOptions {
  /**
   * Worker threads, each with its own session (default 1). With 2 on a 2-core machine the batch CLI scores one
   * chunk per thread while the main thread reads the next; each thread holds its own copy of the graph's tables.
   */
  threads?: number;
}

/** A scoring thread and the calls of the batch it is scoring (empty when idle). */
interface Lane {
  worker: Worker;
  inFlight: Call[];
}

/** Starts a scoring thread and waits until its session is open. */
async function startLane(
  onnxBytes: Uint8Array,
  options: OnnxScorerOptions,
): Promise<{ lane: Lane; inputs: OnnxInputSpec[] }> {
  const worker = new Worker(join(PROJECT_ROOT, 'lib', 'gbdt', 'onnx', 'thread-entry.mjs'), {
    workerData: { bytes: onnxBytes, options },
  });
  const inputs = await new Promise<OnnxInputSpec[]>((resolve, reject) => {
    worker.once('message', (m: ScorerThreadReply) =>
      m.type === 'ready'
        ? resolve(m.inputs)
        : reject(
            new ScorerThreadError(
              m.type === 'error' ? m.name : 'Error',
              m.type === 'error' ? m.message : 'unexpected reply',
            ),
          ),
    );
    worker.once('error', reject);
  }).catch(async (e: unknown) => {
    await worker.terminate();
    throw e;
  });
  return { lane: { worker, inFlight: [] }, inputs };
}

/**
 * The queued calls merged into one batch for a scoring thread: numeric columns concatenated, categorical ones
 * dictionary-encoded (the codes' buffer is transferred, not copied: cloning every string of a batch cost more than
 * scoring it). Returns the batch and the buffers to transfer.
 */
function mergeCalls(inputs: readonly OnnxInputSpec[], calls: Call[]): { batch: ThreadBatch; transfer: ArrayBuffer[] } {
  const total = calls.reduce((n, c) => n + c.rows, 0);
  const batch: ThreadBatch = {};
  const transfer: ArrayBuffer[] = [];
  inputs.forEach((spec, k) => {
    const parts = calls.map((c) => c.columns[k]!);
    if (spec.type === 'string') {
      const codeOf = new Map<string, number>();
      const dictionary: string[] = [];
      const codes = new Uint32Array(total);
      let at = 0;
      const codeOfValue = (v: string): number => {
        let code = codeOf.get(v);
        if (code === undefined) {
          code = dictionary.push(v) - 1;
          codeOf.set(v, code);
        }
        return code;
      };
      for (const p of parts) {
        if ('strings' in p) for (const v of p.strings) codes[at++] = codeOfValue(v);
        else if ('codes' in p) {
          // A FeatureMatrix column: its dictionary mapped once, unless it has more entries than the call has rows.
          const n = p.codes.length;
          if (n < p.dictionary.length)
            for (let i = 0; i < n; i++) codes[at++] = codeOfValue(p.dictionary[p.codes[i]!]!);
          else {
            const map = p.dictionary.map(codeOfValue);
            for (let i = 0; i < n; i++) codes[at++] = map[p.codes[i]!]!;
          }
        }
      }
      batch[spec.name] = { dictionary, codes };
      transfer.push(codes.buffer);
    } else {
      const values = new Float64Array(total);
      let at = 0;
      for (const p of parts) {
        if (!('values' in p)) continue;
        values.set(p.values, at);
        at += p.values.length;
      }
      batch[spec.name] = values;
      transfer.push(values.buffer);
    }
  });
  return { batch, transfer };
}

/**
 * Opens the exported graph in worker threads (see the module comment). Same contract as createOnnxScorer; inputs
 * are checked on the calling thread, so a bad call fails alone and never spoils the batch it would have joined.
 * An idle thread takes every call queued so far as one batch.
 * @example
 *   const scorer = await createThreadedOnnxScorer(exportOnnx(model));
 *   const [a, b] = await Promise.all([scorer.score(requestA), scorer.score(requestB)]); // one session.run
 */
export async function createThreadedOnnxScorer(
  onnxBytes: Uint8Array,
  options: ThreadedOnnxScorerOptions = {},
): Promise<OnnxScorer> {
  const { threads = 1, ...sessionOptions } = options;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new GbdtDataError(`threads must be a positive integer, got ${threads}`);
  }
  const started = await Promise.allSettled(Array.from({ length: threads }, () => startLane(onnxBytes, sessionOptions)));
  const opened = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (opened.length < threads) {
    await Promise.all(opened.map((o) => o.lane.worker.terminate()));
    throw (started.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
  }
  const lanes = opened.map((o) => o.lane);
  const inputs = opened[0]!.inputs;

  let queued: Call[] = [];
  let broken: Error | undefined;
  let drained: (() => void) | undefined;
  const busy = (): boolean => queued.length > 0 || lanes.some((l) => l.inFlight.length > 0);

  /** Hands every queued call to an idle thread as one batch. */
  const pump = (): void => {
    const idle = lanes.find((l) => l.inFlight.length === 0);
    if (idle && queued.length > 0) {
      idle.inFlight = queued;
      queued = [];
      const { batch, transfer } = mergeCalls(inputs, idle.inFlight);
      idle.worker.postMessage(batch, transfer);
    }
    if (!busy()) drained?.();
  };
  const failAll = (error: Error): void => {
    broken ??= error;
    for (const c of [...lanes.flatMap((l) => l.inFlight), ...queued]) c.reject(error);
    for (const l of lanes) l.inFlight = [];
    queued = [];
    drained?.();
  };
  for (const lane of lanes) {
    lane.worker.on('message', (m: ScorerThreadReply) => {
      const calls = lane.inFlight;
      lane.inFlight = [];
      if (m.type === 'scored') {
        let at = 0;
        for (const c of calls) {
          c.resolve({ probability: m.probability.slice(at, at + c.rows), raw: m.raw.slice(at, at + c.rows) });
          at += c.rows;
        }
      } else {
        const error = new ScorerThreadError(
          m.type === 'error' ? m.name : 'Error',
          m.type === 'error' ? m.message : 'unexpected reply',
        );
        for (const c of calls) c.reject(error);
      }
      pump();
    });
    lane.worker.on('error', failAll);
    lane.worker.on('exit', (code) => failAll(new Error(`ONNX scoring thread exited with code ${code}`)));
  }

  // async: a bad input rejects the call's promise; the body runs synchronously up to the queueing, so calls keep
  // their order.
  const run = async (input: FeatureMatrix | OnnxColumns): Promise<Scores> => {
    if (broken) throw broken;
    const { columns, rows } = checkedColumns(inputs, input);
    if (rows === 0) return { probability: new Float32Array(0), raw: new Float32Array(0) };
    return new Promise<Scores>((resolve, reject) => {
      queued.push({ columns, rows, resolve, reject });
      pump();
    });
  };
  return {
    inputs,
    run,
    score: async (input) => (await run(input)).probability,
    close: async () => {
      // Calls already made finish; then the threads go.
      if (busy()) await new Promise<void>((resolve) => (drained = resolve));
      broken ??= new GbdtDataError('the ONNX scorer is closed');
      for (const l of lanes) l.worker.removeAllListeners('exit');
      await Promise.all(lanes.map((l) => l.worker.terminate()));
    },
  };
}
