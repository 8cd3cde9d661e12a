/** Errors thrown by the gradient-boosting engine. */

/** Thrown by `resolveParams` / `trainGbdt` when a training parameter is unknown, mistyped or out of range. */
export class GbdtParamError extends Error {
  override readonly name = 'GbdtParamError';
  constructor(
    /** The offending parameter (CatBoost name), or several joined by ', '. */
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown when training or scoring data does not fit (length mismatch, missing column, bad labels). */
export class GbdtDataError extends Error {
  override readonly name = 'GbdtDataError';
}

/** Thrown by `parseModel` when a model file is not valid JSON or does not match the model schema. */
export class GbdtModelError extends Error {
  override readonly name = 'GbdtModelError';
}
