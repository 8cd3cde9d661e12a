import { resolve } from 'node:path';
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { loadConfig } from '../lib/config';
import { JobFailedError, RunStateError, UnknownRunError } from '../lib/errors';
import { authenticate, issueCapability, type Credential } from '../lib/governance';
import { auditCancelRequest, authorizeRunCancel } from '../lib/pipeline/cancel';
import { assertRunId, newRunId } from '../lib/run';
import { monitoringScheduleId, type MonitoringProgress, type MonitoringResult } from '../schemas/monitoring';
import type { PipelineProgress, PipelineResult } from '../schemas/run';
import { monitoringProgressQuery, progressQuery } from '../workflows/definitions';
import { connectClient, withClient } from './connection';
import { startLocalWorker } from './localWorker';
import { failureMessage, modelProgress, pollEvery, type ModelProgress } from './poll';
import { findServer } from './server';
import { describeServer, type TemporalServer } from './settings';
import { pipelineHandle, startMonitoring, startTrainingPipeline } from './workflows';

/**
 * Runs `fn` with a client of a Temporal server: finds or starts one (see {@link findServer}), runs a worker in
 * this process unless told not to, and cleans up whatever it started. Shared by the commands that wait for a run.
 */
export async function withTemporal<T>(
  options: { startWorker?: boolean; log?: (line: string) => void },
  fn: (client: Client, server: TemporalServer) => Promise<T>,
): Promise<T> {
  const server = await findServer({ embedded: true, log: options.log });
  try {
    // The client connects first, so a server that does not answer is named before a worker tries it.
    return await withClient(server, async (client) => {
      const local = options.startWorker === false ? null : await startLocalWorker(server, { log: options.log });
      try {
        return await fn(client, server);
      } finally {
        await local?.stop();
      }
    });
  } finally {
    await server.release();
  }
}

/** Resolves with the signal's name on Ctrl-C or SIGTERM, until disposed. */
function untilInterrupted(): { signal: Promise<NodeJS.Signals>; dispose: () => void } {
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
 * Starts `trainingPipeline` for run `runId` without waiting: the caller's token is proven here and the workflow
 * receives a `createRun` capability for this run and config (tokens never travel through Temporal).
 */
export async function startRun(
  client: Client,
  run: { runId: string; configPath: string; credential: Credential },
): Promise<ReturnType<typeof pipelineHandle>> {
  const request = { configPath: resolve(run.configPath) };
  const capability = await issueCapability(run.credential, { op: 'createRun', runId: run.runId, request });
  return startTrainingPipeline(client, { runId: run.runId, input: { ...request, capability } });
}

export interface RunPipelineOptions {
  configPath: string;
  runId?: string;
  /**
   * The caller's token, proven here: the workflow receives a `createRun` capability for this run and config instead
   * (tokens never travel through Temporal) and checks it for `create_run`.
   */
  credential: Credential;
  /** Start a worker in this process (default). Off when workers already poll the server's task queue. */
  startWorker?: boolean;
  /** Called about once a second; during `train`, `models` holds the iterations of each model in training. */
  onProgress?: (p: PipelineProgress, models: ModelProgress[]) => void;
  log?: (line: string) => void;
}

/**
 * Runs `trainingPipeline` to completion: finds or starts a server, runs a worker unless told not to,
 * polls the `progress` query while waiting, and cleans up whatever it started. Ctrl-C cancels the run.
 */
export async function runPipeline(options: RunPipelineOptions): Promise<PipelineResult> {
  const log = options.log ?? (() => {});
  const runId = assertRunId(options.runId ?? newRunId());
  // A bad config fails here, before a server or worker is started (the workflow checks it again).
  await loadConfig(options.configPath);
  return withTemporal({ startWorker: options.startWorker, log }, async (client, server) => {
    log(`run ${runId} on ${describeServer(server)}`);
    const handle = await startRun(client, { runId, configPath: options.configPath, credential: options.credential });
    const poll = pollEvery(1000, async () => {
      const p = await handle.query(progressQuery);
      options.onProgress?.(p, p.step === 'train' ? await modelProgress(client, handle) : []);
    });
    const interrupted = untilInterrupted();
    try {
      const outcome = await Promise.race([
        handle.result().then((result) => ({ result })),
        interrupted.signal.then((signal) => ({ signal })),
      ]);
      if ('signal' in outcome) {
        // Left running, the run would hold the server's task queue until some worker finished it: cancel it instead.
        log(`${outcome.signal}: cancelling run ${runId}…`);
        await handle.cancel();
        const starter = await authenticate(options.credential);
        await auditCancelRequest(starter, runId, `interrupted by ${outcome.signal} in pipeline run`).catch((e: Error) =>
          log(`warning: the cancellation could not be audited: ${e.message}`),
        );
        // The activities hear of it at their next heartbeat and stop their training threads; then the worker drains.
        await handle.result().catch(() => {});
        throw new Error(`interrupted by ${outcome.signal}: run ${runId} was cancelled`);
      }
      return outcome.result;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const p = await handle.query(progressQuery).catch(() => null);
        throw new JobFailedError(`run ${runId} failed${p ? ` at step ${p.step}` : ''}: ${failureMessage(err)}`);
      }
      throw err;
    } finally {
      interrupted.dispose();
      await poll.stop();
    }
  });
}

export interface RunMonitoringOptions {
  runId: string;
  current: string;
  label?: string;
  /** The caller's token, proven here; the workflow receives a `monitorWindow` capability for this window. */
  credential: Credential;
  startWorker?: boolean;
  onProgress?: (p: MonitoringProgress) => void;
  log?: (line: string) => void;
}

/** A manual window's workflow id: the run, then the UTC time (`monitor-<run>-manual-20261129T101500Z`). */
export function manualWindowId(runId: string, now = new Date()): string {
  return `${monitoringScheduleId(runId)}-manual-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')}`;
}

/** Runs `monitoringWorkflow` on one window and waits for it, polling its `progress` query. */
export async function runMonitoring(options: RunMonitoringOptions): Promise<MonitoringResult> {
  return withTemporal({ startWorker: options.startWorker, log: options.log }, (client, server) =>
    monitorWindowOn(client, options, describeServer(server)),
  );
}

/** {@link runMonitoring} on a connected client whose workers already poll (the control-plane API's). */
export async function monitorWindowOn(
  client: Client,
  options: Omit<RunMonitoringOptions, 'startWorker'>,
  server?: string,
): Promise<MonitoringResult> {
  const runId = assertRunId(options.runId);
  const window = { current: resolve(options.current), ...(options.label ? { label: options.label } : {}) };
  const workflowId = manualWindowId(runId);
  options.log?.(`monitoring ${runId} as ${workflowId}${server ? ` on ${server}` : ''}`);
  const capability = await issueCapability(options.credential, {
    op: 'monitorWindow',
    runId,
    request: { runId, window },
  });
  const handle = await startMonitoring(client, { workflowId, input: { runId, window, capability } });
  const poll = pollEvery(1000, async () => options.onProgress?.(await handle.query(monitoringProgressQuery)));
  try {
    return await handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const p = await handle.query(monitoringProgressQuery).catch(() => null);
      throw new JobFailedError(
        `monitoring ${workflowId} failed${p ? ` at step ${p.step}` : ''}: ${failureMessage(err)}`,
      );
    }
    throw err;
  } finally {
    await poll.stop();
  }
}

/** What a run's workflow reports: its progress, the models in training, and its result once it completed. */
export interface RunProgress {
  progress: PipelineProgress;
  models: ModelProgress[];
  result: PipelineResult | null;
}

/** A run's {@link RunProgress} from its `trainingPipeline` workflow (running or closed). */
export async function runProgressOn(client: Client, runId: string): Promise<RunProgress> {
  const handle = pipelineHandle(client, assertRunId(runId));
  const progress = await handle.query(progressQuery).catch((e: unknown) => {
    throw e instanceof WorkflowNotFoundError ? new UnknownRunError(`run ${runId} has no training workflow`) : e;
  });
  const running = progress.status === 'running';
  return {
    progress,
    models: running && progress.step === 'train' ? await modelProgress(client, handle) : [],
    result: progress.status === 'completed' ? await handle.result() : null,
  };
}

/** What the listing and the details of a run have in common here. */
interface RunRecordState {
  runId: string;
  state: string;
  serverStatus?: string;
}

/**
 * To each run whose records say it is running, adds its workflow's status on the Temporal server (`serverStatus`):
 * a run stopped there without reaching its own end record (terminated, timed out, its history gone) would otherwise
 * show running for ever. `client` is asked only when some run is running; when it cannot be had, or a workflow not
 * described, the status says why ("unknown: …").
 */
export async function withServerStatus<T extends RunRecordState>(
  runs: T[],
  client: () => Promise<Client>,
): Promise<T[]> {
  const running = runs.filter((r) => r.state === 'running');
  if (running.length === 0) return runs;
  const connected = await client().catch((e: unknown) => e as Error);
  await Promise.all(
    running.map(async (r) => {
      r.serverStatus =
        connected instanceof Error
          ? `unknown: ${connected.message}`
          : await pipelineHandle(connected, r.runId)
              .describe()
              .then(
                (d) => d.status.name,
                (e: unknown) => (e instanceof WorkflowNotFoundError ? 'NOT_FOUND' : `unknown: ${(e as Error).message}`),
              );
    }),
  );
  return runs;
}

/** {@link withServerStatus} on the configured server or `access-perm dev`'s (never one started for this). */
export async function withLocalServerStatus<T extends RunRecordState>(runs: T[]): Promise<T[]> {
  if (!runs.some((r) => r.state === 'running')) return runs;
  let server: TemporalServer | undefined;
  let client: Client | undefined;
  try {
    return await withServerStatus(runs, async () => {
      server = await findServer();
      client = await connectClient(server);
      return client;
    });
  } finally {
    await client?.connection.close();
    await server?.release();
  }
}

export interface CancelRunOptions {
  runId: string;
  reason: string;
  credential: Credential;
  /** Wait until the run has stopped (its activities hear of it at their next heartbeat, within seconds). */
  wait?: boolean;
  log?: (line: string) => void;
}

/** What a cancellation left: the run's last progress (status `cancelled` once it stopped, with its step). */
export interface CancelledRun {
  runId: string;
  stopped: boolean;
  progress: PipelineProgress | null;
}

/**
 * Cancels a running training run through Temporal (the whole workflow: fold activities in flight stop at their
 * next heartbeat). The caller is authorised first (`cancel_run`: ANALYST own runs, MODELER, ADMIN); the request is
 * audited as `run_cancel_requested` once Temporal accepted it, and the run itself records `run_cancelled`.
 */
export async function cancelRunOn(client: Client, options: CancelRunOptions): Promise<CancelledRun> {
  const runId = assertRunId(options.runId);
  const identity = await authorizeRunCancel(options.credential, runId);
  const handle = pipelineHandle(client, runId);
  const status = await handle.describe().then(
    (d) => d.status.name,
    (e: unknown) => {
      throw e instanceof WorkflowNotFoundError
        ? new UnknownRunError(
            `run ${runId} has no workflow on the Temporal server (namespace ${client.options.namespace})`,
          )
        : e;
    },
  );
  if (status !== 'RUNNING') throw new RunStateError(`run ${runId} is not running: its workflow is ${status}`);
  await handle.cancel();
  options.log?.(`cancellation of ${runId} sent`);
  await auditCancelRequest(identity, runId, options.reason, options.credential.source).catch((e: Error) => {
    throw new Error(`run ${runId} is being cancelled, but the request could not be audited: ${e.message}`);
  });
  if (options.wait) await handle.result().catch(() => undefined);
  const progress = await handle.query(progressQuery).catch(() => null);
  return { runId, stopped: progress?.status === 'cancelled', progress };
}

/** {@link cancelRunOn} on the running server (the configured one or `access-perm dev`'s). */
export async function cancelRun(options: CancelRunOptions): Promise<CancelledRun> {
  const server = await findServer();
  try {
    return await withClient(server, (client) => cancelRunOn(client, options));
  } finally {
    await server.release();
  }
}
