import type { Client, WorkflowHandle } from '@temporalio/client';
import type { LifecycleState } from '../schemas/lifecycle';
import { stateQuery } from '../workflows/lifecycleDefinitions';

/**
 * Calls `tick` every `ms` while a workflow runs (progress queries), one call at a time. `stop()` ends the polling
 * and waits for a call still in flight: a query waiting to retry when the connection closes would retry on the
 * closed channel from a timer and crash the process with "Channel has been shut down".
 */
export function pollEvery(ms: number, tick: () => Promise<unknown>): { stop: () => Promise<void> } {
  let inFlight: Promise<void> | null = null;
  const timer = setInterval(() => {
    inFlight ??= tick()
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => (inFlight = null));
  }, ms);
  return {
    stop: async () => {
      clearInterval(timer);
      await inFlight;
    },
  };
}

/** Iterations of one model in training, from its activity's latest heartbeat. */
export interface ModelProgress {
  model: string;
  iteration: number;
  iterations: number;
}

/** What the pending training activities last heartbeated (tagged by `withHeartbeats` with the model they train). */
export async function modelProgress(client: Client, handle: WorkflowHandle): Promise<ModelProgress[]> {
  const { raw } = await handle.describe();
  const converter = client.options.loadedDataConverter.payloadConverter;
  const models: ModelProgress[] = [];
  for (const activity of raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    const d = converter.fromPayload<Partial<ModelProgress>>(payload);
    if (typeof d.model === 'string' && typeof d.iteration === 'number' && typeof d.iterations === 'number') {
      models.push({ model: d.model, iteration: d.iteration, iterations: d.iterations });
    }
  }
  return models.sort((a, b) => a.model.localeCompare(b.model));
}

/**
 * Reads a run's lifecycle state (`read`: a query, or the API's GET) until it has loaded its records and its
 * background job (a version build, a reproduction) is done.
 */
export async function untilSettled(read: () => Promise<LifecycleState>): Promise<LifecycleState> {
  for (let attempt = 0; ; attempt++) {
    const state = await read().catch((e: Error) => {
      // A lifecycle that has just (re)started answers once it has read the run's records.
      if (attempt < 120 && /the lifecycle is starting/.test(e.message)) return null;
      throw e;
    });
    if (state && !state.job) return state;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** {@link untilSettled} on a lifecycle workflow's handle. */
export const lifecycleSettled = (handle: WorkflowHandle): Promise<LifecycleState> =>
  untilSettled(() => handle.query(stateQuery));

/** The innermost cause's message of a failed workflow (the activity's ApplicationFailure), for one-line errors. */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(err);
}
