import type { ArtifactRef } from '../../schemas/run';
import { writeArtifact } from '../artifacts';
import { authorize, type Credential } from '../governance';
import { assertRunId, resolveRunDir } from '../run';
import { loadRunData, type RunData } from './data';
import { toHtml, toMarkdown, type Block, type Cell } from './doc';
import { f4, int, pct } from './sections';

export interface MetricDelta {
  metric: string;
  a: number | null;
  b: number | null;
  /** b − a. */
  delta: number | null;
  /** Whether a higher value is better (for the arrow in the report). */
  higherIsBetter: boolean;
}

export interface ValueDiff {
  key: string;
  a: unknown;
  b: unknown;
}

export interface ImportanceDelta {
  feature: string;
  a: number | null;
  b: number | null;
  delta: number | null;
}

export interface PredictionAgreement {
  /** Rows present in both runs' OOF tables, matched on their id columns ((userId, appId) in seed mode). */
  matchedRows: number;
  /** Flat-mode runs: the id columns rows were matched on (absent in seed mode: userId + appId). */
  matchedOn?: string[];
  /** Share of matched rows where both runs make the same decision, each at its own threshold. */
  agreementRate: number;
  bothApprove: number;
  bothDeny: number;
  onlyAApproves: number;
  onlyBApproves: number;
  /** Pearson correlation of the two runs' OOF scores on the matched rows. */
  scoreCorrelation: number;
  meanAbsScoreDiff: number;
}

export interface RunComparison {
  a: { runId: string; startedAt: string; configPath: string; dataHash: string };
  b: { runId: string; startedAt: string; configPath: string; dataHash: string };
  sameData: boolean;
  metrics: MetricDelta[];
  params: ValueDiff[];
  config: ValueDiff[];
  importance: { deltas: ImportanceDelta[]; note?: string };
  agreement: PredictionAgreement;
  segments: Array<{ dimension: string; value: string; a: number; b: number; delta: number }>;
}

/** Flattens nested objects to dot paths (arrays kept as values). */
function flatten(value: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = value;
  return out;
}

function diff(a: unknown, b: unknown, ignore: (key: string) => boolean = () => false): ValueDiff[] {
  const fa = flatten(a);
  const fb = flatten(b);
  const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].filter((k) => !ignore(k)).sort();
  return keys
    .filter((k) => JSON.stringify(fa[k]) !== JSON.stringify(fb[k]))
    .map((k) => ({ key: k, a: fa[k] ?? null, b: fb[k] ?? null }));
}

const finite = (x: number | undefined | null): number | null =>
  x === undefined || x === null || !Number.isFinite(x) ? null : x;

function metricDeltas(a: RunData, b: RunData): MetricDelta[] {
  const rows: Array<[string, (d: RunData) => number | undefined, boolean]> = [
    ['ROC-AUC', (d) => d.metrics.oof.rocAuc, true],
    ['PR-AUC', (d) => d.metrics.oof.prAuc, true],
    ['accuracy', (d) => d.metrics.oof.accuracy, true],
    ['precision', (d) => d.metrics.oof.precision, true],
    ['recall', (d) => d.metrics.oof.recall, true],
    ['F1', (d) => d.metrics.oof.f1, true],
    ['FPR', (d) => d.metrics.oof.fpr, false],
    ['logloss', (d) => d.metrics.oof.logloss, false],
    ['Brier', (d) => d.metrics.oof.brier, false],
    ['ECE', (d) => d.metrics.calibration?.ece, false],
    ['threshold', (d) => d.metrics.oof.threshold, true],
    ['fold ROC-AUC sd', (d) => d.metrics.foldMetrics?.rocAuc.std, false],
    ['rows', (d) => d.metrics.oof.rows, true],
  ];
  return rows.map(([metric, get, higherIsBetter]) => {
    const va = finite(get(a));
    const vb = finite(get(b));
    return { metric, a: va, b: vb, delta: va === null || vb === null ? null : vb - va, higherIsBetter };
  });
}

/** Decisions and scores of the two runs on the rows they share (matched on their id columns: userId + appId in seed mode). */
export function predictionAgreement(a: RunData, b: RunData): PredictionAgreement {
  const bIndex = new Map<string, number>();
  // Runs keyed by different columns share no rows.
  const sameKeys = a.oof.keyColumns.join('\u001f') === b.oof.keyColumns.join('\u001f');
  if (sameKeys) for (let i = 0; i < b.oof.key.length; i++) bIndex.set(b.oof.key[i]!, i);
  const ta = a.metrics.oof.threshold;
  const tb = b.metrics.oof.threshold;
  let matched = 0;
  let bothApprove = 0;
  let bothDeny = 0;
  let onlyA = 0;
  let onlyB = 0;
  let sa = 0;
  let sb = 0;
  let saa = 0;
  let sbb = 0;
  let sab = 0;
  let absDiff = 0;
  for (let i = 0; i < a.oof.key.length; i++) {
    const j = bIndex.get(a.oof.key[i]!);
    if (j === undefined) continue;
    const pa = a.oof.score[i]!;
    const pb = b.oof.score[j]!;
    const da = pa >= ta;
    const db = pb >= tb;
    matched++;
    if (da && db) bothApprove++;
    else if (!da && !db) bothDeny++;
    else if (da) onlyA++;
    else onlyB++;
    sa += pa;
    sb += pb;
    saa += pa * pa;
    sbb += pb * pb;
    sab += pa * pb;
    absDiff += Math.abs(pa - pb);
  }
  const cov = sab / matched - (sa / matched) * (sb / matched);
  const va = saa / matched - (sa / matched) ** 2;
  const vb = sbb / matched - (sb / matched) ** 2;
  return {
    matchedRows: matched,
    agreementRate: matched === 0 ? Number.NaN : (bothApprove + bothDeny) / matched,
    bothApprove,
    bothDeny,
    onlyAApproves: onlyA,
    onlyBApproves: onlyB,
    scoreCorrelation: matched === 0 || va <= 0 || vb <= 0 ? Number.NaN : cov / Math.sqrt(va * vb),
    meanAbsScoreDiff: matched === 0 ? Number.NaN : absDiff / matched,
    ...(a.config.data.mode === 'flat' ? { matchedOn: a.oof.keyColumns } : {}),
  };
}

function importanceDeltas(a: RunData, b: RunData): RunComparison['importance'] {
  const ia = a.metrics.importance?.predictionValuesChange;
  const ib = b.metrics.importance?.predictionValuesChange;
  if (!ia?.length || !ib?.length) {
    return { deltas: [], note: a.metrics.importance?.note ?? b.metrics.importance?.note ?? 'importance not available' };
  }
  const ma = new Map(ia.map((e) => [e.feature, e.importance]));
  const mb = new Map(ib.map((e) => [e.feature, e.importance]));
  return {
    deltas: [...new Set([...ma.keys(), ...mb.keys()])]
      .map((feature) => {
        const va = ma.get(feature) ?? null;
        const vb = mb.get(feature) ?? null;
        return { feature, a: va, b: vb, delta: va === null || vb === null ? null : vb - va };
      })
      .sort((x, y) => Math.abs(y.delta ?? 0) - Math.abs(x.delta ?? 0)),
  };
}

function segmentDeltas(a: RunData, b: RunData): RunComparison['segments'] {
  const sb = new Map((b.metrics.segments?.rows ?? []).map((r) => [`${r.dimension}\u001f${r.value}`, r]));
  return (a.metrics.segments?.rows ?? []).flatMap((r) => {
    const o = sb.get(`${r.dimension}\u001f${r.value}`);
    return o
      ? [{ dimension: r.dimension, value: r.value, a: r.accuracy, b: o.accuracy, delta: o.accuracy - r.accuracy }]
      : [];
  });
}

/** Compares two loaded runs: metric deltas, parameter and config diffs, importance changes, prediction agreement. */
export function compareRunData(a: RunData, b: RunData): RunComparison {
  const who = (d: RunData) => ({
    runId: d.runId,
    startedAt: d.info.startedAt,
    configPath: d.info.configPath,
    dataHash: d.info.dataHash,
  });
  return {
    a: who(a),
    b: who(b),
    sameData: a.info.dataHash === b.info.dataHash,
    metrics: metricDeltas(a, b),
    params: diff(a.model.params, b.model.params),
    config: diff(
      a.config,
      b.config,
      (k) => (k === 'data.dir' || k === 'data.path') && a.info.dataHash === b.info.dataHash,
    ),
    importance: importanceDeltas(a, b),
    agreement: predictionAgreement(a, b),
    segments: segmentDeltas(a, b),
  };
}

/** Loads two run folders and compares them. Example: `await compareRuns(runsDir + '/run-a', runsDir + '/run-b')`. */
/** Compares two runs as a user (compare_models: every role). */
export async function compareRunsAs(credential: Credential, runA: string, runB: string): Promise<RunComparison> {
  const resource = { type: 'run_comparison', id: `${assertRunId(runA)}..${assertRunId(runB)}`, runId: runA };
  await authorize(credential, 'compare_models', resource);
  return compareRuns(await resolveRunDir(runA), await resolveRunDir(runB));
}

export async function compareRuns(runDirA: string, runDirB: string): Promise<RunComparison> {
  const [a, b] = await Promise.all([loadRunData(runDirA), loadRunData(runDirB)]);
  return compareRunData(a, b);
}

const signed = (x: number | null, d = 4): string =>
  x === null ? '–' : `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(d)}`;
const show = (v: unknown): string => (v === null || v === undefined ? '–' : `\`${JSON.stringify(v)}\``);

export function comparisonBlocks(c: RunComparison): Block[] {
  const g = c.agreement;
  const metricRows: Cell[][] = c.metrics.map((m) => {
    const better = m.delta === null || m.delta === 0 ? '' : m.delta > 0 === m.higherIsBetter ? 'better' : 'worse';
    const fmt = (x: number | null) => (x === null ? null : m.metric === 'rows' ? int(x) : f4(x));
    return [
      m.metric,
      fmt(m.a),
      fmt(m.b),
      m.metric === 'rows' ? signed(m.delta, 0) : signed(m.delta),
      m.metric === 'threshold' || m.metric === 'rows' ? '' : better,
    ];
  });
  const blocks: Block[] = [
    { kind: 'heading', level: 1, text: `Run comparison — ${c.a.runId} → ${c.b.runId}` },
    {
      kind: 'list',
      items: [
        `A: \`${c.a.runId}\` (${c.a.startedAt}, config \`${c.a.configPath}\`)`,
        `B: \`${c.b.runId}\` (${c.b.startedAt}, config \`${c.b.configPath}\`)`,
        c.sameData
          ? 'Same input data (identical data hash).'
          : `**Different input data** (data sha256 \`${c.a.dataHash.slice(0, 12)}\` vs \`${c.b.dataHash.slice(0, 12)}\`).`,
      ],
    },
    { kind: 'heading', level: 2, text: 'Metrics (out of fold)' },
    {
      kind: 'table',
      header: ['metric', 'A', 'B', 'B − A', ''],
      align: ['left', 'right', 'right', 'right', 'left'],
      rows: metricRows,
    },
    { kind: 'heading', level: 2, text: 'Prediction agreement' },
    {
      kind: 'paragraph',
      text: `On ${int(g.matchedRows)} rows present in both runs (matched on ${g.matchedOn?.join(' + ') ?? 'userId + appId'}), each run at its own threshold: the decisions agree on **${pct(g.agreementRate, 2)}** (both approve ${int(g.bothApprove)}, both deny ${int(g.bothDeny)}, only A approves ${int(g.onlyAApproves)}, only B approves ${int(g.onlyBApproves)}). Score correlation ${f4(g.scoreCorrelation)}, mean |score difference| ${f4(g.meanAbsScoreDiff)}.`,
    },
    { kind: 'heading', level: 2, text: 'Model parameters' },
    c.params.length
      ? {
          kind: 'table',
          header: ['parameter', 'A', 'B'],
          rows: c.params.map((p) => [`\`${p.key}\``, show(p.a), show(p.b)]),
        }
      : { kind: 'paragraph', text: 'Resolved model parameters are identical.' },
    { kind: 'heading', level: 2, text: 'Configuration' },
    c.config.length
      ? { kind: 'table', header: ['key', 'A', 'B'], rows: c.config.map((p) => [`\`${p.key}\``, show(p.a), show(p.b)]) }
      : { kind: 'paragraph', text: 'The configurations are identical.' },
    { kind: 'heading', level: 2, text: 'Feature importance changes' },
    c.importance.deltas.length
      ? {
          kind: 'table',
          header: ['feature', 'A (%)', 'B (%)', 'B − A'],
          align: ['left', 'right', 'right', 'right'],
          rows: c.importance.deltas.map((d) => [
            `\`${d.feature}\``,
            d.a === null ? null : d.a.toFixed(1),
            d.b === null ? null : d.b.toFixed(1),
            signed(d.delta, 1),
          ]),
        }
      : { kind: 'paragraph', text: c.importance.note ?? 'Importance not available.' },
  ];
  if (c.segments.length) {
    blocks.push(
      { kind: 'heading', level: 2, text: 'Segment accuracy changes' },
      {
        kind: 'table',
        header: ['dimension', 'value', 'A', 'B', 'B − A'],
        align: ['left', 'left', 'right', 'right', 'right'],
        rows: c.segments.map((s) => [s.dimension, `\`${s.value}\``, f4(s.a), f4(s.b), signed(s.delta)]),
      },
    );
  }
  return blocks;
}

/** Writes compare.md, compare.html and compare.json into `outDir`. */
export async function writeComparison(c: RunComparison, outDir: string): Promise<ArtifactRef[]> {
  const blocks = comparisonBlocks(c);
  return [
    await writeArtifact(outDir, 'compare.md', toMarkdown(blocks, {}), 'comparison'),
    await writeArtifact(
      outDir,
      'compare.html',
      toHtml(`Run comparison — ${c.a.runId} → ${c.b.runId}`, blocks, {}),
      'comparison',
    ),
    await writeArtifact(outDir, 'compare.json', `${JSON.stringify(c, null, 2)}\n`, 'comparison'),
  ];
}
