/**
 * An OnnxScorer whose session runs in a worker thread, for servers: onnxruntime-node's `session.run` blocks the
 * calling thread, so on the main thread every request waits for every other request's scoring and HTTP work stops
 * meanwhile. Here the main thread keeps parsing and answering while the worker scores, and the calls that arrive
 * while a batch is being scored are merged into the next batch (one session.run for many small requests: the
 * graph's fixed cost per run is paid once). No call waits for a timer: an idle worker starts at once.
 */
import { Worker } from 'node:worker_threads';
import type { FeatureMatrix } from '../../../schemas/matrix';
import { GbdtDataError } from '../errors';
import type { OnnxInputSpec } from './export';
import { checkedColumns } from './score';
import type { CheckedColumn, OnnxColumns, OnnxScorer, OnnxScorerOptions } from './score';

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

/**
 * Opens the exported graph in a worker thread (see the module comment). Same contract as createOnnxScorer; inputs
 * are checked on the calling thread, so a bad call fails alone and never spoils the batch it would have joined.
 * @example
 *   const scorer = await createThreadedOnnxScorer(exportOnnx(model));
 *   const [a, b] = await Promise.all([scorer.score(requestA), scorer.score(requestB)]); // one session.run
 */
export async function createThreadedOnnxScorer(
  onnxBytes: Uint8Array,
  options: OnnxScorerOptions = {},
): Promise<OnnxScorer> {
  const worker = new Worker(new URL('./thread-entry.mjs', import.meta.url), {
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

  let queued: Call[] = [];
  let inFlight: Call[] = [];
  let broken: Error | undefined;
  let drained: (() => void) | undefined;

  /** Sends every queued call as one batch when the worker is idle. */
  const pump = (): void => {
    if (inFlight.length > 0 || queued.length === 0) {
      if (inFlight.length === 0) drained?.();
      return;
    }
    inFlight = queued;
    queued = [];
    const total = inFlight.reduce((n, c) => n + c.rows, 0);
    const merged: Record<string, string[] | Float64Array> = {};
    inputs.forEach((spec, k) => {
      const parts = inFlight.map((c) => c.columns[k]!);
      if (spec.type === 'string') merged[spec.name] = parts.flatMap((p) => ('strings' in p ? p.strings : []));
      else {
        const values = new Float64Array(total);
        let at = 0;
        for (const p of parts) {
          if (!('values' in p)) continue;
          values.set(p.values, at);
          at += p.values.length;
        }
        merged[spec.name] = values;
      }
    });
    worker.postMessage(merged);
  };
  const failAll = (error: Error): void => {
    broken ??= error;
    for (const c of [...inFlight, ...queued]) c.reject(error);
    inFlight = [];
    queued = [];
    drained?.();
  };
  worker.on('message', (m: ScorerThreadReply) => {
    const calls = inFlight;
    inFlight = [];
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
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`ONNX scoring thread exited with code ${code}`)));

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
      // Calls already made finish; then the thread goes.
      if (inFlight.length > 0 || queued.length > 0) await new Promise<void>((resolve) => (drained = resolve));
      broken ??= new GbdtDataError('the ONNX scorer is closed');
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}
