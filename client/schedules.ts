import { resolve } from 'node:path';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { fileExists } from '../lib/data/raw';
import { appendAudit, authorize, type Credential } from '../lib/governance';
import { monitoringSchedule, readMonitoringManifest, registerSchedule } from '../lib/monitor/store';
import { completedRunManifest, windowIdOf } from '../lib/monitor/window';
import { assertRunId, resolveRunDir } from '../lib/run';
import { readableInput } from '../lib/settings';
import { monitoringScheduleId, type MonitoringInput, type ScheduleRecord } from '../schemas/monitoring';
import { withClient } from './connection';
import { findServer } from './server';
import { describeServer } from './settings';
import { monitoringScheduleAction } from './workflows';

/** Nightly at 02:00 (server time zone, UTC on our servers). */
export const DEFAULT_MONITORING_CRON = '0 2 * * *';

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
  // The nightly window carries only the run: its CSV comes from the plan an ADMIN stored (registerSchedule).
  const input: MonitoringInput = { runId: spec.runId };
  const action = monitoringScheduleAction(scheduleId, input);
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

export interface ConfigureMonitoringOptions extends Omit<MonitoringScheduleSpec, 'current'> {
  /** The caller (needs `configure_monitoring`, ADMIN). */
  credential: Credential;
  /** The window CSV, resolved against the working directory. */
  current: string;
  /** Why, for the audit log. */
  reason?: string;
  log?: (line: string) => void;
}

/**
 * `access-perm monitor schedule`: checks the caller and the run, upserts the run's Temporal Schedule on a server
 * that outlives this command (the configured one or `access-perm dev`'s; never an embedded one), stores the plan
 * (the CSV each night reads: scheduled windows carry only the run id) and audits the change.
 */
export async function configureMonitoringSchedule(options: ConfigureMonitoringOptions) {
  const server = await findServer();
  const done = await withClient(server, (client) =>
    configureMonitoringScheduleOn(client, describeServer(server), options),
  );
  return { ...done, address: server.address };
}

/** {@link configureMonitoringSchedule} on a connected client (the control-plane API's); `server` names it. */
export async function configureMonitoringScheduleOn(
  client: Client,
  server: string,
  options: ConfigureMonitoringOptions,
) {
  const runId = assertRunId(options.runId);
  const scheduleResource = { type: 'monitoring_schedule', id: monitoringScheduleId(runId), runId };
  const who = await authorize(options.credential, 'configure_monitoring', scheduleResource);
  await completedRunManifest(runId, await resolveRunDir(runId));
  // The worker reads the plan's CSV each night: it must lie where workflows may read.
  const current = await readableInput(resolve(options.current), 'monitoring window');
  if (!(await fileExists(current)))
    options.log?.(`note: ${current} does not exist yet; each night reads it when it fires`);
  const outcome = await upsertMonitoringSchedule(client, { runId, cron: options.cron, current });
  const record = {
    runId,
    scheduleId: outcome.scheduleId,
    cron: options.cron,
    current,
    configuredBy: who.userId,
    configuredAt: new Date().toISOString(),
  };
  const before = await registerSchedule(record);
  await appendAudit({
    user_id: who.userId,
    user_role: who.role,
    temporary_role: who.temporaryRole === true,
    action: 'monitoring_configured',
    resource_type: 'monitoring_schedule',
    resource_id: outcome.scheduleId,
    correlation_id: runId,
    status: 'success',
    source: options.credential.source ?? 'cli',
    before: before ? { cron: before.cron, current: before.current } : null,
    after: { cron: record.cron, current: record.current },
    reason: options.reason ?? null,
    result: outcome.created ? 'created' : 'updated',
  });
  return { record, created: outcome.created, server };
}

/** Where a run's nightly monitoring stands: the stored plan, and the Temporal schedule's next and recent runs. */
export interface MonitoringScheduleStatus {
  runId: string;
  /** The plan an ADMIN stored (cron, window CSV, who and when); null when monitoring was never scheduled. */
  plan: ScheduleRecord | null;
  /** The schedule on the Temporal server; null when the server has none under the run's schedule id. */
  schedule: {
    scheduleId: string;
    paused: boolean;
    note: string | null;
    nextRuns: string[];
    recentRuns: RecentMonitoringRun[];
  } | null;
}

/**
 * A window the schedule started: its workflow's status on the server (`RUNNING`, `COMPLETED`, `FAILED`,
 * `TERMINATED`, …, or `UNKNOWN` once the server forgot it) and whether the run's signed monitoring manifest
 * recorded it. A finished window that is not recorded is a night without monitoring (a bad CSV, or a workflow
 * stopped on the server), visible here rather than only as a gap in the history.
 */
export interface RecentMonitoringRun {
  scheduledAt: string;
  startedAt: string;
  workflowId: string | null;
  status: string;
  recorded: boolean;
}

/** {@link MonitoringScheduleStatus} of a run (`view_monitoring`: every role), read on a connected client. */
export async function monitoringScheduleStatusOn(
  client: Client,
  credential: Credential,
  runId: string,
): Promise<MonitoringScheduleStatus> {
  const scheduleId = monitoringScheduleId(assertRunId(runId));
  await authorize(credential, 'view_monitoring', { type: 'monitoring_schedule', id: scheduleId, runId });
  const runDir = await resolveRunDir(runId);
  const plan = await monitoringSchedule(runId);
  const described = await client.schedule
    .getHandle(scheduleId)
    .describe()
    .catch((e: unknown) => {
      if (e instanceof ScheduleNotFoundError) return null;
      throw e;
    });
  if (!described) return { runId, plan, schedule: null };
  const recordedWindows = new Set((await readMonitoringManifest(runId, runDir)).windows.map((w) => w.windowId));
  const recentRuns = await Promise.all(
    described.info.recentActions.map(async (a): Promise<RecentMonitoringRun> => {
      const workflowId = a.action.type === 'startWorkflow' ? a.action.workflow.workflowId : null;
      const status = workflowId
        ? await client.workflow
            .getHandle(workflowId)
            .describe()
            .then((d) => d.status.name)
            .catch((e: unknown) => {
              if (e instanceof WorkflowNotFoundError) return 'UNKNOWN';
              throw e;
            })
        : 'UNKNOWN';
      return {
        scheduledAt: a.scheduledAt.toISOString(),
        startedAt: a.takenAt.toISOString(),
        workflowId,
        status,
        recorded: workflowId !== null && recordedWindows.has(windowIdOf(workflowId)),
      };
    }),
  );
  const schedule = {
    scheduleId,
    paused: described.state.paused,
    note: described.state.note ?? null,
    nextRuns: described.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
    recentRuns,
  };
  return { runId, plan, schedule };
}

/** {@link monitoringScheduleStatusOn} on the configured server (or `access-perm dev`'s). */
export async function monitoringScheduleStatus(credential: Credential, runId: string) {
  return withClient(await findServer(), (client) => monitoringScheduleStatusOn(client, credential, runId));
}
