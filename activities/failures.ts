import { ApplicationFailure } from '@temporalio/activity';
import { DataValidationError } from '../lib/errors';
import { PermissionDeniedError } from '../lib/governance/errors';
import { NON_RETRYABLE_ERROR_TYPES } from '../schemas/errors';

/**
 * Runs an activity body; domain errors that retrying cannot fix (bad config or data, denials, refused tokens)
 * become non-retryable failures that keep their name, with details a client can act on.
 */
export async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof Error) || !NON_RETRYABLE_ERROR_TYPES.includes(err.name)) throw err;
    // Who was refused travels second (the workflow's journal names them); a denial's §8 body first.
    const refused = (err as { userId?: string }).userId ?? null;
    const details =
      err instanceof DataValidationError
        ? [{ table: err.table, reportPath: err.reportPath }]
        : err instanceof PermissionDeniedError
          ? [err.toResponse(), { user_id: err.userId ?? null }]
          : refused
            ? [null, { user_id: refused }]
            : [];
    throw ApplicationFailure.create({ message: err.message, type: err.name, nonRetryable: true, details });
  }
}
