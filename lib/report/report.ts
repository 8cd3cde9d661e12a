import { basename, join } from 'node:path';
import type { ArtifactRef } from '../../schemas/run';
import { writeArtifact } from '../artifacts';
import type { RunData } from './data';
import { loadRunData } from './data';
import { toHtml, toMarkdown, type Block, type Cell, type FigureFiles } from './doc';
import { runFigures } from './figures';
import { modelCardBlocks } from './modelCard';
import {
  DIMENSION_NAMES,
  artifactTable,
  auditEntities,
  cvScheme,
  f3,
  f4,
  importanceBlocks,
  int,
  pct,
  risks,
  segmentDimensions,
} from './sections';
import { renderVegaLite } from './render';
import { REPORT_DIR } from '../run';

const FIGURE_CAPTIONS: Record<string, string> = {
  roc_pr: 'ROC and precision–recall curves of the out-of-fold scores',
  score_distribution: 'Score distribution by true outcome',
  confusion_matrix: 'Confusion matrix at the operating threshold',
  calibration: 'Calibration (reliability diagram)',
  threshold_metrics: 'Accuracy, F1, precision and recall across thresholds',
  fold_auc: 'ROC-AUC per fold',
  segments: 'Accuracy per segment',
  importance: 'Feature importance',
};

function withCi(estimate: number, ci: { lower: number; upper: number } | undefined): string {
  return ci ? `**${f4(estimate)}** [${f4(ci.lower)}, ${f4(ci.upper)}]` : `**${f4(estimate)}**`;
}

/** The seed's summary bullets, from the measured numbers. */
function summary(d: RunData): Block[] {
  const m = d.metrics.oof;
  const ci = d.metrics.ci;
  const a = d.metrics.audit;
  const p = d.model.params;
  const cv = cvScheme(d);
  const entities = a ? auditEntities(a) : null;
  const lines = [
    `Data: ${int(m.rows)} historical decisions${entities ? ` (${entities})` : ''}, ${pct(m.positiveRate)} approved.`,
    `Model: CatBoost-class GBDT (\`lib/gbdt\`), ${d.model.trees.length} oblivious trees of depth ${p.depth}, learning rate ${p.learning_rate}, l2_leaf_reg ${p.l2_leaf_reg}, seed ${p.random_seed}.`,
    `Validation: ${cv.name} — every score is out of fold, from a model that never saw the ${cv.heldOut}.`,
    `OOF metrics: ROC-AUC ${withCi(m.rocAuc, ci?.rocAuc)}, PR-AUC **${f4(m.prAuc)}**, accuracy ${withCi(m.accuracy, ci?.accuracy)}, logloss ${f4(m.logloss)}, Brier ${f4(m.brier)}${ci ? ` (${Math.round(ci.level * 100)}% bootstrap intervals over ${ci.unit === 'groups' ? cv.unit : 'rows'}, ${ci.iterations} resamples)` : ''}.`,
    `Operating point: threshold **${f3(m.threshold)}** (${m.thresholdStrategy}) → TPR ${f3(m.tpr)}, FPR ${f3(m.fpr)}, precision ${f3(m.precision)}.`,
  ];
  const t = d.metrics.test;
  if (t)
    lines.push(
      `Hold-out test file (${basename(t.source)}, ${int(t.rows)} rows, ${pct(t.positiveRate)} approved), scored by the final model: ROC-AUC **${f4(t.rocAuc)}**, PR-AUC **${f4(t.prAuc)}**, accuracy **${f4(t.accuracy)}** at the run's threshold, logloss ${f4(t.logloss)}.`,
    );
  const cal = d.metrics.calibration;
  if (cal) lines.push(`Calibration: ECE ${f3(cal.ece)}; recommended calibrator: **${cal.recommended}**.`);
  const flagged = d.metrics.segments?.rows.filter((r) => r.flagged) ?? [];
  if (d.metrics.segments)
    lines.push(
      `Segments: ${d.metrics.segments.rows.length} evaluated, ${flagged.length} flagged below the global accuracy.`,
    );
  return [
    { kind: 'heading', level: 2, text: 'Summary' },
    { kind: 'list', items: lines },
  ];
}

function dataAudit(d: RunData): Block[] {
  const a = d.metrics.audit;
  if (!a) return [];
  const entities = auditEntities(a);
  const blocks: Block[] = [
    { kind: 'heading', level: 2, text: 'Data audit' },
    {
      kind: 'list',
      items: [
        `${int(a.rows)} labelled decisions${entities ? `, ${entities}` : ''}; approval rate ${pct(a.positiveRate)} (class balance ${pct(a.positiveRate)} / ${pct(1 - a.positiveRate)}).`,
        ...(a.machine
          ? [`Machine accounts: ${pct(a.machine.share)} of requests, ${pct(a.machine.approvalRate)} of them approved.`]
          : []),
      ],
    },
  ];
  if (a.raw.length) {
    const rows: Cell[][] = [];
    for (const t of a.raw)
      for (const [col, share] of Object.entries(t.missing))
        if (share > 0 || t.table !== 'interactions') rows.push([t.table, int(t.rows), col, pct(share)]);
    blocks.push({
      kind: 'table',
      caption: 'Missing values in the raw tables',
      header: ['table', 'rows', 'column', 'missing'],
      align: ['left', 'right', 'left', 'right'],
      rows,
    });
  }
  blocks.push({
    kind: 'table',
    caption:
      d.config.data.mode === 'seed'
        ? 'Engineered features (after sentinel and manager backfill)'
        : 'Declared features (missing categoricals as the sentinel)',
    header: ['feature', 'kind', 'distinct values', 'sentinel / missing'],
    align: ['left', 'left', 'right', 'right'],
    rows: a.features.map((f) => [
      `\`${f.column}\``,
      f.kind,
      f.cardinality === null ? null : int(f.cardinality),
      pct(f.missingShare),
    ]),
  });
  return blocks;
}

function validation(d: RunData): Block[] {
  if (d.validation.length === 0) return [];
  const rows: Cell[][] = d.validation.map((r) => [
    r.table,
    r.success ? 'passed' : '**failed**',
    r.statistics.evaluated_expectations,
    r.statistics.unsuccessful_expectations,
    r.results
      .filter((x) => !x.success)
      .map((x) => `${x.expectation}(${String(x.kwargs.column ?? '')})`)
      .join(', ') || '–',
  ]);
  return [
    { kind: 'heading', level: 2, text: 'Validation results' },
    {
      kind: 'paragraph',
      text: 'Data contracts checked before training (Great Expectations result shape; full reports in `validation/`).',
    },
    {
      kind: 'table',
      header: ['table', 'result', 'expectations', 'failed', 'failing expectations'],
      align: ['left', 'left', 'right', 'right', 'left'],
      rows,
    },
  ];
}

function performance(d: RunData): Block[] {
  const m = d.metrics.oof;
  const ci = d.metrics.ci;
  // A flat run's hold-out test file gets its own column, scored by the final model at the same threshold.
  const t = d.metrics.test;
  const row = (name: string, oof: number, interval: string | null, test: number | undefined): Cell[] =>
    t ? [name, f4(oof), interval, f4(test!)] : [name, f4(oof), interval];
  const rows: Cell[][] = [
    row('ROC-AUC', m.rocAuc, ci ? `[${f4(ci.rocAuc.lower)}, ${f4(ci.rocAuc.upper)}]` : null, t?.rocAuc),
    row('PR-AUC (average precision)', m.prAuc, null, t?.prAuc),
    row('accuracy', m.accuracy, ci ? `[${f4(ci.accuracy.lower)}, ${f4(ci.accuracy.upper)}]` : null, t?.accuracy),
    row('precision', m.precision, null, t?.precision),
    row('recall (TPR)', m.recall, null, t?.recall),
    row('F1', m.f1, null, t?.f1),
    row('false positive rate', m.fpr, null, t?.fpr),
    row('logloss', m.logloss, null, t?.logloss),
    row('Brier score', m.brier, null, t?.brier),
  ];
  const blocks: Block[] = [
    {
      kind: 'heading',
      level: 2,
      text: t ? 'Performance (out of fold; hold-out test file)' : 'Performance (out of fold)',
    },
    {
      kind: 'table',
      header: [
        'metric',
        t ? 'out of fold' : 'value',
        ci
          ? `${Math.round(ci.level * 100)}% CI (bootstrap over ${ci.unit === 'groups' ? cvScheme(d).unit : 'rows'})`
          : 'CI',
        ...(t ? [`hold-out test (${int(t.rows)} rows)`] : []),
      ],
      align: t ? ['left', 'right', 'right', 'right'] : ['left', 'right', 'right'],
      rows,
    },
    { kind: 'figure', name: 'roc_pr', caption: FIGURE_CAPTIONS.roc_pr! },
  ];
  const fm = d.metrics.foldMetrics;
  const train = new Map(d.metrics.folds.map((f) => [f.fold, f]));
  if (fm) {
    blocks.push(
      { kind: 'heading', level: 3, text: 'Per-fold consistency' },
      {
        kind: 'paragraph',
        text: `ROC-AUC across folds: mean ${f4(fm.rocAuc.mean)}, sd ${f4(fm.rocAuc.std)}, range ${f4(fm.rocAuc.min)}–${f4(fm.rocAuc.max)}.`,
      },
      {
        kind: 'table',
        header: [
          'fold',
          'held-out rows',
          'approval rate',
          'ROC-AUC',
          'PR-AUC',
          'logloss',
          'accuracy @ t',
          'best iteration',
          'fit seconds',
        ],
        align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
        rows: fm.folds.map((f) => [
          f.fold,
          int(f.rows),
          pct(f.positiveRate),
          f4(f.rocAuc),
          f4(f.prAuc),
          f4(f.logloss),
          f4(f.accuracy),
          train.get(f.fold)?.bestIteration ?? null,
          train.has(f.fold) ? train.get(f.fold)!.seconds.toFixed(1) : null,
        ]),
      },
      { kind: 'figure', name: 'fold_auc', caption: FIGURE_CAPTIONS.fold_auc! },
    );
  }
  return blocks;
}

function thresholds(d: RunData): Block[] {
  const t = d.metrics.thresholds;
  const blocks: Block[] = [{ kind: 'heading', level: 2, text: 'Threshold selection' }];
  if (t) {
    const costs = d.metrics.costs;
    blocks.push(
      {
        kind: 'paragraph',
        text: `Each strategy picks its threshold on the same out-of-fold scores. The configured strategy is **${d.metrics.oof.thresholdStrategy}**; its threshold is written into the model. Expected cost uses false-approve cost ${costs?.falseApprove ?? 1} and false-deny cost ${costs?.falseDeny ?? 1} per request.`,
      },
      {
        kind: 'table',
        header: [
          'strategy',
          'threshold',
          'accuracy',
          'precision',
          'recall',
          'F1',
          'FPR',
          'approved',
          'expected cost',
          'chosen',
        ],
        align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
        rows: t.map((r) => [
          r.description,
          f3(r.threshold),
          f4(r.accuracy),
          f4(r.precision),
          f4(r.recall),
          f4(r.f1),
          f4(r.fpr),
          pct(r.approvalRate),
          f4(r.expectedCost),
          r.chosen ? '**✔ chosen**' : '',
        ]),
      },
      { kind: 'figure', name: 'threshold_metrics', caption: FIGURE_CAPTIONS.threshold_metrics! },
    );
  }
  blocks.push(
    { kind: 'figure', name: 'confusion_matrix', caption: FIGURE_CAPTIONS.confusion_matrix! },
    { kind: 'figure', name: 'score_distribution', caption: FIGURE_CAPTIONS.score_distribution! },
  );
  return blocks;
}

function calibration(d: RunData): Block[] {
  const c = d.metrics.calibration;
  if (!c) return [];
  return [
    { kind: 'heading', level: 2, text: 'Calibration' },
    {
      kind: 'paragraph',
      text: `Expected calibration error of the raw out-of-fold scores: **${f4(c.ece)}** (max bin error ${f4(c.mce)}, ${c.nBins} equal-width bins). Platt and isotonic calibrators are evaluated cross-fitted (fitted on the other folds' scores, applied to each fold); the one with the lowest logloss is recommended: **${c.recommended}**. Both calibrators, fitted on all OOF scores, are stored in \`metrics.json\` (\`calibration.platt\`, \`calibration.isotonic\`) to apply to the final model's probability.`,
    },
    {
      kind: 'table',
      header: ['method', 'logloss', 'Brier', 'ECE', 'recommended'],
      align: ['left', 'right', 'right', 'right', 'left'],
      rows: c.crossFitted.map((q) => [
        q.method,
        f4(q.logloss),
        f4(q.brier),
        f4(q.ece),
        q.method === c.recommended ? '**✔**' : '',
      ]),
    },
    {
      kind: 'paragraph',
      text: `Platt: p' = 1 / (1 + exp(${c.platt.a.toFixed(4)} · logit(p) ${c.platt.b < 0 ? '−' : '+'} ${Math.abs(c.platt.b).toFixed(4)})). Isotonic: ${c.isotonic.x.length} knots, linear between them, clipped outside.`,
    },
    { kind: 'figure', name: 'calibration', caption: FIGURE_CAPTIONS.calibration! },
  ];
}

function segments(d: RunData): Block[] {
  const s = d.metrics.segments;
  if (!s) return [];
  const flagged = s.rows.filter((r) => r.flagged);
  return [
    { kind: 'heading', level: 2, text: 'Segment coverage' },
    {
      kind: 'paragraph',
      text: `The ${s.top} largest ${segmentDimensions(d)} with n ≥ ${s.minCount}, at the operating threshold. A segment is flagged when its accuracy is more than ${s.flagMargin} below the global ${f4(s.globalAccuracy)} and the gap exceeds two binomial standard errors. ${flagged.length === 0 ? 'No segment is flagged.' : `Flagged: ${flagged.map((r) => `${DIMENSION_NAMES[r.dimension] ?? r.dimension} ${r.value} (${f3(r.accuracy)}, n=${r.count})`).join('; ')}.`}`,
    },
    {
      kind: 'table',
      header: [
        'dimension',
        'value',
        'rows',
        'approval rate',
        'mean score',
        'accuracy',
        'ROC-AUC',
        'gap to global',
        'flag',
      ],
      align: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
      rows: s.rows.map((r) => [
        DIMENSION_NAMES[r.dimension] ?? r.dimension,
        `\`${r.value}\``,
        int(r.count),
        pct(r.approvalRate),
        f3(r.meanScore),
        f4(r.accuracy),
        f4(r.rocAuc),
        (r.shortfall >= 0 ? '−' : '+') + Math.abs(r.shortfall).toFixed(4),
        r.flagged ? '**below**' : '',
      ]),
    },
    { kind: 'figure', name: 'segments', caption: FIGURE_CAPTIONS.segments! },
  ];
}

/** The report as blocks: summary, data audit, validation, performance, thresholds, calibration, segments, importance, risks, artifacts. */
export function reportBlocks(d: RunData): Block[] {
  return [
    { kind: 'heading', level: 1, text: `Run report — ${d.runId}` },
    {
      kind: 'paragraph',
      text: `Config \`${d.info.configPath}\` (sha256 \`${d.info.configHash.slice(0, 12)}\`), data sha256 \`${d.info.dataHash.slice(0, 12)}\`, started ${d.info.startedAt}.`,
    },
    ...summary(d),
    ...dataAudit(d),
    ...validation(d),
    ...performance(d),
    ...thresholds(d),
    ...calibration(d),
    ...segments(d),
    ...importanceBlocks(d.metrics),
    { kind: 'heading', level: 2, text: 'Considerations and risks' },
    { kind: 'list', items: risks(d) },
    { kind: 'heading', level: 2, text: 'Artifacts' },
    {
      kind: 'paragraph',
      text: d.manifest
        ? 'From the run manifest (hashes verified when read).'
        : 'Hashed when the report was written (the manifest is written after the evaluation step).',
    },
    artifactTable(d.artifacts),
  ];
}

export interface ReportOutput {
  /** Folder holding report.md, report.html, model_card.md and figures/. */
  dir: string;
  /** Content addresses, relative to the run folder when the report is inside it (else to `dir`). */
  artifacts: ArtifactRef[];
  figures: string[];
}

/**
 * Writes the run's report: figures (PNG + SVG), report.md (figures linked), a self-contained report.html
 * (figures inline), model_card.md and segment_metrics.json. By default into `<runDir>/report/`; with `outDir`
 * anywhere else (the CLI, so finished run folders stay unchanged).
 * Example: `await writeRunReport('.data/runs/run-…')`.
 */
export async function writeRunReport(runDir: string, outDir?: string): Promise<ReportOutput> {
  const d = await loadRunData(runDir);
  const base = outDir ?? runDir;
  const prefix = outDir ? '' : `${REPORT_DIR}/`;
  const dir = join(base, prefix);
  const artifacts: ArtifactRef[] = [];
  const figures: Record<string, FigureFiles> = {};
  const specs = runFigures({ metrics: d.metrics, labels: d.oof.label, scores: d.oof.score, heldOut: cvScheme(d).unit });
  for (const [name, spec] of Object.entries(specs)) {
    if (!spec) continue;
    const { svg, png, vega } = await renderVegaLite(spec);
    artifacts.push(await writeArtifact(base, `${prefix}figures/${name}.svg`, svg, 'report-figure'));
    artifacts.push(await writeArtifact(base, `${prefix}figures/${name}.png`, png, 'report-figure'));
    artifacts.push(await writeArtifact(base, `${prefix}figures/${name}.vg.json`, vega, 'report-figure'));
    figures[name] = { svgPath: `figures/${name}.svg`, pngPath: `figures/${name}.png`, svg };
  }
  const blocks = reportBlocks(d);
  artifacts.push(await writeArtifact(base, `${prefix}report.md`, toMarkdown(blocks, figures), 'report'));
  artifacts.push(
    await writeArtifact(base, `${prefix}report.html`, toHtml(`Run report — ${d.runId}`, blocks, figures), 'report'),
  );
  artifacts.push(
    await writeArtifact(base, `${prefix}model_card.md`, toMarkdown(modelCardBlocks(d), figures), 'model-card'),
  );
  if (d.metrics.segments)
    artifacts.push(
      await writeArtifact(
        base,
        `${prefix}segment_metrics.json`,
        `${JSON.stringify(d.metrics.segments, null, 2)}\n`,
        'segment-metrics',
      ),
    );
  return { dir, artifacts, figures: Object.keys(figures) };
}
