/** Errors of the run lifecycle. Activities raise them non-retryable by `name` (schemas/errors.ts). */

/** Thrown on any attempt to change a locked run (seed-3 §5 message: who locked it, and when). */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
  constructor(runId: string, lockedBy: string, lockedAt: string) {
    super(`Run ${runId} is locked by ${lockedBy} (since ${lockedAt}) for deployment. Cannot modify locked runs.`);
  }
}

/** Thrown when a run cannot be locked yet; the message lists every missing requirement. */
export class LockRequirementError extends Error {
  override name = 'LockRequirementError';
}

/** Thrown when an operation does not fit the run's state (e.g. reviewing an override that is not pending). */
export class LifecycleStateError extends Error {
  override name = 'LifecycleStateError';
}
