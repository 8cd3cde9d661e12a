/** Errors of the scoring layer (besides InputError for bad payloads and UnknownRunError from lib/errors). */

/** Thrown when a run exists but cannot be scored with: no manifest (failed or running), no ONNX model, no threshold. */
export class RunNotScorableError extends Error {
  override name = 'RunNotScorableError';
}
