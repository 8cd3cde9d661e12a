import { ApplicationFailure, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { MonitoringActivities } from '../activities/monitoring';
import { NON_RETRYABLE_ERROR_TYPES } from '../schemas/errors';
import {
  MONITORING_STEPS,
  monitoringInputSchema,
  type MonitoringInput,
  type MonitoringProgress,
  type MonitoringResult,
  type MonitoringStep,
} from '../schemas/monitoring';
import { monitoringProgressQuery } from './definitions';

const steps = proxyActivities<MonitoringActivities>({
  startToCloseTimeout: '30 minutes',
  // Every step heartbeats every 2 s; a silent minute means the worker died.
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '2s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

/**
 * Monitors one window of new requests against a run: load → validate the scoring contract → score with the run's
 * model → drift → performance → report → alert. Started by hand (`access-perm monitor run`, `temporal workflow
 * start`) or nightly by the run's Temporal Schedule; the window's outputs are named after the workflow id. The input
 * is typed for our clients and checked again here (the `temporal` CLI sends any JSON).
 */
export async function monitoringWorkflow(rawInput: MonitoringInput): Promise<MonitoringResult> {
  const parsed = monitoringInputSchema.safeParse(rawInput);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
    throw ApplicationFailure.nonRetryable(`invalid monitoringWorkflow input — ${problems}`, 'InvalidInput');
  }
  const input = parsed.data;
  const { workflowId } = workflowInfo();
  const progress: MonitoringProgress = {
    runId: input.runId,
    windowId: workflowId,
    status: 'running',
    step: 'load',
    stepIndex: 0,
    steps: MONITORING_STEPS,
    message: 'window' in input ? `loading ${input.window.current}` : 'loading the scheduled window',
  };
  setHandler(monitoringProgressQuery, () => progress);
  const enter = (step: MonitoringStep, message: string): void => {
    progress.step = step;
    progress.stepIndex = MONITORING_STEPS.indexOf(step);
    progress.message = message;
  };
  try {
    const loaded = await steps.loadWindow(input);
    const ref = loaded.ref;
    progress.windowId = ref.windowId;
    enter('validate', `checking ${loaded.rows} requests against the scoring contract`);
    await steps.validateWindow(ref);
    enter('score', "scoring with the run's model");
    await steps.scoreWindow(ref);
    enter('drift', 'comparing with the reference window');
    const drift = await steps.driftWindow(ref);
    enter('performance', loaded.labelled ? 'measuring performance at the run threshold' : 'no labels: skipped');
    await steps.performanceWindow(ref);
    enter('report', 'writing the report');
    const result = await steps.reportWindow(ref);
    enter('alert', result.alerts.length ? `checking that ${result.alerts.length} alert(s) went out` : 'no alerts');
    await steps.alertWindow(ref);
    progress.status = 'completed';
    progress.message = `${drift.driftedDataset ? 'dataset drift' : 'no dataset drift'} (${drift.drifted.length} features drifted), ${result.alerts.length} alert(s); report ${result.report.html}`;
    return result;
  } catch (err) {
    progress.status = 'failed';
    progress.error =
      err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    throw err;
  }
}
