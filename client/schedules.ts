import { resolve } from 'node:path';
import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { fileExists } from '../lib/data/raw';
import { appendAudit, authorize, type Credential } from '../lib/governance';
import { registerSchedule } from '../lib/monitor/store';
import { completedRunManifest } from '../lib/monitor/window';
import { assertRunId, resolveRunDir } from '../lib/run';
import { readableInput } from '../lib/settings';
import { monitoringScheduleId, type MonitoringInput } from '../schemas/monitoring';
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
