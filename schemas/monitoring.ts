import { z } from 'zod';
import { capabilitySchema } from './governance';

/**
 * Monitoring schemas shared by lib/monitor, activities, the monitoring workflow and the CLI.
 * Pure zod, no Node imports: the workflow bundle imports this file.
 */

/** A window of new requests to monitor: a CSV in the scoring contract (userId, appId, and the label `permission` when known). */
export const monitoringWindowSchema = z
  .object({
    /** Path to the CSV, resolved by the worker (relative paths against its working directory). */
    current: z.string().min(1),
    /** A name for the window shown in reports and history (e.g. the night it covers); default: the file name. */
    label: z.string().min(1).max(100).optional(),
  })
  .strict();
export type MonitoringWindow = z.infer<typeof monitoringWindowSchema>;

/**
 * Input of `monitoringWorkflow`. A manual window names its CSV and carries a capability for exactly that request
 * (`monitorWindow`, checked for `generate_report`). A scheduled run carries only the run id: it monitors what the
 * ADMIN configured for the run (the stored monitoring plan), so starting one by hand changes nothing.
 */
const runId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a run id');
export const manualMonitoringInputSchema = z.strictObject({
  runId,
  window: monitoringWindowSchema,
  capability: capabilitySchema,
});
export const monitoringInputSchema = z
  .strictObject({ runId, window: monitoringWindowSchema.optional(), capability: capabilitySchema.optional() })
  .superRefine((input, ctx) => {
    if (input.window && !input.capability)
      ctx.addIssue({
        code: 'custom',
        path: ['capability'],
        message:
          'a window without a capability is refused: start manual windows with access-perm monitor run, or get a capability with access-perm auth capability --op monitorWindow; a scheduled window carries only the run id',
      });
    if (input.capability && !input.window)
      ctx.addIssue({ code: 'custom', path: ['window'], message: 'a capability is issued for a window: name it' });
  })
  .transform((input) => input as MonitoringInput);
/** A manual window with the capability issued for it, or the run id alone (the scheduled window). */
export type MonitoringInput = z.infer<typeof manualMonitoringInputSchema> | { runId: string };

export const MONITORING_STEPS = ['load', 'validate', 'score', 'drift', 'performance', 'report', 'alert'] as const;
export type MonitoringStep = (typeof MONITORING_STEPS)[number];

export interface MonitoringProgress {
  runId: string;
  windowId: string;
  status: 'running' | 'completed' | 'failed';
  step: MonitoringStep;
  stepIndex: number;
  steps: readonly MonitoringStep[];
  message: string;
  error?: string;
}

/** A monitoring window as payloads name it: ids only (the worker resolves the folders). */
export const windowRefSchema = z.strictObject({
  runId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a run id'),
  windowId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$/, 'a window id'),
});
export type WindowRef = z.infer<typeof windowRefSchema>;

export const METRIC_NAMES = ['rocAuc', 'prAuc', 'accuracy', 'precision', 'recall', 'f1'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export interface DriftSummary {
  driftedDataset: boolean;
  share: number;
  threshold: number;
  drifted: string[];
  targetDrifted: boolean | null;
  predictionDrifted: boolean | null;
  /** Largest new-category rate over the categorical features, with the feature. */
  maxNewCategoryRate: { column: string; rate: number } | null;
}

export interface PerformanceSummary {
  labelled: boolean;
  rows: number;
  /** Metric values of the window and their change against the run's out-of-fold reference (null when unlabelled). */
  metrics: Partial<Record<MetricName, { current: number; reference: number; change: number }>>;
  flaggedSegments: number;
}

export interface MonitoringAlert {
  kind: 'drift_alert' | 'performance_alert';
  subject: string;
}

export interface MonitoringResult {
  runId: string;
  windowId: string;
  label: string;
  rows: number;
  drift: DriftSummary;
  performance: PerformanceSummary;
  alerts: MonitoringAlert[];
  /** Paths relative to the run folder. */
  report: { html: string; json: string; sha256: string };
}

/** One line of `<runDir>/monitoring/history.jsonl`: the trend across nights is a query over these. */
export const historyEntrySchema = z
  .object({
    window_id: z.string(),
    label: z.string(),
    monitored_at: z.string(),
    source: z.string(),
    source_sha256: z.string(),
    rows: z.number().int().nonnegative(),
    labelled: z.boolean(),
    dataset_drift: z.boolean(),
    drift_share: z.number(),
    drifted_features: z.array(z.string()),
    target_drift: z.boolean().nullable(),
    prediction_drift: z.boolean().nullable(),
    mean_score: z.number(),
    approval_rate: z.number().nullable(),
    /** Feature → drift score (p-value or distance) and PSI. */
    feature_scores: z.record(z.string(), z.object({ test: z.string(), score: z.number(), psi: z.number() })),
    metrics: z.record(z.string(), z.number()).nullable(),
    alerts: z.array(z.string()),
    report_html: z.string(),
    report_json: z.string(),
  })
  .strict();
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

/** A registered nightly schedule (`<dataDir>/monitoring/schedules.json`), written by `access-perm monitor schedule`. */
export const scheduleRecordSchema = z
  .object({
    runId: z.string(),
    scheduleId: z.string(),
    cron: z.string(),
    current: z.string(),
    configuredBy: z.string(),
    configuredAt: z.string(),
  })
  .strict();
export type ScheduleRecord = z.infer<typeof scheduleRecordSchema>;

/** The schedule id of a run's nightly monitoring: one per run, so creating it again updates it. */
export const monitoringScheduleId = (runId: string): string => `monitor-${runId}`;
