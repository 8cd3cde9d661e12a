import type { TopLevelSpec } from 'vega-lite';
import type { MetricsFile } from '../../schemas/metrics';
import { metricsAtThreshold, precisionRecallCurve, rocCurve } from '../metrics';

/** Colours used consistently: approved / denied, model / reference, ok / flagged. */
const BLUE = '#2f6fb0';
const ORANGE = '#d9822b';
const GREY = '#8c959f';
const RED = '#c93c37';
const GREEN = '#2da44e';

/** Keeps at most `max` points, always the first and last, evenly spaced by index. */
function thin<T>(points: T[], max = 400): T[] {
  if (points.length <= max) return points;
  const step = (points.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, k) => points[Math.round(k * step)]!);
}

const fmt = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : '–');

export interface FigureInputs {
  metrics: MetricsFile;
  labels: ArrayLike<number>;
  scores: ArrayLike<number>;
  /** What a fold holds out (default 'users', the seed's CV groups). */
  heldOut?: string;
}

/** ROC and precision–recall curves side by side, the operating point marked on both. */
export function rocPrFigure({ metrics, labels, scores }: FigureInputs): TopLevelSpec {
  const m = metrics.oof;
  const roc = thin(rocCurve(labels, scores)).map((p) => ({ fpr: p.fpr, tpr: p.tpr }));
  const pr = thin(precisionRecallCurve(labels, scores)).map((p) => ({ recall: p.recall, precision: p.precision }));
  const op = [{ fpr: m.fpr, tpr: m.tpr, recall: m.recall, precision: m.precision, label: `t = ${fmt(m.threshold)}` }];
  const size = { width: 340, height: 300 };
  const opLayer = (x: string, y: string, align: 'left' | 'right') => [
    {
      data: { values: op },
      mark: { type: 'point', filled: true, size: 90, color: ORANGE, stroke: 'white', strokeWidth: 1 },
      encoding: { x: { field: x, type: 'quantitative' }, y: { field: y, type: 'quantitative' } },
    },
    {
      data: { values: op },
      mark: {
        type: 'text',
        align,
        dx: align === 'left' ? 8 : -8,
        dy: 14,
        fontSize: 12,
        color: ORANGE,
        fontWeight: 600,
      },
      encoding: {
        x: { field: x, type: 'quantitative' },
        y: { field: y, type: 'quantitative' },
        text: { field: 'label' },
      },
    },
  ];
  return {
    title: {
      text: 'ROC and precision–recall (out of fold)',
      subtitle: `${m.rows.toLocaleString('en-US')} rows, GroupKFold by user; orange: operating point`,
    },
    hconcat: [
      {
        ...size,
        title: `ROC curve — AUC ${fmt(m.rocAuc)}`,
        layer: [
          {
            data: {
              values: [
                { x: 0, y: 0 },
                { x: 1, y: 1 },
              ],
            },
            mark: { type: 'line', strokeDash: [4, 4], color: GREY },
            encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
          },
          {
            data: { values: roc },
            mark: { type: 'line', color: BLUE, strokeWidth: 2.5 },
            encoding: {
              x: {
                field: 'fpr',
                type: 'quantitative',
                title: 'False positive rate',
                scale: { domain: [0, 1] },
              },
              y: {
                field: 'tpr',
                type: 'quantitative',
                title: 'True positive rate',
                scale: { domain: [0, 1] },
              },
              order: { field: 'fpr' },
            },
          },
          ...opLayer('fpr', 'tpr', 'left'),
        ],
      },
      {
        ...size,
        title: `Precision–recall — AP ${fmt(m.prAuc)}`,
        layer: [
          {
            data: {
              values: [
                { x: 0, y: m.positiveRate },
                { x: 1, y: m.positiveRate },
              ],
            },
            mark: { type: 'line', strokeDash: [4, 4], color: GREY },
            encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
          },
          {
            data: { values: pr },
            mark: { type: 'line', color: BLUE, strokeWidth: 2.5 },
            encoding: {
              x: { field: 'recall', type: 'quantitative', title: 'Recall', scale: { domain: [0, 1] } },
              y: { field: 'precision', type: 'quantitative', title: 'Precision', scale: { domain: [0, 1] } },
              order: { field: 'recall' },
            },
          },
          ...opLayer('recall', 'precision', 'right'),
        ],
      },
    ],
  } as TopLevelSpec;
}

/** Histogram of OOF scores per true class (share of the class per bin), with the threshold. */
export function scoreDistributionFigure({ metrics, labels, scores }: FigureInputs, nBins = 40): TopLevelSpec {
  const counts = [new Float64Array(nBins), new Float64Array(nBins)];
  const totals = [0, 0];
  for (let i = 0; i < scores.length; i++) {
    const c = labels[i] === 1 ? 1 : 0;
    const b = Math.min(nBins - 1, Math.floor(scores[i]! * nBins));
    counts[c]![b] = counts[c]![b]! + 1;
    totals[c] = totals[c]! + 1;
  }
  const approvedLabel = `actually approved (n=${totals[1]!.toLocaleString('en-US')})`;
  const deniedLabel = `actually denied (n=${totals[0]!.toLocaleString('en-US')})`;
  const values: Array<{ start: number; end: number; share: number; cls: string }> = [];
  for (const c of [0, 1]) {
    for (let b = 0; b < nBins; b++) {
      values.push({
        start: b / nBins,
        end: (b + 1) / nBins,
        share: totals[c]! === 0 ? 0 : counts[c]![b]! / totals[c]!,
        cls: c === 1 ? approvedLabel : deniedLabel,
      });
    }
  }
  const t = metrics.oof.threshold;
  return {
    title: {
      text: 'Score distribution by true outcome',
      subtitle: 'out-of-fold predicted approval probability; dashed: operating threshold',
    },
    width: 620,
    height: 300,
    layer: [
      {
        data: { values },
        mark: { type: 'rect', opacity: 0.55, stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x: {
            field: 'start',
            type: 'quantitative',
            title: 'Predicted probability of approval',
            scale: { domain: [0, 1] },
          },
          x2: { field: 'end' },
          y: {
            field: 'share',
            type: 'quantitative',
            title: 'Share of the class',
            stack: null,
            axis: { format: '.0%' },
          },
          color: {
            field: 'cls',
            type: 'nominal',
            title: null,
            scale: { domain: [approvedLabel, deniedLabel], range: [GREEN, RED] },
            legend: { orient: 'top', direction: 'horizontal', labelLimit: 300 },
          },
        },
      },
      {
        data: { values: [{ t, label: `threshold ${fmt(t)}` }] },
        layer: [
          {
            mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 2, color: '#1f2328' },
            encoding: { x: { field: 't', type: 'quantitative' } },
          },
          {
            mark: { type: 'text', align: 'left', dx: 6, baseline: 'top', y: 4, fontSize: 12, fontWeight: 600 },
            encoding: { x: { field: 't', type: 'quantitative' }, text: { field: 'label' } },
          },
        ],
      },
    ],
  } as TopLevelSpec;
}

/** 2×2 confusion matrix at the operating threshold: counts, share of all rows, coloured by share of the true class. */
export function confusionFigure({ metrics }: Pick<FigureInputs, 'metrics'>): TopLevelSpec {
  const { tp, fp, tn, fn } = metrics.confusion;
  const n = tp + fp + tn + fn;
  const cell = (actual: string, predicted: string, count: number, classTotal: number, what: string) => ({
    actual,
    predicted,
    count,
    rowShare: classTotal === 0 ? 0 : count / classTotal,
    line1: count.toLocaleString('en-US'),
    line2: `${((100 * count) / n).toFixed(1)}% of all · ${what}`,
  });
  const values = [
    cell('approved', 'approve', tp, tp + fn, 'true approve'),
    cell('approved', 'deny', fn, tp + fn, 'false deny'),
    cell('denied', 'approve', fp, fp + tn, 'false approve'),
    cell('denied', 'deny', tn, fp + tn, 'true deny'),
  ];
  const axis = { labelFontSize: 13, labelAngle: 0 };
  return {
    title: {
      text: `Confusion matrix at threshold ${fmt(metrics.oof.threshold)}`,
      subtitle: `accuracy ${fmt(metrics.oof.accuracy)} · precision ${fmt(metrics.oof.precision)} · recall ${fmt(metrics.oof.recall)} · FPR ${fmt(metrics.oof.fpr)}`,
    },
    width: 380,
    height: 300,
    data: { values },
    encoding: {
      x: {
        field: 'predicted',
        type: 'nominal',
        title: 'Predicted',
        sort: ['approve', 'deny'],
        axis: { ...axis, orient: 'top' },
      },
      y: { field: 'actual', type: 'nominal', title: 'Actual', sort: ['approved', 'denied'], axis },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
        encoding: {
          color: {
            field: 'rowShare',
            type: 'quantitative',
            title: 'Row share',
            scale: { scheme: 'blues', domain: [0, 1] },
            legend: { format: '.0%' },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 22, fontWeight: 700, dy: -10 },
        encoding: {
          text: { field: 'line1' },
          color: { condition: { test: 'datum.rowShare > 0.5', value: 'white' }, value: '#1f2328' },
        },
      },
      {
        mark: { type: 'text', fontSize: 11, dy: 14 },
        encoding: {
          text: { field: 'line2' },
          color: { condition: { test: 'datum.rowShare > 0.5', value: 'white' }, value: '#1f2328' },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Reliability diagram of the raw OOF scores (and after the recommended calibrator), with bin counts below. */
export function calibrationFigure({ metrics }: Pick<FigureInputs, 'metrics'>): TopLevelSpec | null {
  const cal = metrics.calibration;
  if (!cal) return null;
  const curve = (bins: typeof cal.reliability, series: string) =>
    bins.map((b) => ({ predicted: b.meanPredicted, observed: b.fractionPositive, count: b.count, series }));
  const values = [
    ...curve(cal.reliability, `model (ECE ${fmt(cal.ece)})`),
    ...(cal.recommended === 'none'
      ? []
      : curve(
          cal.calibratedReliability,
          `${cal.recommended} calibrated, cross-fitted (ECE ${fmt(cal.crossFitted.find((q) => q.method === cal.recommended)?.ece ?? Number.NaN)})`,
        )),
  ];
  const bars = cal.reliability.map((b) => ({ start: b.lower, end: b.upper, count: b.count }));
  const x = {
    field: 'predicted',
    type: 'quantitative',
    title: 'Mean predicted probability',
    scale: { domain: [0, 1] },
  };
  return {
    title: {
      text: 'Calibration (reliability diagram)',
      subtitle: `${cal.nBins} equal-width bins of out-of-fold scores; dashed: perfect calibration`,
    },
    vconcat: [
      {
        width: 420,
        height: 320,
        layer: [
          {
            data: { values: [{ p: 0 }, { p: 1 }] },
            mark: { type: 'line', strokeDash: [4, 4], color: GREY },
            encoding: { x: { field: 'p', type: 'quantitative' }, y: { field: 'p', type: 'quantitative' } },
          },
          {
            data: { values },
            mark: { type: 'line', point: { filled: true, size: 60 }, strokeWidth: 2.5 },
            encoding: {
              x,
              y: {
                field: 'observed',
                type: 'quantitative',
                title: 'Observed approval rate',
                scale: { domain: [0, 1] },
              },
              color: {
                field: 'series',
                type: 'nominal',
                title: null,
                scale: { range: [BLUE, ORANGE] },
                legend: { orient: 'top-left', fillColor: 'white', padding: 6, labelLimit: 400 },
              },
            },
          },
        ],
      },
      {
        width: 420,
        height: 90,
        data: { values: bars },
        mark: { type: 'rect', color: GREY, stroke: 'white', strokeWidth: 1 },
        encoding: {
          x: { field: 'start', type: 'quantitative', title: 'Predicted probability (bin)', scale: { domain: [0, 1] } },
          x2: { field: 'end' },
          y: { field: 'count', type: 'quantitative', title: 'Rows', axis: { tickCount: 3 } },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Horizontal bars of feature importance (PredictionValuesChange %, mean |SHAP|), when the run has them. */
export function importanceFigure({ metrics }: Pick<FigureInputs, 'metrics'>): TopLevelSpec | null {
  const imp = metrics.importance;
  const panels: Array<{ title: string; values: Array<{ feature: string; importance: number }>; format: string }> = [];
  if (imp?.predictionValuesChange?.length)
    panels.push({ title: 'PredictionValuesChange (% of total)', values: imp.predictionValuesChange, format: '.1f' });
  if (imp?.meanAbsShap?.length)
    panels.push({ title: 'Mean |SHAP value| (log-odds)', values: imp.meanAbsShap, format: '.3f' });
  if (panels.length === 0) return null;
  const chart = (p: (typeof panels)[number]) => ({
    width: 300,
    height: { step: 26 },
    title: p.title,
    data: { values: p.values },
    encoding: {
      y: {
        field: 'feature',
        type: 'nominal',
        title: null,
        sort: [...p.values].sort((a, b) => b.importance - a.importance).map((v) => v.feature),
        axis: { labelFontSize: 12, labelLimit: 220 },
      },
      x: { field: 'importance', type: 'quantitative', title: null },
    },
    layer: [
      { mark: { type: 'bar', color: BLUE } },
      {
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 },
        encoding: { text: { field: 'importance', format: p.format } },
      },
    ],
  });
  return {
    title: {
      text: 'Feature importance (final model)',
      subtitle: 'leaf weights: training rows per leaf; a combination CTR split is shared among its columns',
    },
    hconcat: panels.map(chart),
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** ROC-AUC of each fold's held-out users (or groups, rows) against the pooled OOF AUC and its bootstrap interval. */
export function foldAucFigure({ metrics, heldOut = 'users' }: Pick<FigureInputs, 'metrics' | 'heldOut'>): TopLevelSpec {
  const folds = (metrics.foldMetrics?.folds ?? metrics.foldAuc.map((rocAuc, fold) => ({ fold, rocAuc, rows: 0 }))).map(
    (f) => ({
      fold: `fold ${f.fold}`,
      auc: f.rocAuc,
      label: fmt(f.rocAuc, 4),
    }),
  );
  const aucs = folds.map((f) => f.auc).filter(Number.isFinite);
  const ci = metrics.ci?.rocAuc;
  const lo = Math.min(...aucs, ci?.lower ?? 1, metrics.oof.rocAuc);
  const hi = Math.max(...aucs, ci?.upper ?? 0, metrics.oof.rocAuc);
  const pad = Math.max(0.005, (hi - lo) * 0.35);
  const domain = [Math.max(0, lo - pad), Math.min(1, hi + pad)];
  const band = ci ? [{ lower: ci.lower, upper: ci.upper }] : [];
  const s = metrics.foldMetrics?.rocAuc;
  return {
    title: {
      text: `ROC-AUC per fold (held-out ${heldOut})`,
      subtitle: `${s ? `mean ${fmt(s.mean, 4)} ± ${fmt(s.std, 4)} (sd); ` : ''}dashed: pooled OOF AUC ${fmt(metrics.oof.rocAuc, 4)}${ci ? `; band: ${Math.round(metrics.ci!.level * 100)}% bootstrap CI` : ''}`,
    },
    width: 460,
    height: 260,
    layer: [
      ...(band.length
        ? [
            {
              data: { values: band },
              mark: { type: 'rect', color: BLUE, opacity: 0.12 },
              encoding: { y: { field: 'lower', type: 'quantitative' }, y2: { field: 'upper' } },
            },
          ]
        : []),
      {
        data: { values: [{ auc: metrics.oof.rocAuc }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: BLUE, strokeWidth: 1.5 },
        encoding: { y: { field: 'auc', type: 'quantitative' } },
      },
      {
        data: { values: folds },
        encoding: {
          x: { field: 'fold', type: 'nominal', title: 'GroupKFold fold', axis: { labelAngle: 0 } },
          y: { field: 'auc', type: 'quantitative', title: 'ROC-AUC', scale: { domain, zero: false } },
        },
        layer: [
          { mark: { type: 'point', filled: true, size: 120, color: ORANGE } },
          { mark: { type: 'text', dy: -14, fontSize: 12, fontWeight: 600 }, encoding: { text: { field: 'label' } } },
        ],
      },
    ],
  } as TopLevelSpec;
}

const DIMENSION_TITLES: Record<string, string> = {
  appId: 'Top apps',
  department_filled: 'Departments',
  manager_department: 'Manager departments',
};

/** Accuracy per segment (largest segments with n ≥ minCount), flagged ones in red, global accuracy dashed. */
export function segmentFigure({ metrics }: Pick<FigureInputs, 'metrics'>): TopLevelSpec | null {
  const seg = metrics.segments;
  if (!seg || seg.rows.length === 0) return null;
  const dims = [...new Set(seg.rows.map((r) => r.dimension))];
  const accs = seg.rows.map((r) => r.accuracy);
  const lo = Math.max(0, Math.floor((Math.min(...accs, seg.globalAccuracy) - 0.03) * 20) / 20);
  const panel = (dim: string, k: number) => ({
    title: { text: DIMENSION_TITLES[dim] ?? dim, fontSize: 13 },
    width: 520,
    height: { step: 24 },
    layer: [
      {
        data: {
          values: seg.rows
            .filter((r) => r.dimension === dim)
            .map((r) => ({ ...r, status: r.flagged ? 'flagged' : 'ok', label: `${fmt(r.accuracy)} (n=${r.count})` })),
        },
        encoding: {
          y: {
            field: 'value',
            type: 'nominal',
            title: null,
            sort: { field: 'count', op: 'max', order: 'descending' },
            axis: { labelLimit: 160 },
          },
          x: {
            field: 'accuracy',
            type: 'quantitative',
            title: k === dims.length - 1 ? 'Accuracy at the operating threshold' : null,
            scale: { domain: [lo, 1], nice: false },
          },
        },
        layer: [
          {
            mark: { type: 'rule', strokeWidth: 3 },
            encoding: {
              x2: { datum: seg.globalAccuracy },
              color: {
                field: 'status',
                type: 'nominal',
                title: null,
                scale: { domain: ['ok', 'flagged'], range: [BLUE, RED] },
                legend: null,
              },
            },
          },
          {
            mark: { type: 'point', filled: true, size: 110, opacity: 1 },
            encoding: {
              color: {
                field: 'status',
                type: 'nominal',
                title: null,
                scale: { domain: ['ok', 'flagged'], range: [BLUE, RED] },
                legend: null,
              },
            },
          },
          {
            transform: [{ filter: `datum.accuracy >= ${seg.globalAccuracy}` }],
            mark: { type: 'text', align: 'left', dx: 9, fontSize: 11, color: '#1f2328' },
            encoding: { text: { field: 'label' } },
          },
          {
            transform: [{ filter: `datum.accuracy < ${seg.globalAccuracy}` }],
            mark: { type: 'text', align: 'right', dx: -9, fontSize: 11, color: '#1f2328' },
            encoding: { text: { field: 'label' } },
          },
        ],
      },
      {
        data: { values: [{ g: seg.globalAccuracy }] },
        mark: { type: 'rule', strokeDash: [6, 4], color: '#1f2328', strokeWidth: 1.5 },
        encoding: { x: { field: 'g', type: 'quantitative' } },
      },
    ],
  });
  return {
    title: {
      text: 'Segment coverage',
      subtitle: `accuracy of the ${seg.top} largest segments with n ≥ ${seg.minCount}; dashed: global ${fmt(seg.globalAccuracy)}; red: more than ${seg.flagMargin} below it`,
    },
    vconcat: dims.map(panel),
    resolve: { scale: { x: 'shared' } },
  } as TopLevelSpec;
}

/** Accuracy, F1, precision and recall across thresholds, with every strategy's threshold marked. */
export function thresholdFigure({ metrics, labels, scores }: FigureInputs): TopLevelSpec | null {
  if (!metrics.thresholds) return null;
  const values: Array<{ t: number; metric: string; value: number }> = [];
  for (let k = 1; k < 100; k++) {
    const t = k / 100;
    const m = metricsAtThreshold(labels, scores, t);
    values.push({ t, metric: 'accuracy', value: m.accuracy }, { t, metric: 'F1', value: m.f1 });
    values.push({ t, metric: 'precision', value: m.precision }, { t, metric: 'recall', value: m.recall });
  }
  const marks = metrics.thresholds
    .filter((r) => r.threshold <= 1)
    .map((r) => ({ t: r.threshold, label: `${r.description}${r.chosen ? ' (chosen)' : ''}`, chosen: r.chosen }));
  return {
    title: {
      text: 'Metrics across thresholds',
      subtitle: [
        `solid: chosen — ${marks
          .filter((r) => r.chosen)
          .map((r) => `${r.label.replace(' (chosen)', '')} ${fmt(r.t)}`)
          .join(', ')}`,
        `dashed: ${marks
          .filter((r) => !r.chosen)
          .map((r) => `${r.label} ${fmt(r.t)}`)
          .join(' · ')}`,
      ],
    },
    width: 560,
    height: 300,
    layer: [
      {
        data: { values },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'Threshold (approve when p ≥ t)', scale: { domain: [0, 1] } },
          y: { field: 'value', type: 'quantitative', title: 'Metric', scale: { domain: [0, 1] } },
          color: {
            field: 'metric',
            type: 'nominal',
            title: null,
            scale: { range: [BLUE, ORANGE, GREEN, RED] },
            legend: { orient: 'bottom', direction: 'horizontal' },
          },
        },
      },
      {
        data: { values: marks },
        mark: { type: 'rule', color: '#1f2328' },
        encoding: {
          x: { field: 't', type: 'quantitative' },
          strokeDash: { condition: { test: 'datum.chosen', value: [1, 0] }, value: [4, 3] },
          strokeWidth: { condition: { test: 'datum.chosen', value: 2 }, value: 1 },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Every figure of a run report, by file stem. Null entries are skipped (their data is absent). */
export function runFigures(input: FigureInputs): Record<string, TopLevelSpec | null> {
  return {
    roc_pr: rocPrFigure(input),
    score_distribution: scoreDistributionFigure(input),
    confusion_matrix: confusionFigure(input),
    calibration: calibrationFigure(input),
    threshold_metrics: thresholdFigure(input),
    fold_auc: foldAucFigure(input),
    segments: segmentFigure(input),
    importance: importanceFigure(input),
  };
}
