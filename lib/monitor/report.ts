import type { TopLevelSpec } from 'vega-lite';
import type { HistoryEntry, MonitoringAlert } from '../../schemas/monitoring';
import type { Block, FigureFiles } from '../report/doc';
import { f3, f4, int, pct } from '../report/sections';
import type { PerformanceReport } from './analyze';
import type { ColumnDrift, Distribution, DriftReport } from './drift';
import type { WindowInfo } from './window';

/**
 * The monitoring report of one window, as blocks for the shared document renderer (self-contained HTML, figures as
 * inline SVG) plus the Vega-Lite figures it shows. Laid out like Evidently's drift report: a table of features with
 * test, score, threshold and verdict, drifted first, each feature expandable to its distributions.
 */

const REF = '#8c959f';
const CUR = '#d9822b';
const WINDOW_COLOURS = { scale: { domain: ['reference', 'current'], range: [REF, CUR] } } as const;

const featureFigure = (column: string): string => `distribution-${column.replace(/[^A-Za-z0-9_-]/g, '_')}`;

/** Reference and current distributions of one column: overlaid histogram shares or top-category shares. */
export function distributionFigure(title: string, d: Distribution): TopLevelSpec {
  if (d.kind === 'histogram') {
    const total = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) || 1;
    const [tr, tc] = [total(d.reference), total(d.current)];
    const values = d.reference.flatMap((r, i) => [
      { start: d.edges[i]!, end: d.edges[i + 1]!, share: r / tr, window: 'reference' },
      { start: d.edges[i]!, end: d.edges[i + 1]!, share: d.current[i]! / tc, window: 'current' },
    ]);
    return {
      title: {
        text: title,
        subtitle: 'share of non-missing rows per bin (Sturges bins over both windows, as Evidently)',
      },
      width: 520,
      height: 220,
      data: { values },
      mark: { type: 'rect', opacity: 0.55, stroke: 'white', strokeWidth: 0.5 },
      encoding: {
        x: { field: 'start', type: 'quantitative', title: null, scale: { zero: false } },
        x2: { field: 'end' },
        y: { field: 'share', type: 'quantitative', title: 'share', stack: null, axis: { format: '.0%' } },
        color: { field: 'window', type: 'nominal', title: null, ...WINDOW_COLOURS, legend: { orient: 'top' } },
      },
    } as TopLevelSpec;
  }
  const values = d.values.flatMap((v, i) => [
    { value: v, share: d.reference[i]!, window: 'reference' },
    { value: v, share: d.current[i]!, window: 'current' },
  ]);
  if (d.otherReference > 0 || d.otherCurrent > 0)
    values.push(
      { value: '(all others)', share: d.otherReference, window: 'reference' },
      { value: '(all others)', share: d.otherCurrent, window: 'current' },
    );
  return {
    title: { text: title, subtitle: 'share of non-missing rows: the most frequent categories of either window' },
    width: 520,
    height: { step: 9 },
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'value', type: 'nominal', title: null, sort: null, axis: { labelLimit: 220 } },
      yOffset: { field: 'window', sort: ['reference', 'current'] },
      x: { field: 'share', type: 'quantitative', title: 'share', axis: { format: '.0%' } },
      color: { field: 'window', type: 'nominal', title: null, ...WINDOW_COLOURS, legend: { orient: 'top' } },
    },
  } as TopLevelSpec;
}

/** PSI of every feature with the 0.1 / 0.25 bands, drifted features (by their own test) in orange. */
export function psiFigure(report: DriftReport): TopLevelSpec {
  const [moderate, significant] = report.options.psiBands;
  const values = report.features.map((f) => ({
    feature: f.column,
    psi: f.psi,
    verdict: f.drifted ? 'drift detected' : 'no drift',
  }));
  return {
    title: {
      text: 'Population stability index by feature',
      subtitle: `dashed: PSI bands ${moderate} (moderate) and ${significant} (significant); colour: verdict of the feature's drift test`,
    },
    width: 520,
    height: { step: 22 },
    layer: [
      {
        data: { values },
        mark: { type: 'bar' },
        encoding: {
          y: { field: 'feature', type: 'nominal', title: null, sort: null },
          x: { field: 'psi', type: 'quantitative', title: 'PSI' },
          color: {
            field: 'verdict',
            type: 'nominal',
            title: null,
            scale: { domain: ['drift detected', 'no drift'], range: [CUR, REF] },
            legend: { orient: 'top' },
          },
        },
      },
      {
        data: { values: [{ x: moderate }, { x: significant }] },
        mark: { type: 'rule', strokeDash: [5, 4], color: '#1f2328' },
        encoding: { x: { field: 'x', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/** Drift share and, when labelled, ROC-AUC and accuracy across the stored windows. */
export function trendFigure(history: HistoryEntry[]): TopLevelSpec | null {
  if (history.length < 2) return null;
  const values = history.flatMap((h) => [
    { at: h.monitored_at, series: 'share of drifted features', value: h.drift_share },
    ...(h.metrics?.rocAuc !== undefined ? [{ at: h.monitored_at, series: 'ROC-AUC', value: h.metrics.rocAuc }] : []),
    ...(h.metrics?.accuracy !== undefined
      ? [{ at: h.monitored_at, series: 'accuracy', value: h.metrics.accuracy }]
      : []),
  ]);
  return {
    title: { text: 'Trend across monitored windows', subtitle: `${history.length} windows, oldest first` },
    width: 520,
    height: 220,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'at', type: 'temporal', title: null },
      y: { field: 'value', type: 'quantitative', title: null, scale: { domain: [0, 1] } },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'top' } },
    },
  } as TopLevelSpec;
}

export interface WindowReportInput {
  runId: string;
  info: WindowInfo;
  drift: DriftReport;
  performance: PerformanceReport;
  alerts: MonitoringAlert[];
  /** Earlier windows of the run plus this one, oldest first. */
  history: HistoryEntry[];
}

/** Every figure of the report by name (null when there is nothing to draw). */
export function windowFigures(input: WindowReportInput): Record<string, TopLevelSpec | null> {
  const d = input.drift;
  const figures: Record<string, TopLevelSpec | null> = { psi: psiFigure(d), trend: trendFigure(input.history) };
  for (const f of d.features) figures[featureFigure(f.column)] = distributionFigure(f.column, f.distribution);
  if (d.prediction)
    figures.prediction = distributionFigure('Predicted approval probability', d.prediction.distribution);
  return figures;
}

const scoreText = (c: ColumnDrift): string =>
  `${c.scoreKind === 'p_value' ? 'p = ' : ''}${c.score < 1e-4 && c.score > 0 ? c.score.toExponential(2) : f4(c.score)}`;
const verdict = (c: ColumnDrift): string => (c.drifted ? '**Drift detected**' : 'No drift');
const testName: Record<string, string> = {
  ks: 'K-S p-value',
  chisquare: 'chi-square p-value',
  z: 'Z-test p-value',
  wasserstein: 'Wasserstein (normed)',
  jensenshannon: 'Jensen-Shannon distance',
  psi: 'PSI',
};

function summaryOf(c: ColumnDrift, which: 'reference' | 'current'): string {
  const s = c[which];
  return s.kind === 'numeric'
    ? `mean ${f3(s.mean)}, median ${f3(s.median)}, missing ${int(s.missing)}`
    : `${int(s.distinct)} categories, missing ${int(s.missing)}`;
}

function driftBlocks(d: DriftReport): Block[] {
  const ds = d.dataset;
  const blocks: Block[] = [
    { kind: 'heading', level: 2, text: 'Data drift' },
    {
      kind: 'paragraph',
      text: `${ds.drifted_dataset ? '**Dataset drift detected**' : 'No dataset drift'}: ${ds.drifted} of ${ds.columns} features drifted (${pct(ds.share)}; dataset drift from ${pct(ds.threshold)}). Reference ${int(d.rows.reference)} rows, current ${int(d.rows.current)} rows. Tests chosen as Evidently does: p-value tests for references up to ${int(d.options.smallSampleMaxRows)} rows, distances above.`,
    },
    {
      kind: 'table',
      header: ['feature', 'type', 'test', 'drift score', 'threshold', 'verdict', 'PSI'],
      align: ['left', 'left', 'left', 'right', 'right', 'left', 'right'],
      rows: d.features.map((c) => [
        `\`${c.column}\``,
        c.type,
        testName[c.test] ?? c.test,
        scoreText(c),
        f3(c.threshold),
        verdict(c),
        `${f3(c.psi)} (${c.psiBand})`,
      ]),
    },
    { kind: 'figure', name: 'psi', caption: 'PSI per feature; orange: drifted by its test.' },
    { kind: 'heading', level: 3, text: 'Distributions (drifted first)' },
    ...d.features.map((c): Block => ({
      kind: 'details',
      summary: `${c.column} — ${testName[c.test] ?? c.test} ${scoreText(c)}: ${c.drifted ? 'drift detected' : 'no drift'}`,
      blocks: [
        {
          kind: 'list',
          items: [`reference: ${summaryOf(c, 'reference')}`, `current: ${summaryOf(c, 'current')}`],
        },
        {
          kind: 'figure',
          name: featureFigure(c.column),
          caption: `${c.column}: reference (grey) and current (orange).`,
        },
      ],
    })),
    { kind: 'heading', level: 3, text: 'New categories' },
    {
      kind: 'table',
      caption: 'Share of current rows whose value never occurs in the reference (cold-start risk).',
      header: ['feature', 'new-category rate', 'rows', 'new values', 'most frequent new values'],
      align: ['left', 'right', 'right', 'right', 'left'],
      rows: d.newCategories.map((n) => [
        `\`${n.column}\``,
        pct(n.rate, 2),
        int(n.rows),
        int(n.newValues),
        n.examples.map((e) => `${e.value} (${int(e.rows)})`).join(', ') || null,
      ]),
    },
  ];
  const target = d.target;
  const prediction = d.prediction;
  blocks.push({ kind: 'heading', level: 2, text: 'Target and prediction drift' });
  const rows: Block & { kind: 'table' } = {
    kind: 'table',
    header: ['what', 'reference', 'current', 'test', 'drift score', 'verdict'],
    align: ['left', 'right', 'right', 'left', 'right', 'left'],
    rows: [],
  };
  if (target)
    rows.rows.push([
      'approval rate (target)',
      pct(target.referenceRate),
      pct(target.currentRate),
      testName[target.test] ?? target.test,
      scoreText(target),
      verdict(target),
    ]);
  if (prediction)
    rows.rows.push([
      'mean predicted approval (prediction)',
      f4(prediction.referenceMean),
      f4(prediction.currentMean),
      testName[prediction.test] ?? prediction.test,
      scoreText(prediction),
      verdict(prediction),
    ]);
  blocks.push(rows);
  if (!target) blocks.push({ kind: 'paragraph', text: 'The window has no labels: target drift is not measured.' });
  if (prediction)
    blocks.push({
      kind: 'figure',
      name: 'prediction',
      caption: 'Reference: out-of-fold scores of the training data; current: the run model on this window.',
    });
  return blocks;
}

const METRIC_LABELS: Record<string, string> = {
  rocAuc: 'ROC-AUC',
  prAuc: 'PR-AUC',
  accuracy: 'accuracy',
  precision: 'precision',
  recall: 'recall',
  f1: 'F1',
};

function performanceBlocks(p: PerformanceReport): Block[] {
  const blocks: Block[] = [{ kind: 'heading', level: 2, text: 'Model performance' }];
  if (!p.labelled || !p.current) {
    blocks.push({ kind: 'paragraph', text: 'The window has no labels (`permission`): performance is not measured.' });
    return blocks;
  }
  const current = p.current;
  blocks.push(
    {
      kind: 'paragraph',
      text: `${int(p.rows)} labelled requests at the run's operating threshold ${f4(p.threshold)}; reference: the run's out-of-fold evaluation (${int(p.reference.rows)} rows).`,
    },
    {
      kind: 'table',
      header: ['metric', 'reference (OOF)', 'current', 'change'],
      align: ['left', 'right', 'right', 'right'],
      rows: Object.entries(METRIC_LABELS).map(([k, name]) => {
        const key = k as keyof typeof METRIC_LABELS & keyof typeof current;
        const change = p.change[key as keyof typeof p.change];
        return [
          name,
          f4(p.reference[key as keyof typeof p.reference] as number),
          f4(current[key]),
          change === undefined ? null : `${change >= 0 ? '+' : ''}${f4(change)}`,
        ];
      }),
    },
  );
  if (p.segments.length > 0)
    blocks.push({
      kind: 'table',
      caption:
        'Largest segments of this window (as in the run report): accuracy at the threshold against the same segment out of fold.',
      header: ['segment', 'value', 'n', 'approval rate', 'accuracy', 'reference accuracy', 'change', 'flagged'],
      align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'left'],
      rows: p.segments.map((s) => [
        s.dimension,
        s.value,
        int(s.count),
        pct(s.approvalRate),
        f3(s.accuracy),
        f3(s.referenceAccuracy),
        s.accuracyChange === null ? null : `${s.accuracyChange >= 0 ? '+' : ''}${f3(s.accuracyChange)}`,
        s.flagged ? '**below global**' : '',
      ]),
    });
  return blocks;
}

/** The report as blocks: summary and alerts, data drift, target/prediction drift, performance, trend. */
export function windowReportBlocks(input: WindowReportInput, figures: Record<string, FigureFiles>): Block[] {
  const { info, drift } = input;
  const blocks: Block[] = [
    { kind: 'heading', level: 1, text: `Monitoring report — ${info.label}` },
    {
      kind: 'list',
      items: [
        `run \`${input.runId}\`, window \`${info.windowId}\``,
        `source \`${info.source}\` (sha256 \`${info.sourceSha256.slice(0, 16)}…\`), ${int(info.rows)} requests${info.labelled ? ', labelled' : ', unlabelled'}`,
        `monitored ${info.startedAt} for ${info.requestedBy}`,
      ],
    },
    { kind: 'heading', level: 2, text: 'Alerts' },
    input.alerts.length
      ? { kind: 'list', items: input.alerts.map((a) => `**${a.kind}**: ${a.subject}`) }
      : { kind: 'paragraph', text: 'None: no dataset drift and no metric drop beyond its tolerance.' },
    ...driftBlocks(drift),
    ...performanceBlocks(input.performance),
  ];
  if (figures.trend) {
    blocks.push(
      { kind: 'heading', level: 2, text: 'Trend' },
      { kind: 'figure', name: 'trend', caption: 'Every stored window of this run (monitoring/history.jsonl).' },
    );
  }
  return blocks;
}
