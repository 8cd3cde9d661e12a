import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  executeChild,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { z } from 'zod';
import type { LifecycleActivities } from '../activities/lifecycle';
import type { GovernanceActivities } from '../activities/governance';
import { NON_RETRYABLE_ERROR_TYPES } from '../schemas/errors';
import type { Permission } from '../schemas/governance';
import {
  approveDeploymentRequestSchema,
  fileOverrideRequestSchema,
  lifecycleInputSchema,
  lockRequestSchema,
  OVERRIDE_PERMISSION,
  reproduceRequestSchema,
  reviewRequestSchema,
  type Actor,
  type LifecycleEvent,
  type LifecycleInput,
  type LifecycleState,
  type OverrideRecord,
  type RunStatus,
  type Verdict,
} from '../schemas/lifecycle';
import {
  approveDeploymentSignal,
  approveDeploymentUpdate,
  fileOverrideSignal,
  fileOverrideUpdate,
  lockRunSignal,
  lockRunUpdate,
  reviewOverrideSignal,
  reviewOverrideUpdate,
  runReproducibilitySignal,
  runReproducibilityUpdate,
  stateQuery,
  type LifecycleOperation,
} from './lifecycleDefinitions';
import { modelVersionPipeline, reproduceRun } from './versionPipelines';

const retry = { maximumAttempts: 5, initialInterval: '2s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };
const governance = proxyActivities<GovernanceActivities>({ startToCloseTimeout: '1 minute', retry });
const lifecycle = proxyActivities<LifecycleActivities>({ startToCloseTimeout: '10 minutes', retry });

/** Events and denials kept in the state (the audit log keeps them all). */
const KEPT_EVENTS = 50;
/** Continue as new past this history length even before the server suggests it. */
const DEFAULT_HISTORY_LIMIT = 5000;

/** A refusal the handler turns into a verdict: a denial (from the authorize activity) or a state rule. */
class Refusal extends Error {
  constructor(
    message: string,
    readonly error: string,
    readonly denial?: Record<string, unknown>,
    /** Who was denied, when the token was valid. */
    readonly userId: string | null = null,
  ) {
    super(message);
  }
}

/** The activity's typed failure (PermissionDeniedError, AuthenticationError, RunLockedError …) as a refusal. */
function asRefusal(err: unknown): Refusal | null {
  if (err instanceof Refusal) return err;
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type && NON_RETRYABLE_ERROR_TYPES.includes(cause.type)) {
    const denied = cause.type === 'PermissionDeniedError';
    const denial = denied ? (cause.details?.[0] as Record<string, unknown>) : undefined;
    const who = denied ? (cause.details?.[1] as { user_id?: string | null } | undefined) : undefined;
    return new Refusal(cause.message, cause.type, denial, who?.user_id ?? null);
  }
  // An activity that failed after its retries: the operation fails, the run's state stays as it was.
  if (err instanceof ActivityFailure) return new Refusal(failureText(err), 'ActivityFailure');
  return null;
}

const problems = (error: z.ZodError): string =>
  error.issues.map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`).join('; ');

const failureText = (err: unknown): string => {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
};

/**
 * The entity workflow of one trained run (id `lifecycle-<runId>`): holds its status, overrides with their reviews,
 * reproducibility result, lock and deployment approval. Every signal/update carries a token checked by an
 * activity; denials are audited there and kept in the state. Operations run one at a time; retraining and the
 * reproducibility test run as child workflows in the background. Long histories continue as new with the state.
 */
export async function runLifecycle(rawInput: LifecycleInput): Promise<void> {
  const parsed = lifecycleInputSchema.safeParse(rawInput);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(
      `invalid runLifecycle input — ${parsed.error.issues[0]?.message}`,
      'InvalidInput',
    );
  const input = parsed.data;
  const { runId } = input;
  let state: LifecycleState | undefined = input.state;
  let busy = false;
  /** Who the operation in progress acts for, once their token is checked (a denial leaves it null). */
  let caller: string | null = null;

  setHandler(stateQuery, () => {
    if (!state) throw new Error(`run ${runId}: the lifecycle is starting, ask again in a moment`);
    return state;
  });

  const now = (): string => new Date().toISOString();
  /** The status, also as the RunStatus search attribute: `temporal workflow list --query 'RunStatus="…"'`. */
  const setStatus = (status: RunStatus): void => {
    state!.status = status;
    upsertSearchAttributes({ RunStatus: [status] });
  };
  const record = (operation: string, userId: string | null, outcome: LifecycleEvent['outcome'], message: string) => {
    const s = state!;
    s.events = [...s.events, { at: now(), operation, userId, outcome, message }].slice(-KEPT_EVENTS);
  };
  const verdict = (operation: string, ok: boolean, message: string, extra: Partial<Verdict> = {}): Verdict => ({
    ok,
    operation,
    message,
    status: state!.status,
    ...extra,
  });

  /** Refuses a change the run's state does not allow; audited, recorded, nothing changes. */
  async function refuse(operation: string, actor: Actor, error: string, message: string): Promise<never> {
    await lifecycle.auditRefusal({ runId, actor, operation, message });
    throw new Refusal(message, error);
  }

  async function mutable(operation: string, actor: Actor): Promise<void> {
    const s = state!;
    if (s.lock)
      await refuse(
        operation,
        actor,
        'RunLockedError',
        `Run ${runId} is locked by ${s.lock.locked_by} (since ${s.lock.locked_at}) for deployment. Cannot modify locked runs.`,
      );
    if (s.status === 'rejected') {
      const rejected = s.overrides.find((o) => o.status === 'rejected');
      await refuse(
        operation,
        actor,
        'LifecycleStateError',
        `run ${runId} was rejected by ${rejected?.review?.by.userId ?? 'a validator'}: rejection is final; create a new run without the override`,
      );
    }
    if (s.job)
      await refuse(
        operation,
        actor,
        'LifecycleStateError',
        `run ${runId} is busy: ${s.job.detail}; try again when it finishes`,
      );
  }

  async function authorized(
    token: string,
    permission: Permission,
    resource: { type: string; id?: string },
  ): Promise<Actor> {
    const who = await governance.authorizeRequest({
      token,
      permission,
      resource: { ...resource, runId, ownerId: state!.ownerId },
    });
    caller = who.userId;
    return { userId: who.userId, role: who.role, ...(who.temporaryRole ? { temporaryRole: true } : {}) };
  }

  /**
   * Runs one operation at a time: waits for the state and any operation in progress, then turns the outcome
   * into a verdict; denials and refusals are recorded in the state (signals have no other way to answer).
   */
  async function operate<T>(
    operation: LifecycleOperation,
    schema: z.ZodType<T>,
    raw: unknown,
    body: (req: T) => Promise<Verdict>,
  ): Promise<Verdict> {
    await condition(() => state !== undefined && !busy);
    busy = true;
    caller = null;
    try {
      const parsed = schema.safeParse(raw);
      if (!parsed.success)
        throw new Refusal(`invalid ${operation} request: ${problems(parsed.error)}`, 'InvalidRequest');
      return await body(parsed.data);
    } catch (err) {
      const refusal = asRefusal(err);
      if (!refusal) throw err;
      const outcome: LifecycleEvent['outcome'] =
        refusal.denial || refusal.error === 'AuthenticationError' ? 'denied' : 'refused';
      record(operation, caller ?? refusal.userId, outcome, refusal.message);
      if (outcome === 'denied') {
        const permission = refusal.denial?.required_permission as string | undefined;
        state!.denials = [
          ...state!.denials,
          {
            at: now(),
            operation,
            userId: refusal.userId,
            outcome,
            message: refusal.message,
            ...(permission ? { permission } : {}),
          },
        ].slice(-KEPT_EVENTS);
      }
      return verdict(operation, false, refusal.message, {
        error: refusal.error,
        ...(refusal.denial ? { denial: refusal.denial } : {}),
      });
    } finally {
      busy = false;
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Operations

  const fileOverride = (raw: unknown) =>
    operate('fileOverride', fileOverrideRequestSchema, raw, async (req) => {
      const s = state!;
      const feature = 'feature' in req.change ? req.change.feature : undefined;
      const actor = await authorized(
        req.token,
        OVERRIDE_PERMISSION[req.change.kind],
        feature ? { type: 'binning_table', id: `${runId}/${feature}` } : { type: 'model', id: runId },
      );
      await mutable('fileOverride', actor);
      if (s.status === 'manual_override_pending_review')
        await refuse(
          'fileOverride',
          actor,
          'LifecycleStateError',
          `override ${s.overrides.at(-1)?.id} of run ${runId} waits for review; file the next one after the review`,
        );
      const id = `ov-${s.overrides.length + 1}`;
      const version = Math.max(...s.versions.map((v) => v.version)) + 1;
      const filed = await lifecycle.fileOverride({
        runId,
        overrideId: id,
        fromVersion: s.currentVersion,
        version,
        change: req.change,
        reason: req.reason,
        actor,
      });
      const override: OverrideRecord = {
        id,
        change: req.change,
        reason: req.reason,
        requestedBy: actor,
        requestedAt: now(),
        before: filed.before,
        after: filed.after,
        version,
        status: 'retraining',
      };
      s.overrides.push(override);
      const previous = s.status;
      setStatus('manual_override_pending_review');
      s.job = { kind: 'retrain', startedAt: now(), detail: `building version ${version} for override ${id}` };
      record('fileOverride', actor.userId, 'accepted', `${req.change.kind} ${id} filed; building version ${version}`);
      void retrain(override, previous, filed);
      return verdict(
        'fileOverride',
        true,
        `override ${id} filed; version ${version} is being built, then validators review it`,
        { overrideId: id },
      );
    });

  async function retrain(
    override: OverrideRecord,
    previous: RunStatus,
    filed: {
      nSplits: number;
      retrain: boolean;
      artifacts: Parameters<typeof modelVersionPipeline>[0]['artifacts'];
    },
  ) {
    const s = state!;
    try {
      await executeChild(modelVersionPipeline, {
        workflowId: `${runId}-v${override.version}`,
        args: [
          {
            runId,
            version: override.version,
            nSplits: filed.nSplits,
            retrain: filed.retrain,
            artifacts: filed.artifacts,
          },
        ],
      });
      const summary = await lifecycle.describeVersion({ runId, version: override.version });
      s.versions.push({
        version: override.version,
        modelSha256: summary.modelSha256,
        rocAuc: summary.rocAuc,
        threshold: summary.threshold,
        createdAt: now(),
        overrideId: override.id,
      });
      s.currentVersion = override.version;
      override.status = 'pending_review';
      await lifecycle.notifyPendingReview({ runId, override, rocAuc: summary.rocAuc });
      record(
        'fileOverride',
        override.requestedBy.userId,
        'completed',
        `version ${override.version} ready; validators notified`,
      );
    } catch (err) {
      override.status = 'failed';
      override.error = failureText(err);
      setStatus(previous);
      record(
        'fileOverride',
        override.requestedBy.userId,
        'failed',
        `version ${override.version} failed: ${override.error}`,
      );
    } finally {
      s.job = null;
    }
  }

  const reviewOverride = (raw: unknown) =>
    operate('reviewOverride', reviewRequestSchema, raw, async (req) => {
      const s = state!;
      const { actor, delegation } = await lifecycle.authorizeReview({
        token: req.token,
        runId,
        overrideId: req.overrideId,
      });
      caller = actor.userId;
      await mutable('reviewOverride', actor);
      const override = s.overrides.find((o) => o.id === req.overrideId);
      if (!override)
        await refuse('reviewOverride', actor, 'LifecycleStateError', `run ${runId} has no override ${req.overrideId}`);
      if (override!.status !== 'pending_review')
        await refuse(
          'reviewOverride',
          actor,
          'LifecycleStateError',
          `override ${req.overrideId} is ${override!.status}, not pending review`,
        );
      if (override!.requestedBy.userId === actor.userId)
        await refuse(
          'reviewOverride',
          actor,
          'LifecycleStateError',
          `${actor.userId} filed override ${req.overrideId} and cannot review it`,
        );
      const review = {
        decision: req.decision,
        by: actor,
        reason: req.reason,
        at: now(),
        ...(delegation ? { delegatedBy: delegation.delegated_by, delegationId: delegation.delegation_id } : {}),
      };
      await lifecycle.recordReview({ runId, override: override!, review, delegation });
      override!.review = review;
      override!.status = req.decision === 'approve' ? 'approved' : 'rejected';
      setStatus(req.decision === 'approve' ? 'approved' : 'rejected');
      const how = delegation ? ` (delegated by ${delegation.delegated_by})` : '';
      record(
        'reviewOverride',
        actor.userId,
        'accepted',
        `override ${override!.id} ${override!.status} by ${actor.userId}${how}`,
      );
      return verdict('reviewOverride', true, `override ${override!.id} ${override!.status}${how}`, {
        overrideId: override!.id,
      });
    });

  const runReproducibility = (raw: unknown) =>
    operate('runReproducibility', reproduceRequestSchema, raw, async (req) => {
      const s = state!;
      const actor = await authorized(req.token, 'run_reproducibility', { type: 'run', id: runId });
      await mutable('runReproducibility', actor);
      if (s.status === 'manual_override_pending_review')
        await refuse(
          'runReproducibility',
          actor,
          'LifecycleStateError',
          `run ${runId} has an override pending review; review it first`,
        );
      const current = s.versions.find((v) => v.version === s.currentVersion)!;
      // Unique per attempt: the history grows with every operation, the generation with every hand-over.
      const repro = `v${current.version}-g${s.generation}-h${workflowInfo().historyLength}`;
      s.job = { kind: 'reproduce', startedAt: now(), detail: `reproducing version ${current.version}` };
      record('runReproducibility', actor.userId, 'accepted', `reproducing version ${current.version} (${repro})`);
      void reproduce({ runId, version: current.version, repro, by: actor });
      return verdict(
        'runReproducibility',
        true,
        `reproducing version ${current.version}; the result lands in state.reproducibility`,
      );
    });

  async function reproduce(args: Parameters<typeof reproduceRun>[0]) {
    const s = state!;
    try {
      s.reproducibility = await executeChild(reproduceRun, {
        workflowId: `${runId}-repro-${args.repro}`,
        args: [args],
      });
      const failed = s.reproducibility.checks.filter((c) => !c.passed).map((c) => c.name);
      record(
        'runReproducibility',
        args.by.userId,
        'completed',
        s.reproducibility.passed
          ? `version ${args.version} reproduced exactly`
          : `version ${args.version} did not reproduce: ${failed.join(', ')}`,
      );
    } catch (err) {
      record('runReproducibility', args.by.userId, 'failed', `reproducibility test failed: ${failureText(err)}`);
    } finally {
      s.job = null;
    }
  }

  const lockRun = (raw: unknown) =>
    operate('lockRun', lockRequestSchema, raw, async (req) => {
      const s = state!;
      const actor = await authorized(req.token, 'lock_run', { type: 'run', id: runId });
      await mutable('lockRun', actor);
      if (s.status === 'manual_override_pending_review')
        await refuse(
          'lockRun',
          actor,
          'LifecycleStateError',
          `run ${runId} has an override pending review; it cannot be locked or deployed until reviewed`,
        );
      const current = s.versions.find((v) => v.version === s.currentVersion)!;
      const reproduced = s.reproducibility?.version === current.version && s.reproducibility.passed;
      s.lock = await lifecycle.lockRun({
        runId,
        version: current.version,
        reproducibilityPassed: reproduced,
        actor,
        reason: req.reason,
      });
      setStatus('locked');
      record('lockRun', actor.userId, 'accepted', `locked version ${current.version}`);
      return verdict('lockRun', true, `run ${runId} locked (version ${current.version})`);
    });

  const approveDeployment = (raw: unknown) =>
    operate('approveDeployment', approveDeploymentRequestSchema, raw, async (req) => {
      const s = state!;
      const actor = await authorized(req.token, 'approve_deployment', { type: 'run', id: runId });
      if (!s.lock)
        await refuse(
          'approveDeployment',
          actor,
          'LifecycleStateError',
          `run ${runId} is not locked: lock it before approving its deployment`,
        );
      if (s.lock!.deployment_approved)
        await refuse(
          'approveDeployment',
          actor,
          'RunLockedError',
          `run ${runId} was already approved for deployment by ${s.deployment?.approvedBy}`,
        );
      s.deployment = await lifecycle.approveDeployment({ runId, actor, reason: req.reason });
      s.lock!.deployment_approved = true;
      record('approveDeployment', actor.userId, 'accepted', `deployment approved; deployment.json points at ${runId}`);
      return verdict('approveDeployment', true, `run ${runId} approved for deployment`);
    });

  // Signals and updates share the operations; an update's validator rejects malformed input before it is recorded.
  const validate = (schema: { parse: (v: unknown) => unknown }) => (raw: unknown) => void schema.parse(raw);
  setHandler(fileOverrideSignal, async (r) => void (await fileOverride(r)));
  setHandler(reviewOverrideSignal, async (r) => void (await reviewOverride(r)));
  setHandler(runReproducibilitySignal, async (r) => void (await runReproducibility(r)));
  setHandler(lockRunSignal, async (r) => void (await lockRun(r)));
  setHandler(approveDeploymentSignal, async (r) => void (await approveDeployment(r)));
  setHandler(fileOverrideUpdate, fileOverride, { validator: validate(fileOverrideRequestSchema) });
  setHandler(reviewOverrideUpdate, reviewOverride, { validator: validate(reviewRequestSchema) });
  setHandler(runReproducibilityUpdate, runReproducibility, { validator: validate(reproduceRequestSchema) });
  setHandler(lockRunUpdate, lockRun, { validator: validate(lockRequestSchema) });
  setHandler(approveDeploymentUpdate, approveDeployment, { validator: validate(approveDeploymentRequestSchema) });

  if (!state) {
    const v1 = await lifecycle.describeVersion({ runId, version: 1 });
    state = {
      runId,
      ownerId: v1.ownerId,
      status: 'trained',
      currentVersion: 1,
      versions: [
        {
          version: 1,
          modelSha256: v1.modelSha256,
          rocAuc: v1.rocAuc,
          threshold: v1.threshold,
          createdAt: now(),
          overrideId: null,
        },
      ],
      overrides: [],
      reproducibility: null,
      lock: null,
      deployment: null,
      job: null,
      denials: [],
      events: [],
      generation: 0,
    };
  }

  setStatus(state.status);

  // The run lives until its history is long; then it continues as new with its state, once no operation or
  // background job is in flight (a child workflow would not survive the hand-over).
  const limit = input.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const longHistory = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > limit;
  await condition(() => longHistory() && !busy && !state!.job && allHandlersFinished());
  await continueAsNew<typeof runLifecycle>({
    runId,
    historyLimit: input.historyLimit,
    state: { ...state, generation: state.generation + 1 },
  });
}
