import { ApplicationFailure } from '@temporalio/activity';
import { authorize } from '../lib/governance/authorize';
import { PermissionDeniedError } from '../lib/governance/errors';
import { expireElevation } from '../lib/governance/users';
import { authorizeRequestSchema, GOVERNANCE_ERROR_TYPES, type ResolvedIdentity } from '../schemas/governance';

/** Governance errors are decisions, not outages: raise them non-retryable, keeping name and (for denials) the §8 body. */
function asFailure(err: unknown): unknown {
  if (!(err instanceof Error) || !(GOVERNANCE_ERROR_TYPES as readonly string[]).includes(err.name)) return err;
  const details = err instanceof PermissionDeniedError ? [err.toResponse()] : [];
  return ApplicationFailure.create({ message: err.message, type: err.name, nonRetryable: true, details });
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw asFailure(err);
  }
}

/** Activities of governance: thin adapters over lib/governance, for workflows (timers, signal/update handlers). */
export function createGovernanceActivities() {
  return {
    /** Ends an elevation whose time has come; idempotent. Called by the `elevationExpiry` workflow. */
    expireElevation: (input: { userId: string; elevationId: string }) => guarded(() => expireElevation(input)),
    /**
     * The choke point for workflow signal/update handlers: the token travels in the signal's input and is checked
     * here (workflow code stays deterministic). Denials are audited and fail non-retryable with the §8 body.
     */
    authorizeRequest: (raw: unknown): Promise<ResolvedIdentity> =>
      guarded(async () => {
        const req = authorizeRequestSchema.parse(raw);
        return authorize({ token: req.token, source: 'workflow' }, req.permission, req.resource);
      }),
  };
}

export type GovernanceActivities = ReturnType<typeof createGovernanceActivities>;
