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
import { NON_RETRYABLE_ERROR_TYPES } from '../schemas/errors';
import {
  approveDeploymentRequestSchema,
  fileOverrideRequestSchema,
  lifecycleInputSchema,
  lockRequestSchema,
  reproduceRequestSchema,
  reproductionWorkflowId,
  reviewRequestSchema,
  versionBuildWorkflowId,
  type LifecycleEvent,
  type LifecycleInput,
  type LifecycleJournal,
  type LifecycleView,
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
const lifecycle = proxyActivities<LifecycleActivities>({ startToCloseTimeout: '10 minutes', retry });

/** Events and denials kept in the state (the audit log keeps them all). */
const KEPT_EVENTS = 50;
/** Continue as new past this history length even before the server suggests it. */
const DEFAULT_HISTORY_LIMIT = 5000;

/** A refusal the handler turns into a verdict: a denial, a refused capability, or a rule of the run's state. */
interface Refusal {
  message: string;
  error: string;
  denial?: Record<string, unknown>;
  /** Who was denied, when the capability was good. */
  userId: string | null;
}

const innermost = (err: unknown): unknown => {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error && !(e instanceof ApplicationFailure && e.type)) e = e.cause;
  return e;
};

/** The activity's typed failure (PermissionDeniedError, AuthenticationError, RunLockedError …) as a refusal. */
function asRefusal(err: unknown): Refusal | null {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.type && NON_RETRYABLE_ERROR_TYPES.includes(cause.type)) {
    const denial = cause.type === 'PermissionDeniedError' ? (cause.details?.[0] as Record<string, unknown>) : undefined;
    const who = cause.details?.[1] as { user_id?: string | null } | undefined;
    return { message: cause.message, error: cause.type, ...(denial ? { denial } : {}), userId: who?.user_id ?? null };
  }
  // An activity that failed after its retries: the operation fails, the run's records stay as they were.
  if (err instanceof ActivityFailure) return { message: failureText(err), error: 'ActivityFailure', userId: null };
  return null;
}

const failureText = (err: unknown): string => {
  const e = innermost(err);
  return e instanceof Error ? e.message : String(e);
};

const problems = (error: z.ZodError): string =>
  error.issues.map((i) => `${i.path.map(String).join('.') || '(input)'}: ${i.message}`).join('; ');

/**
 * The entity workflow of one trained run (id `lifecycle-<runId>`): overrides with their reviews, reproducibility,
 * lock and deployment approval, one operation at a time; version builds and reproducibility tests run as child
 * workflows in the background. Its state is a copy of what the run's records say (lib/run/lifecycle.ts), read when
 * it starts and after every change: a lifecycle terminated and started again comes back as its records left it (a
 * locked run locked), and nothing in its input but the run id is trusted. Every signal and update carries a
 * capability for exactly that request, which the activity claims for this execution and step; denials and refusals
 * are audited there and kept in the journal. Long histories continue as new, carrying the journal only.
 */
export async function runLifecycle(rawInput: LifecycleInput): Promise<void> {
  const parsed = lifecycleInputSchema.safeParse(rawInput);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(`invalid runLifecycle input — ${problems(parsed.error)}`, 'InvalidInput');
  const input = parsed.data;
  const { runId } = input;
  // The server marks a continuation; a start cannot claim to be one, so a started workflow carries no journal.
  const carried = workflowInfo().continuedFromExecutionRunId ? input.journal : undefined;
  const journal: LifecycleJournal = {
    denials: carried?.denials ?? [],
    events: carried?.events ?? [],
    generation: carried?.generation ?? 0,
  };
  let view: LifecycleView | undefined;
  let busy = false;
  /** Operations so far in this execution: each one's step, so a replayed signal is a new step with a used capability. */
  let steps = 0;
  /** Child workflows running in the background (a child would not survive continue-as-new). */
  let children = 0;

  setHandler(stateQuery, () => {
    if (!view) throw new Error(`run ${runId}: the lifecycle is starting, ask again in a moment`);
    return { ...view, ...journal };
  });

  const now = (): string => new Date().toISOString();
  /** The records' view, and its status as the RunStatus search attribute: `temporal workflow list --query`. */
  const show = (next: LifecycleView): void => {
    view = next;
    upsertSearchAttributes({ RunStatus: [next.status] });
  };
  const record = (operation: string, userId: string | null, outcome: LifecycleEvent['outcome'], message: string) => {
    journal.events = [...journal.events, { at: now(), operation, userId, outcome, message }].slice(-KEPT_EVENTS);
  };
  const verdict = (operation: string, ok: boolean, message: string, extra: Partial<Verdict> = {}): Verdict => ({
    ok,
    operation,
    message,
    status: view!.status,
    ...extra,
  });

  /**
   * Runs one operation at a time, once the state is loaded: its activity decides, the records' new view replaces
   * the state. Denials and refusals become a verdict and a journal entry (a signal has no other way to answer).
   */
  async function operate<T>(
    operation: LifecycleOperation,
    schema: z.ZodType<T>,
    raw: unknown,
    body: (
      req: T,
      step: string,
    ) => Promise<{ message: string; by: string | null; view: LifecycleView; overrideId?: string }>,
  ): Promise<Verdict> {
    await condition(() => view !== undefined && !busy);
    busy = true;
    try {
      const request = schema.safeParse(raw);
      if (!request.success) {
        const message = `invalid ${operation} request: ${problems(request.error)}`;
        record(operation, null, 'refused', message);
        return verdict(operation, false, message, { error: 'InvalidRequest' });
      }
      const result = await body(request.data, String(++steps));
      show(result.view);
      record(operation, result.by, 'accepted', result.message);
      return verdict(operation, true, result.message, result.overrideId ? { overrideId: result.overrideId } : {});
    } catch (err) {
      const refusal = asRefusal(err);
      if (!refusal) throw err;
      const outcome: LifecycleEvent['outcome'] =
        refusal.denial || refusal.error === 'AuthenticationError' ? 'denied' : 'refused';
      record(operation, refusal.userId, outcome, refusal.message);
      if (outcome === 'denied') {
        const permission = refusal.denial?.required_permission as string | undefined;
        journal.denials = [
          ...journal.denials,
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

  /**
   * Runs a child workflow in the background, then its follow-up (`done` or `failed`), and takes the records' view as
   * the state. Nothing here may throw: a rejection left to the workflow would fail its task on every retry, and every
   * later signal and update with it.
   */
  async function inBackground(
    operation: string,
    child: () => Promise<unknown>,
    done: () => Promise<{ message: string; view: LifecycleView }>,
    failed: (error: string) => Promise<{ message: string; view: LifecycleView }>,
  ): Promise<void> {
    children++;
    try {
      let childError: string | undefined;
      try {
        await child();
      } catch (err) {
        childError = failureText(err);
      }
      let outcome: { message: string; view: LifecycleView };
      let ok = childError === undefined;
      try {
        outcome = childError === undefined ? await done() : await failed(childError);
      } catch (err) {
        ok = false;
        outcome = {
          message: `${childError ?? 'the job completed'}; its follow-up failed: ${failureText(err)}`,
          view: await lifecycle.currentLifecycle({ runId }).catch(() => view!),
        };
      }
      show(outcome.view);
      record(operation, null, ok ? 'completed' : 'failed', outcome.message);
    } finally {
      children--;
    }
  }

  const fileOverride = (raw: unknown) =>
    operate('fileOverride', fileOverrideRequestSchema, raw, async (request, step) => {
      const filed = await lifecycle.fileOverride({ runId, step, request });
      void inBackground(
        'fileOverride',
        () =>
          executeChild(modelVersionPipeline, {
            workflowId: versionBuildWorkflowId(runId, filed.version),
            args: [
              {
                runId,
                version: filed.version,
                nSplits: filed.nSplits,
                retrain: filed.retrain,
                artifacts: filed.artifacts,
              },
            ],
          }),
        () => lifecycle.versionBuilt({ runId, version: filed.version }),
        (error) => lifecycle.versionFailed({ runId, version: filed.version, error }),
      );
      return filed;
    });

  const reviewOverride = (raw: unknown) =>
    operate('reviewOverride', reviewRequestSchema, raw, (request, step) =>
      lifecycle.reviewOverride({ runId, step, request }),
    );

  const runReproducibility = (raw: unknown) =>
    operate('runReproducibility', reproduceRequestSchema, raw, async (request, step) => {
      const requested = await lifecycle.requestReproduction({ runId, step, request });
      void inBackground(
        'runReproducibility',
        () =>
          executeChild(reproduceRun, {
            workflowId: reproductionWorkflowId(runId, requested.repro),
            args: [{ runId, repro: requested.repro }],
          }),
        async () => {
          const next = await lifecycle.currentLifecycle({ runId });
          const r = next.reproducibility;
          const failed = r?.checks.filter((c) => !c.passed).map((c) => c.name) ?? [];
          const message = r?.passed
            ? `version ${r.version} reproduced exactly`
            : `version ${requested.version} did not reproduce: ${failed.join(', ')}`;
          return { message, view: next };
        },
        (error) => lifecycle.reproductionFailed({ runId, repro: requested.repro, error }),
      );
      return requested;
    });

  const lockRun = (raw: unknown) =>
    operate('lockRun', lockRequestSchema, raw, (request, step) => lifecycle.lockRun({ runId, step, request }));

  const approveDeployment = (raw: unknown) =>
    operate('approveDeployment', approveDeploymentRequestSchema, raw, (request, step) =>
      lifecycle.approveDeployment({ runId, step, request }),
    );

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

  const resumed = await lifecycle.resumeLifecycle({ runId });
  show(resumed.view);
  if (!carried) record('start', null, 'completed', resumed.message);

  // The run lives until its history is long; then it continues as new with its journal, once no operation or
  // background job is in flight (a child workflow would not survive the hand-over).
  const limit = input.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const longHistory = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > limit;
  await condition(() => longHistory() && !busy && children === 0 && allHandlersFinished());
  await continueAsNew<typeof runLifecycle>({
    runId,
    historyLimit: input.historyLimit,
    journal: { ...journal, generation: journal.generation + 1 },
  });
}
