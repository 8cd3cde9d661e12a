import { authorize } from '../lib/governance/authorize';
import { GovernanceError } from '../lib/governance/errors';
import { driftWindow, performanceWindow } from '../lib/monitor/analyze';
import { alertWindow, reportWindow } from '../lib/monitor/publish';
import { scoreWindow } from '../lib/monitor/score';
import { hasMonitoringSchedule } from '../lib/monitor/store';
import { loadWindow, validateWindow, windowFolder, windowIdOf, type WindowFolder } from '../lib/monitor/window';
import { assertRunId } from '../lib/run';
import { windowRefSchema, type MonitoringWindow, type WindowRef } from '../schemas/monitoring';
import { guarded } from './failures';
import { withHeartbeats } from './index';

/** The identity scheduled windows run under: the schedule itself, configured by an ADMIN. */
const SCHEDULE_ACTOR = 'system:monitoring-schedule';

/**
 * Who asked for the window. A token is checked for `generate_report` (a monitoring run writes a report); without
 * one, the run must have a monitoring schedule an ADMIN configured (`configure_monitoring`), whose runs carry no
 * token because tokens expire long before a nightly schedule does.
 */
async function requester(runId: string, token: string | undefined): Promise<string> {
  if (token) {
    const who = await authorize({ token, source: 'workflow' }, 'generate_report', {
      type: 'monitoring_window',
      runId,
    });
    return who.userId;
  }
  if (await hasMonitoringSchedule(runId)) return SCHEDULE_ACTOR;
  throw new GovernanceError(
    `monitoring run ${runId} has no token and no monitoring schedule: pass a token (generate_report) or ask an ADMIN to run \`access-perm monitor schedule --run ${runId}\``,
  );
}

/** Runs a monitoring step on the window a payload names (checked: ids only, resolved here), heartbeating. */
function onWindow<T>(ref: WindowRef, step: (window: WindowFolder) => Promise<T>): Promise<T> {
  return guarded(async () => {
    const window = await windowFolder(windowRefSchema.parse(ref));
    return withHeartbeats(() => step(window));
  });
}

/** Activities of the monitoring workflow: thin adapters over lib/monitor; payloads are window refs and summaries. */
export function createMonitoringActivities() {
  return {
    loadWindow: (input: { runId: string; workflowId: string; window: MonitoringWindow; token?: string }) =>
      guarded(async () => {
        const runId = assertRunId(input.runId);
        const requestedBy = await requester(runId, input.token);
        const ref: WindowRef = { runId, windowId: windowIdOf(input.workflowId) };
        const info = await withHeartbeats(async () => loadWindow(await windowFolder(ref), input.window, requestedBy));
        return { ref, rows: info.rows, labelled: info.labelled, label: info.label };
      }),
    validateWindow: (ref: WindowRef) => onWindow(ref, validateWindow),
    scoreWindow: (ref: WindowRef) => onWindow(ref, scoreWindow),
    driftWindow: (ref: WindowRef) => onWindow(ref, driftWindow),
    performanceWindow: (ref: WindowRef) => onWindow(ref, performanceWindow),
    reportWindow: (ref: WindowRef) => onWindow(ref, reportWindow),
    alertWindow: (ref: WindowRef) => onWindow(ref, alertWindow),
  };
}

export type MonitoringActivities = ReturnType<typeof createMonitoringActivities>;
