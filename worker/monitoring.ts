import { resolve } from 'node:path';
import { ScheduleAlreadyRunning, WorkflowFailedError, type Client } from '@temporalio/client';
import { assertRunId } from '../lib/run';
import {
  monitoringScheduleId,
  type MonitoringInput,
  type MonitoringProgress,
  type MonitoringResult,
} from '../schemas/monitoring';
import { monitoringProgressQuery, TASK_QUEUE } from '../workflows/definitions';
import { failureMessage, pollEvery, withTemporal } from './runPipeline';

/** Nightly at 02:00 (server time zone, UTC on our servers). */
export const DEFAULT_MONITORING_CRON = '0 2 * * *';

export interface RunMonitoringOptions {
  runId: string;
  current: string;
  label?: string;
  token: string;
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
  const runId = assertRunId(options.runId);
  const input: MonitoringInput = {
    runId,
    window: { current: resolve(options.current), ...(options.label ? { label: options.label } : {}) },
    token: options.token,
  };
  const log = options.log ?? (() => {});
  return withTemporal({ startWorker: options.startWorker, log }, async (client, server) => {
    const workflowId = manualWindowId(runId);
    log(`monitoring ${runId} as ${workflowId} on ${server.address} (${server.source})`);
    const handle = await client.workflow.start('monitoringWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId,
      args: [input],
    });
    const poll = pollEvery(1000, async () => options.onProgress?.(await handle.query(monitoringProgressQuery)));
    try {
      return (await handle.result()) as MonitoringResult;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const p = await handle.query(monitoringProgressQuery).catch(() => null);
        throw new Error(`monitoring ${workflowId} failed${p ? ` at step ${p.step}` : ''}: ${failureMessage(err)}`);
      }
      throw err;
    } finally {
      await poll.stop();
    }
  });
}

export interface MonitoringScheduleSpec {
  runId: string;
  cron: string;
  /** The CSV the nightly window is read from (refreshed by the data feed before the schedule fires). */
  current: string;
}

/**
 * Creates the run's nightly monitoring schedule, or updates it in place when it exists (same id per run), so
 * running it twice changes nothing. Scheduled workflows get the id `monitor-<run>-<fire time>`, skip a night while
 * the previous window still runs, and carry no token (see activities/monitoring.ts).
 */
export async function upsertMonitoringSchedule(
  client: Client,
  spec: MonitoringScheduleSpec,
): Promise<{ scheduleId: string; created: boolean }> {
  const scheduleId = monitoringScheduleId(assertRunId(spec.runId));
  const input: MonitoringInput = { runId: spec.runId, window: { current: spec.current } };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'monitoringWorkflow',
    taskQueue: TASK_QUEUE,
    workflowId: scheduleId,
    args: [input],
  };
  const scheduleSpec = { cronExpressions: [spec.cron] };
  try {
    await client.schedule.create({
      scheduleId,
      spec: scheduleSpec,
      action,
      policies: { overlap: 'SKIP', catchupWindow: '1 day' },
    });
    return { scheduleId, created: true };
  } catch (e) {
    if (!(e instanceof ScheduleAlreadyRunning)) throw e;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec: scheduleSpec, action }));
    return { scheduleId, created: false };
  }
}
