/** Scoring with onnxruntime-node: one session on the calling thread, or a pool of scoring threads. */
export { createOnnxScorer, ONNX_BATCH_ROWS } from './score';
export type { OnnxColumns, OnnxScorer, OnnxScorerOptions } from './score';
export { createThreadedOnnxScorer } from './threaded';
