/** Errors of the domain layer. Activities translate them into non-retryable Temporal failures by `name`. */

/** Thrown when a YAML config cannot be read or does not satisfy the schema; the message names the key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Thrown when a data contract fails; carries the table, the failed expectations and where the report is. */
export class DataValidationError extends Error {
  override name = 'DataValidationError';
  constructor(
    message: string,
    readonly table: string,
    readonly reportPath: string,
  ) {
    super(message);
  }
}

/** Thrown when an input file is missing or unreadable (wrong path, malformed CSV). */
export class InputError extends Error {
  override name = 'InputError';
}

/** Thrown when an artifact's bytes no longer match the sha256 recorded in its manifest. */
export class ArtifactIntegrityError extends Error {
  override name = 'ArtifactIntegrityError';
}

/** Thrown when a run id does not exist or is not a valid id. */
export class UnknownRunError extends Error {
  override name = 'UnknownRunError';
}

/** Thrown when a path named in a config or request leaves the folder it must stay in (the data directory). */
export class PathOutsideError extends Error {
  override name = 'PathOutsideError';
}

/** Thrown when a step may not write a run's folder: it is complete, or another workflow execution owns it. */
export class FolderWriteRefusedError extends Error {
  override name = 'FolderWriteRefusedError';
}

/** Thrown when an operation needs a run in another state (cancelling a run that already ended, deleting a locked one). */
export class RunStateError extends Error {
  override name = 'RunStateError';
}

/** Thrown for a config id that is not registered, or not visible to the caller (the two are not told apart). */
export class UnknownConfigError extends Error {
  override name = 'UnknownConfigError';
}

/** Thrown when a workflow the caller waits for fails; the message names the workflow, the step and the cause. */
export class JobFailedError extends Error {
  override name = 'JobFailedError';
}

/**
 * A thread ran out of its JavaScript heap: the same job would again (its data and parameters decide the heap it
 * needs), so it is not retried. At ten million rows a model's combination tables outgrew it.
 */
export class ThreadHeapError extends Error {
  override name = 'ThreadHeapError';
}

/** Why work stopped on `signal`: its reason when that is an Error, else "<what> cancelled". */
export const cancellation = (signal: AbortSignal | undefined, what: string): Error =>
  signal?.reason instanceof Error ? signal.reason : new Error(`${what} cancelled`);

/**
 * An error raised inside a worker thread (a training fit, a pipeline step run off the main thread), with its original
 * name, so the activity still fails with that type (e.g. GbdtParamError, ArtifactIntegrityError).
 */
export class ThreadError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}
