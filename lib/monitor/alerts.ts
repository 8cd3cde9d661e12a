import type { AccessPermConfig } from '../../schemas/config';
import {
  METRIC_NAMES,
  type DriftSummary,
  type MonitoringAlert,
  type PerformanceSummary,
  type WindowRef,
} from '../../schemas/monitoring';
import { appendAudit } from '../governance/audit';
import { notify } from '../notify';
import { readSettings } from '../settings';

/** The audit identity of monitoring itself (alerts are raised by the system, not a person). */
export const MONITORING_ACTOR = 'system:monitoring';

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/**
 * The alerts a window raises under the run's `monitoring.alerts` config: dataset drift (share of drifted
 * features ≥ the configured share), and each metric that fell below the reference by more than its tolerance
 * on a labelled window of at least `min_labelled_rows` rows.
 */
export function alertsFor(
  config: AccessPermConfig,
  label: string,
  drift: DriftSummary,
  performance: PerformanceSummary,
): MonitoringAlert[] {
  const rules = config.monitoring.alerts;
  const alerts: MonitoringAlert[] = [];
  if (rules.dataset_drift && drift.driftedDataset)
    alerts.push({
      kind: 'drift_alert',
      subject: `dataset drift in ${label}: ${drift.drifted.length} features drifted (${pct(drift.share)} ≥ ${pct(drift.threshold)}): ${drift.drifted.join(', ')}`,
    });
  if (performance.labelled && performance.rows >= rules.min_labelled_rows) {
    const drops = METRIC_NAMES.flatMap((m) => {
      const tolerance = rules.metric_drop[m];
      const v = performance.metrics[m];
      return tolerance !== undefined && v !== undefined && v.change < -tolerance
        ? [`${m} ${v.current.toFixed(4)} vs ${v.reference.toFixed(4)} (${v.change.toFixed(4)}, tolerance ${tolerance})`]
        : [];
    });
    if (drops.length > 0)
      alerts.push({ kind: 'performance_alert', subject: `performance drop in ${label}: ${drops.join('; ')}` });
  }
  return alerts;
}

/**
 * Records each alert as an audit entry (`drift_alert` / `performance_alert`, by `system:monitoring`, correlated
 * with the run) and a notification to the system setting `alerts.recipient_roles` / `recipient_users` (validators
 * and admins by default: seed-3 gives them model risk and the system) in the outbox and the webhook, linked by the
 * audit id. `raised` is called after each one (the caller records it, so a retry raises it once).
 */
export async function raiseAlerts(
  ref: WindowRef,
  alerts: MonitoringAlert[],
  reportPath: string,
  raised: (kind: MonitoringAlert['kind']) => Promise<void> = async () => undefined,
): Promise<void> {
  const { recipient_roles: roles, recipient_users: users } = (await readSettings()).alerts;
  for (const alert of alerts) {
    const entry = await appendAudit({
      user_id: MONITORING_ACTOR,
      user_role: 'SYSTEM',
      action: alert.kind,
      resource_type: 'monitoring_window',
      resource_id: `${ref.runId}/${ref.windowId}`,
      correlation_id: ref.runId,
      status: 'success',
      source: 'worker',
      result: alert.subject.slice(0, 500),
      details: { window_id: ref.windowId, report: reportPath },
    });
    await notify({
      kind: alert.kind,
      to: { roles, users },
      subject: `[${ref.runId}] ${alert.subject}`.slice(0, 300),
      body: `Monitoring of run ${ref.runId}, window ${ref.windowId}: ${alert.subject}\nReport: ${reportPath}`,
      run_id: ref.runId,
      correlation_id: ref.runId,
      details: { window_id: ref.windowId, report: reportPath, audit_id: entry.audit_id },
    });
    await raised(alert.kind);
  }
}
