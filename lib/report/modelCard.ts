import { featureSpec } from '../features';
import type { RunData } from './data';
import type { Block } from './doc';
import { artifactTable, cvScheme, f3, f4, importanceBlocks, int, pct, risks, segmentDimensions } from './sections';

/** The card's feature bullets: the seed's engineered features, or a flat table's declared columns. */
function featureItems(d: RunData): string[] {
  const spec = featureSpec(d.config);
  const names = (cols: readonly string[]) => (cols.length ? cols.map((f) => `\`${f}\``).join(', ') : 'none');
  const items = [`Categorical (nominal strings): ${names(spec.categorical)}.`, `Numeric: ${names(spec.numeric)}.`];
  if (d.config.data.mode === 'seed')
    return [
      ...items,
      "Missing categoricals become the sentinel `__UNKNOWN__`; department and office are backfilled from the manager only where the manager's value is known; `userId` is never a feature (it is the CV group).",
    ];
  return [
    ...items,
    `Declared columns of the flat table \`${d.config.data.path}\`: missing categoricals become the sentinel \`${d.config.features.sentinel}\`; numerics are read as doubles (missing or unparseable → NaN, its own side of every split)${spec.group ? `; \`${spec.group}\` is never a feature (it is the CV group)` : ''}.`,
  ];
}

/** The card's validation paragraph for the run's CV scheme. */
function validationText(d: RunData): string {
  const cv = cvScheme(d);
  if (d.config.data.mode === 'seed')
    return `${cv.name}: a user's requests are all in one fold, so every out-of-fold score comes from a model that never saw that user.`;
  if (d.config.data.group)
    return `${cv.name}: a group's rows are all in one fold, so every out-of-fold score comes from a model that never saw that group.`;
  return `${cv.name}: each class is shuffled and dealt over the folds, so every fold keeps the approval rate and every row is scored by a model that did not train on it.`;
}

/** Artifacts a reader of the model card needs to check first. */
const KEY_ROLES = ['model', 'config', 'run-info', 'features', 'metrics', 'oof-predictions', 'monitoring-reference'];

/**
 * The model card (the seed's `docs/model_card.md` sections) filled from the run: model details, use case,
 * data, features, validation, performance, calibration, segments, explanations, data considerations, risks,
 * artifacts with hashes, how to reproduce.
 */
export function modelCardBlocks(d: RunData): Block[] {
  const m = d.metrics.oof;
  const ci = d.metrics.ci;
  const a = d.metrics.audit;
  const p = d.model.params;
  const cal = d.metrics.calibration;
  const seg = d.metrics.segments;
  const fm = d.metrics.foldMetrics;
  // Runs written before identities were recorded have no creator.
  const createdBy = (d.info as Partial<RunData['info']>).createdBy;
  const key = d.artifacts.filter((x) => KEY_ROLES.includes(x.role));
  const blocks: Block[] = [
    { kind: 'heading', level: 1, text: `Model card — access-perm approval model (${d.runId})` },
    { kind: 'heading', level: 2, text: 'Model details' },
    {
      kind: 'list',
      items: [
        `Binary classifier: probability that an internal app-permission request is approved.`,
        `CatBoost-class gradient boosting in TypeScript (\`lib/gbdt\`): ordered target statistics for categoricals, oblivious trees; ${d.model.trees.length} trees, depth ${p.depth}, learning rate ${p.learning_rate}, l2_leaf_reg ${p.l2_leaf_reg}, border_count ${p.border_count}, random_seed ${p.random_seed}.`,
        `Exports: JSON scoring spec \`model/model.json\` (threshold ${f3(m.threshold)} included).`,
        `Run \`${d.runId}\`, started ${d.info.startedAt}${createdBy ? ` by \`${createdBy.userId}\` (${createdBy.role})` : ''}; config sha256 \`${d.info.configHash}\`; data sha256 \`${d.info.dataHash}\`.`,
      ],
    },
    { kind: 'heading', level: 2, text: 'Intended use' },
    {
      kind: 'list',
      items: [
        'Support or pre-fill approve/deny decisions on access requests for **existing apps**, including requests from users the model has not seen (the validation mirrors this).',
        'Decisions at the threshold assume roughly symmetric error costs unless the cost strategy is configured; keep a human in the loop for high-risk apps.',
        'Out of scope: new apps or organisational units without history, automatic revocation of access, any use of scores as a judgement about a person.',
      ],
    },
    { kind: 'heading', level: 2, text: 'Data' },
    {
      kind: 'list',
      items: [
        `${int(m.rows)} labelled historical decisions${a?.users !== undefined && a.apps !== undefined ? ` from ${int(a.users)} users on ${int(a.apps)} apps` : a?.groups ? ` in ${int(a.groups.count)} groups of \`${a.groups.column}\`` : ''}; approval rate ${pct(m.positiveRate)}.`,
        ...(a
          ? [
              ...a.raw
                .filter((t) => t.table !== 'interactions')
                .map(
                  (t) =>
                    `${t.table}: ${int(t.rows)} rows; missing ${
                      Object.entries(t.missing)
                        .filter(([, v]) => v > 0)
                        .map(([c, v]) => `${c} ${pct(v)}`)
                        .join(', ') || 'none'
                    }.`,
                ),
              ...(a.machine
                ? [`Machine accounts: ${pct(a.machine.share)} of requests, ${pct(a.machine.approvalRate)} approved.`]
                : []),
            ]
          : []),
        `Data contracts: ${d.validation.map((r) => `${r.table} ${r.success ? 'passed' : 'FAILED'} (${r.statistics.evaluated_expectations} expectations)`).join(', ') || 'no reports found'}.`,
      ],
    },
    { kind: 'heading', level: 2, text: 'Features' },
    {
      kind: 'list',
      items: featureItems(d),
    },
    { kind: 'heading', level: 2, text: 'Validation' },
    {
      kind: 'paragraph',
      text: `${validationText(d)}${fm ? ` Per-fold ROC-AUC ${fm.folds.map((f) => f4(f.rocAuc)).join(', ')} (mean ${f4(fm.rocAuc.mean)}, sd ${f4(fm.rocAuc.std)}).` : ''}`,
    },
    { kind: 'heading', level: 2, text: 'Performance (out of fold)' },
    {
      kind: 'table',
      header: ['metric', 'value', ci ? `${Math.round(ci.level * 100)}% CI` : 'CI'],
      align: ['left', 'right', 'right'],
      rows: [
        ['ROC-AUC', f4(m.rocAuc), ci ? `[${f4(ci.rocAuc.lower)}, ${f4(ci.rocAuc.upper)}]` : null],
        ['PR-AUC', f4(m.prAuc), null],
        [
          `accuracy @ ${f3(m.threshold)}`,
          f4(m.accuracy),
          ci ? `[${f4(ci.accuracy.lower)}, ${f4(ci.accuracy.upper)}]` : null,
        ],
        ['precision', f4(m.precision), null],
        ['recall (TPR)', f4(m.recall), null],
        ['FPR', f4(m.fpr), null],
        ['logloss', f4(m.logloss), null],
        ['Brier', f4(m.brier), null],
      ],
    },
    {
      kind: 'paragraph',
      text: `Operating threshold ${f3(m.threshold)}, chosen by **${m.thresholdStrategy}**${
        d.metrics.thresholds
          ? `; alternatives: ${d.metrics.thresholds
              .filter((r) => !r.chosen)
              .map((r) => `${r.description} (t = ${f3(r.threshold)}, accuracy ${f3(r.accuracy)})`)
              .join(', ')}`
          : ''
      }.`,
    },
  ];
  if (cal) {
    blocks.push(
      { kind: 'heading', level: 2, text: 'Calibration' },
      {
        kind: 'list',
        items: [
          `ECE of the raw scores ${f4(cal.ece)}; cross-fitted logloss: ${cal.crossFitted.map((q) => `${q.method} ${f4(q.logloss)}`).join(', ')}; recommended: **${cal.recommended}**.`,
          `Platt calibrator (apply to the model probability p): p' = 1 / (1 + exp(a · logit(p) + b)) with a = ${cal.platt.a}, b = ${cal.platt.b}.`,
          `Isotonic calibrator: ${cal.isotonic.x.length} knots in \`metrics.json\` → \`calibration.isotonic\` (x: score, y: probability; linear between knots, clipped).`,
        ],
      },
    );
  }
  if (seg) {
    const flagged = seg.rows.filter((r) => r.flagged);
    blocks.push(
      { kind: 'heading', level: 2, text: 'Segment coverage' },
      {
        kind: 'paragraph',
        text: `${seg.rows.length} segments (top ${seg.top} ${segmentDimensions(d)} with n ≥ ${seg.minCount}); accuracy ranges ${f3(Math.min(...seg.rows.map((r) => r.accuracy)))}–${f3(Math.max(...seg.rows.map((r) => r.accuracy)))} against the global ${f3(seg.globalAccuracy)}; ${flagged.length} flagged. Details: \`report/segment_metrics.json\`.`,
      },
    );
  }
  blocks.push(...importanceBlocks(d.metrics).map((b) => (b.kind === 'heading' ? { ...b, text: 'Explainability' } : b)));
  blocks.push(
    { kind: 'heading', level: 2, text: 'Data considerations' },
    {
      kind: 'list',
      items: [
        'Organisational fields are often missing; missingness is kept as a category (sentinel) and partly recovered through the manager.',
        'Labels are past human decisions: the model reproduces historical approval practice, including its inconsistencies.',
        'Identifiers (apps, managers, departments) are pseudonymous codes; no personal attributes beyond seniority and the machine-account flag are used.',
      ],
    },
    { kind: 'heading', level: 2, text: 'Risks and limitations' },
    { kind: 'list', items: risks(d) },
    { kind: 'heading', level: 2, text: 'Artifacts' },
    artifactTable(key.length ? key : d.artifacts),
    { kind: 'heading', level: 2, text: 'Reproduce' },
    {
      kind: 'paragraph',
      text: `\`access-perm pipeline run --config ${d.info.configPath}\` (same config and data hashes give the same model bytes); \`access-perm report ${d.runId}\` regenerates this card and the report.`,
    },
  );
  return blocks;
}
