/** Errors of the run lifecycle (RunLockedError is lib/run's). Activities raise them non-retryable by `name` (schemas/errors.ts). */

/** Thrown when a run cannot be locked yet; the message lists every missing requirement. */
export class LockRequirementError extends Error {
  override name = 'LockRequirementError';
}

/** Thrown when an operation does not fit the run's state (e.g. reviewing an override that is not pending). */
export class LifecycleStateError extends Error {
  override name = 'LifecycleStateError';
}
