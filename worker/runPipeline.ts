import { resolve } from 'node:path';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { loadConfig } from '../lib/config';
import { assertRunId, newRunId } from '../lib/run';
import type { PipelineProgress, PipelineResult } from '../schemas/run';
import { progressQuery, TASK_QUEUE } from '../workflows/definitions';
import { resolveServer, type ResolvedServer } from './environment';
import { createPipelineWorker } from './worker';

export interface RunPipelineOptions {
  configPath: string;
  runId?: string;
  /** The caller's access-perm token; the workflow checks it for `create_run`. */
  token: string;
  /** Start a worker in this process (default). Off when workers already poll the server's task queue. */
  startWorker?: boolean;
  /** Called about once a second; during `train`, `models` holds the iterations of each model in training. */
  onProgress?: (p: PipelineProgress, models: ModelProgress[]) => void;
  log?: (line: string) => void;
}

/** Iterations of one model in training, from its activity's latest heartbeat. */
export interface ModelProgress {
  model: string;
  iteration: number;
  iterations: number;
}

/** What the pending training activities last heartbeated (tagged by `withHeartbeats` with the model they train). */
async function modelProgress(client: Client, handle: WorkflowHandle): Promise<ModelProgress[]> {
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

/** Resolves with the signal's name on Ctrl-C or SIGTERM, until disposed. */
export function untilInterrupted(): { signal: Promise<NodeJS.Signals>; dispose: () => void } {
  let onSignal: (signal: NodeJS.Signals) => void = () => {};
  const signal = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

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

/** The innermost cause's message of a failed workflow (the activity's ApplicationFailure), for one-line errors. */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(err);
}

/**
 * Runs `fn` with a client of a Temporal server: finds or starts one (see {@link resolveServer}), runs a worker in
 * this process unless told not to, and cleans up whatever it started. Shared by the commands that start workflows.
 */
export async function withTemporal<T>(
  options: { startWorker?: boolean; log?: (line: string) => void },
  fn: (client: Client, server: ResolvedServer) => Promise<T>,
): Promise<T> {
  const server = await resolveServer(options.log ?? (() => {}));
  let stopWorker: (() => Promise<void>) | null = null;
  let connection: Connection | null = null;
  try {
    if (options.startWorker !== false) {
      const { worker, connection: native } = await createPipelineWorker({ address: server.address });
      const running = worker.run();
      stopWorker = async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        await native.close();
      };
    }
    connection = await Connection.connect({ address: server.address });
    return await fn(new Client({ connection }), server);
  } finally {
    await connection?.close();
    await stopWorker?.();
    await server.release();
  }
}

/**
 * Runs `trainingPipeline` to completion: finds or starts a server, runs a worker unless told not to,
 * polls the `progress` query while waiting, and cleans up whatever it started.
 */
export async function runPipeline(options: RunPipelineOptions): Promise<PipelineResult> {
  const log = options.log ?? (() => {});
  const runId = assertRunId(options.runId ?? newRunId());
  // A bad config fails here, before a server or worker is started (the workflow checks it again).
  await loadConfig(options.configPath);
  return withTemporal({ startWorker: options.startWorker, log }, async (client, server) => {
    log(`run ${runId} on ${server.address} (${server.source})`);
    const handle = await client.workflow.start('trainingPipeline', {
      taskQueue: TASK_QUEUE,
      workflowId: runId,
      args: [{ configPath: resolve(options.configPath), token: options.token }],
    });
    const poll = pollEvery(1000, async () => {
      const p = await handle.query(progressQuery);
      options.onProgress?.(p, p.step === 'train' ? await modelProgress(client, handle) : []);
    });
    const interrupted = untilInterrupted();
    try {
      const outcome = await Promise.race([
        handle.result().then((result: PipelineResult) => ({ result })),
        interrupted.signal.then((signal) => ({ signal })),
      ]);
      if ('signal' in outcome) {
        // Left running, the run would hold the server's task queue until some worker finished it: cancel it instead.
        log(`${outcome.signal}: cancelling run ${runId}…`);
        await handle.cancel();
        // The activities hear of it at their next heartbeat and stop their training threads; then the worker drains.
        await handle.result().catch(() => {});
        throw new Error(`interrupted by ${outcome.signal}: run ${runId} was cancelled`);
      }
      return outcome.result;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const p = await handle.query(progressQuery).catch(() => null);
        throw new Error(`run ${runId} failed${p ? ` at step ${p.step}` : ''}: ${failureMessage(err)}`);
      }
      throw err;
    } finally {
      interrupted.dispose();
      await poll.stop();
    }
  });
}
