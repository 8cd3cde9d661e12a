import { QueryNotRegisteredError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { InputError, UnknownRunError } from '../lib/errors';
import { issueCapability, PermissionDeniedError, type Credential } from '../lib/governance';
import { LifecycleStateError } from '../lib/lifecycle/errors';
import { assertRunId, lifecycleView, resolveRunDir } from '../lib/run';
import type { CapabilityOperation, Permission, Role } from '../schemas/governance';
import { lifecycleWorkflowId, type LifecycleState, type Verdict } from '../schemas/lifecycle';
import {
  approveDeploymentUpdate,
  fileOverrideUpdate,
  lockRunUpdate,
  reviewOverrideUpdate,
  runReproducibilityUpdate,
  stateQuery,
} from '../workflows/lifecycleDefinitions';
import { withClient } from './connection';
import { findServer } from './server';
import { describeServer } from './settings';
import { lifecycleHandle } from './workflows';

/** The typed handle of a run's `runLifecycle` workflow. */
export type LifecycleHandle = ReturnType<typeof lifecycleHandle>;

/**
 * Runs `fn` with the handle of the run's lifecycle workflow on the running server (the configured one or
 * `access-perm dev`'s); a run without one is named in the error, with the server.
 */
export async function withLifecycle<T>(runId: string, fn: (handle: LifecycleHandle) => Promise<T>): Promise<T> {
  const server = await findServer();
  try {
    return await withClient(server, (client) => fn(lifecycleHandle(client, assertRunId(runId))));
  } catch (e) {
    if (e instanceof WorkflowNotFoundError)
      throw new UnknownRunError(
        `run ${runId} has no lifecycle workflow (${lifecycleWorkflowId(runId)}) on ${describeServer(server)}`,
      );
    throw e;
  }
}

/** The lifecycle's updates by operation name. */
export const LIFECYCLE_UPDATES = {
  fileOverride: fileOverrideUpdate,
  reviewOverride: reviewOverrideUpdate,
  runReproducibility: runReproducibilityUpdate,
  lockRun: lockRunUpdate,
  approveDeployment: approveDeploymentUpdate,
} as const;
export type LifecycleUpdate = keyof typeof LIFECYCLE_UPDATES;

/**
 * Sends one lifecycle update for the holder of `credential`: the token is proven here and the workflow gets a
 * single-use capability for exactly this operation, run and request (tokens never travel through Temporal). The
 * workflow decides (permission, records) and answers with a verdict.
 */
export async function sendLifecycleUpdate(
  handle: LifecycleHandle,
  runId: string,
  credential: Credential,
  op: LifecycleUpdate & CapabilityOperation,
  request: Record<string, unknown>,
): Promise<Verdict> {
  const capability = await issueCapability(credential, { op, runId, request });
  const update = LIFECYCLE_UPDATES[op] as typeof lockRunUpdate;
  return handle.executeUpdate(update, { args: [{ ...request, capability } as never] });
}

/** {@link sendLifecycleUpdate} on a connected client, throwing a refusal like {@link verdictError}. */
export async function lifecycleUpdateOn(
  client: Client,
  credential: Credential,
  runId: string,
  op: LifecycleUpdate & CapabilityOperation,
  request: Record<string, unknown>,
): Promise<Verdict> {
  const handle = lifecycleHandle(client, assertRunId(runId));
  const verdict = await sendLifecycleUpdate(handle, runId, credential, op, request).catch((e: unknown) => {
    throw e instanceof WorkflowNotFoundError ? new UnknownRunError(`run ${runId} has no lifecycle workflow`) : e;
  });
  if (!verdict.ok) throw verdictError(verdict);
  return verdict;
}

/** A run's lifecycle state from its workflow (versions, overrides, reviews, reproducibility, lock, journal). */
export async function lifecycleStateOn(client: Client, runId: string): Promise<LifecycleState> {
  const queried = await lifecycleHandle(client, assertRunId(runId))
    .query(stateQuery)
    .catch((e: unknown) => {
      if (e instanceof WorkflowNotFoundError) throw new UnknownRunError(`run ${runId} has no lifecycle workflow`);
      // A lifecycle that has just (re)started answers once it has read the run's records.
      if (e instanceof QueryNotRegisteredError) throw new LifecycleStateError(e.message);
      throw e;
    });
  return withRecords(runId, queried);
}

/**
 * A queried lifecycle state with everything the records decide (versions, overrides, reviews, reproducibility,
 * lock, deployment, status) read from the signed records here: a workflow answering under the lifecycle's id is
 * trusted for its journal of recent events only (one started on the Temporal server in place of ours could answer
 * "locked" for a run that is not).
 */
export async function withRecords(runId: string, queried: LifecycleState): Promise<LifecycleState> {
  return { ...queried, ...(await lifecycleView(runId, await resolveRunDir(runId))) };
}

/**
 * The error a refused verdict stands for: the seed-3 §8 denial as PermissionDeniedError (exit 3, HTTP 403), an
 * invalid request as InputError (400), anything the run's records forbid as LifecycleStateError (409).
 */
export function verdictError(verdict: Verdict): Error {
  const d = verdict.denial as
    { required_permission: Permission; user_role: Role; minimum_role: string; allowed_roles: Role[] } | undefined;
  if (d)
    return new PermissionDeniedError(
      verdict.message,
      d.required_permission,
      d.user_role,
      d.minimum_role,
      d.allowed_roles,
    );
  const message = `${verdict.error ?? 'refused'}: ${verdict.message}`;
  return verdict.error === 'InvalidRequest' ? new InputError(message) : new LifecycleStateError(message);
}
