/**
 * The worker side of createThreadedOnnxScorer: one onnxruntime session; each message is one merged batch of rows,
 * answered with its probabilities and raw scores (buffers transferred, not copied).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createOnnxScorer } from './score';
import type { FeatureMatrix } from '../../../schemas/matrix';
import type { OnnxScorerOptions } from './score';
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
    // As a FeatureMatrix: the categoricals stay dictionary-encoded (the scorer maps each dictionary entry once).
    const matrix: FeatureMatrix = { rowCount: 0, categorical: [], numeric: [] };
    for (const [name, column] of Object.entries(batch)) {
      if (column instanceof Float64Array) matrix.numeric.push({ name, values: column });
      else {
        const codes = new Int32Array(column.codes.buffer, column.codes.byteOffset, column.codes.length);
        matrix.categorical.push({ name, dictionary: column.dictionary, codes });
      }
      matrix.rowCount = column instanceof Float64Array ? column.length : column.codes.length;
    }
    scorer.run(matrix).then(
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
