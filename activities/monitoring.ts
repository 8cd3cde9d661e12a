import { authorizeCapability } from '../lib/governance';
import { GovernanceError } from '../lib/governance/errors';
import { driftWindow, performanceWindow } from '../lib/monitor/analyze';
import { alertWindow, reportWindow } from '../lib/monitor/publish';
import { scoreWindow } from '../lib/monitor/score';
import { monitoringSchedule } from '../lib/monitor/store';
import { loadWindow, validateWindow, windowFolder, windowIdOf, type WindowFolder } from '../lib/monitor/window';
import { assertRunId } from '../lib/run';
import { readableInput } from '../lib/settings';
import {
  monitoringInputSchema,
  monitoringScheduleId,
  windowRefSchema,
  type MonitoringInput,
  type MonitoringWindow,
  type WindowRef,
} from '../schemas/monitoring';
import { callingWorkflow } from './caller';
import { guarded } from './failures';
import { withHeartbeats } from './index';

/** The identity scheduled windows run under: the schedule itself, configured by an ADMIN. */
const SCHEDULE_ACTOR = 'system:monitoring-schedule';

/** The monitoring workflow of run `runId` (its workflow ids start with `monitor-<run>-`), and its window id. */
async function monitoringCaller(runId: string): Promise<{ windowId: string; execution: WindowExecution }> {
  const prefix = `${monitoringScheduleId(assertRunId(runId))}-`;
  const caller = await callingWorkflow(['monitoringWorkflow'], (id) => id.startsWith(prefix));
  return { windowId: windowIdOf(caller.workflowId), execution: caller };
}
type WindowExecution = Awaited<ReturnType<typeof callingWorkflow>>;

/**
 * What the window monitors and who asked. A manual window: the capability of its requester, claimed for this
 * execution (`generate_report`: a monitoring run writes a report), and a CSV inside the folders workflows may read. A
 * scheduled one carries no user and no CSV: it monitors what an ADMIN configured for the run (`access-perm monitor
 * schedule`), read from the stored plan; a CSV named without a capability is refused.
 */
async function windowToMonitor(
  input: MonitoringInput,
  execution: WindowExecution,
): Promise<{ window: MonitoringWindow; requestedBy: string }> {
  if ('capability' in input) {
    const { capability: _capability, ...request } = input;
    const who = await authorizeCapability(
      input.capability,
      { op: 'monitorWindow', runId: input.runId, request },
      { ...execution, step: 'load' },
      'generate_report',
      { type: 'monitoring_window', runId: input.runId },
    );
    return {
      window: { ...input.window, current: await readableInput(input.window.current, 'monitoring window') },
      requestedBy: who.userId,
    };
  }
  const plan = await monitoringSchedule(input.runId);
  if (!plan)
    throw new GovernanceError(
      `monitoring run ${input.runId} has no capability and no monitoring schedule: start it with access-perm monitor run, or ask an ADMIN to run \`access-perm monitor schedule --run ${input.runId}\``,
    );
  return {
    window: { current: await readableInput(plan.current, 'scheduled monitoring window') },
    requestedBy: SCHEDULE_ACTOR,
  };
}

/** Runs a monitoring step on the window a payload names, for that window's own workflow only, heartbeating. */
function onWindow<T>(ref: WindowRef, step: (window: WindowFolder) => Promise<T>): Promise<T> {
  return guarded(async () => {
    const parsed = windowRefSchema.parse(ref);
    const { windowId, execution } = await monitoringCaller(parsed.runId);
    if (windowId !== parsed.windowId)
      throw new GovernanceError(`window ${parsed.windowId} is not the window of this workflow (${windowId})`);
    const window = { ...(await windowFolder(parsed)), execution: execution.workflowRunId };
    return withHeartbeats(() => step(window));
  });
}

/** Activities of the monitoring workflow: thin adapters over lib/monitor; payloads are window refs and summaries. */
export function createMonitoringActivities() {
  return {
    loadWindow: (raw: MonitoringInput) =>
      guarded(async () => {
        const input = monitoringInputSchema.parse(raw);
        const { windowId, execution } = await monitoringCaller(input.runId);
        const { window, requestedBy } = await windowToMonitor(input, execution);
        const ref: WindowRef = { runId: input.runId, windowId };
        const folder = { ...(await windowFolder(ref)), execution: execution.workflowRunId };
        const info = await withHeartbeats(() => loadWindow(folder, window, requestedBy));
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
