/**
 * The worker side of createThreadedOnnxScorer: one onnxruntime session; each message is one merged batch of rows,
 * answered with its probabilities and raw scores (buffers transferred, not copied).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createOnnxScorer } from './score';
import type { OnnxColumns, OnnxScorerOptions } from './score';
import type { ScorerThreadReply, ThreadBatch } from './threaded';

const { bytes, options } = workerData as { bytes: Uint8Array; options: OnnxScorerOptions };
const port = parentPort!;
const fail = (e: unknown): ScorerThreadReply => ({
  type: 'error',
  name: e instanceof Error ? e.name : 'Error',
  message: e instanceof Error ? e.message : String(e),
});

try {
  const scorer = await createOnnxScorer(bytes, options);
  port.on('message', (batch: ThreadBatch) => {
    const columns: OnnxColumns = {};
    for (const [name, column] of Object.entries(batch)) {
      columns[name] =
        column instanceof Float64Array ? column : Array.from(column.codes, (code) => column.dictionary[code]!);
    }
    scorer.run(columns).then(
      ({ probability, raw }) =>
        port.postMessage({ type: 'scored', probability, raw } satisfies ScorerThreadReply, [
          probability.buffer as ArrayBuffer,
          raw.buffer as ArrayBuffer,
        ]),
      (e: unknown) => port.postMessage(fail(e)),
    );
  });
  port.postMessage({ type: 'ready', inputs: [...scorer.inputs] } satisfies ScorerThreadReply);
} catch (e) {
  port.postMessage(fail(e));
}
