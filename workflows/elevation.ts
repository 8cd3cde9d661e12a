import { ApplicationFailure, proxyActivities, sleep } from '@temporalio/workflow';
import type { GovernanceActivities } from '../activities/governance';
import {
  elevationTimerInputSchema,
  GOVERNANCE_ERROR_TYPES,
  type ElevationExpiryResult,
  type ElevationTimerInput,
} from '../schemas/governance';

const governance = proxyActivities<GovernanceActivities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '2s',
    maximumInterval: '5 minutes',
    maximumAttempts: 50,
    nonRetryableErrorTypes: [...GOVERNANCE_ERROR_TYPES],
  },
});

/**
 * One durable timer per temporary elevation (seed-3 §6): sleeps until `expiresAt`, then records the expiry in the
 * store and the audit log. Permission checks compare the clock themselves, so expiry holds even while no worker
 * runs; this workflow makes the expiry visible (store + audit) without anyone revoking it. The input is typed for
 * our clients and checked again here (the `temporal` CLI sends any JSON).
 */
export async function elevationExpiry(rawInput: ElevationTimerInput): Promise<ElevationExpiryResult> {
  const parsed = elevationTimerInputSchema.safeParse(rawInput);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
    throw ApplicationFailure.nonRetryable(`invalid elevationExpiry input — ${problems}`, 'InvalidInput');
  }
  const { userId, elevationId, expiresAt } = parsed.data;
  for (;;) {
    const remaining = Date.parse(expiresAt) - Date.now();
    if (remaining > 0) await sleep(remaining);
    const outcome = await governance.expireElevation({ userId, elevationId });
    // The activity's host clock may trail workflow time by a moment: wait out the rest and try again.
    if (outcome.remainingMs > 0) {
      await sleep(outcome.remainingMs);
      continue;
    }
    return { expired: outcome.expired, userId, elevationId, roleNow: outcome.roleNow };
  }
}
