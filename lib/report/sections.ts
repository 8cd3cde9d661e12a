import type { ArtifactRef } from '../../schemas/run';
import type { MetricsFile } from '../../schemas/metrics';
import type { RunData } from './data';
import type { Block } from './doc';

export const f3 = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(3);
export const f4 = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(4);
export const pct = (x: number | null | undefined, d = 1): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(d)}%`;
export const int = (x: number): string => x.toLocaleString('en-US');

export const DIMENSION_NAMES: Record<string, string> = {
  appId: 'app',
  department_filled: 'department',
  manager_department: 'manager department',
};

/**
 * How the run was cross-validated, in the report's words: the seed's GroupKFold by userId, a flat table's
 * GroupKFold by its group column, or its stratified row-level KFold. `unit` names what the bootstrap resamples.
 */
export function cvScheme(d: RunData): { name: string; unit: string; heldOut: string } {
  const n = d.config.validation.n_splits;
  const data = d.config.data;
  if (data.mode === 'seed') return { name: `GroupKFold(${n}) by \`userId\``, unit: 'users', heldOut: 'user' };
  if (data.group) return { name: `GroupKFold(${n}) by \`${data.group}\``, unit: 'groups', heldOut: 'group' };
  return { name: `stratified KFold(${n}) over rows (seed ${data.fold_seed})`, unit: 'rows', heldOut: 'row' };
}

/** "3,724 users, 509 apps" in seed mode, "120 groups of `team`" for a flat table with a group column. */
export function auditEntities(audit: NonNullable<MetricsFile['audit']>): string | null {
  if (audit.users !== undefined && audit.apps !== undefined)
    return `${int(audit.users)} users, ${int(audit.apps)} apps`;
  if (audit.groups) return `${int(audit.groups.count)} groups of \`${audit.groups.column}\``;
  return null;
}

/** What the segment dimensions are, for the segment paragraphs. */
export function segmentDimensions(d: RunData): string {
  if (d.config.data.mode === 'seed') return 'apps, departments and manager departments';
  return `values of ${d.config.data.categorical.map((c) => `\`${c}\``).join(', ')}`;
}

export function importanceBlocks(metrics: MetricsFile): Block[] {
  const imp = metrics.importance;
  const blocks: Block[] = [{ kind: 'heading', level: 2, text: 'Feature importance' }];
  const pvc = imp?.predictionValuesChange ?? [];
  const shap = new Map((imp?.meanAbsShap ?? []).map((e) => [e.feature, e.importance]));
  if (pvc.length === 0 && shap.size === 0) {
    blocks.push({ kind: 'paragraph', text: imp?.note ?? 'Feature importance is not available for this run.' });
    return blocks;
  }
  const names = pvc.length ? pvc.map((e) => e.feature) : [...shap.keys()];
  const pvcOf = new Map(pvc.map((e) => [e.feature, e.importance]));
  blocks.push(
    {
      kind: 'table',
      header: ['feature', 'PredictionValuesChange (%)', 'mean |SHAP|'],
      align: ['left', 'right', 'right'],
      rows: names.map((n) => [
        `\`${n}\``,
        pvcOf.has(n) ? pvcOf.get(n)!.toFixed(1) : null,
        shap.has(n) ? shap.get(n)!.toFixed(4) : null,
      ]),
    },
    { kind: 'figure', name: 'importance', caption: 'Feature importance' },
  );
  if (imp?.note) blocks.push({ kind: 'paragraph', text: imp.note });
  return blocks;
}

/** The seed's "Considerations and risks", plus what this run's numbers show. */
export function risks(d: RunData): string[] {
  const items = [
    `**Cost asymmetry**: the operating point (${d.metrics.oof.thresholdStrategy}) assumes the configured costs (false approve ${d.metrics.costs?.falseApprove ?? 1}, false deny ${d.metrics.costs?.falseDeny ?? 1}); re-pick the threshold if costs differ (see the threshold table).`,
    '**Distribution shifts**: changes in the app/department mix or the approval rate move the optimal threshold; the monitoring baseline of this run is the reference for drift checks.',
    '**Cold start on new entities**: expect lower accuracy on new apps, managers, departments and offices until history accrues (unseen categories score with the prior).',
    '**Segment variability**: aggregate metrics can hide weaker segments; monitor segment-level metrics.',
  ];
  const flagged = d.metrics.segments?.rows.filter((r) => r.flagged) ?? [];
  if (flagged.length)
    items.push(
      `**Weak segments in this run**: ${flagged.map((r) => `${DIMENSION_NAMES[r.dimension] ?? r.dimension} \`${r.value}\` (accuracy ${f3(r.accuracy)})`).join(', ')}.`,
    );
  const c = d.metrics.calibration;
  if (c && c.recommended !== 'none')
    items.push(
      `**Calibration**: ECE ${f3(c.ece)}; the ${c.recommended} calibrator lowers the cross-fitted logloss, apply it before reading scores as probabilities.`,
    );
  const fm = d.metrics.foldMetrics;
  if (fm && fm.rocAuc.max - fm.rocAuc.min > 0.03)
    items.push(
      `**Fold spread**: ROC-AUC varies by ${f3(fm.rocAuc.max - fm.rocAuc.min)} across folds; results depend on which users are held out.`,
    );
  if (d.metrics.audit && d.metrics.audit.rows < 10_000)
    items.push(`**Small sample**: ${int(d.metrics.audit.rows)} rows; intervals are wide and segment metrics noisy.`);
  return items;
}

export function artifactTable(artifacts: ArtifactRef[]): Block {
  return {
    kind: 'table',
    header: ['path', 'role', 'bytes', 'sha256'],
    align: ['left', 'left', 'right', 'left'],
    rows: artifacts.map((a) => [`\`${a.path}\``, a.role, int(a.bytes), `\`${a.sha256}\``]),
  };
}
