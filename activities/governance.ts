import { authorize } from '../lib/governance/authorize';
import { expireElevation } from '../lib/governance/users';
import { authorizeRequestSchema, type ResolvedIdentity } from '../schemas/governance';
import { guarded } from './failures';

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
