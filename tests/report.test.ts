import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { expressionInterpreter } from 'vega-interpreter';
import { beforeAll, describe, expect, it } from 'vitest';
import { readVerified } from '../lib/artifacts';
import { metricsFileSchema, type MetricsFile } from '../schemas/metrics';
import { FEATURE_COLUMNS } from '../lib/features';
import { sha256File } from '../lib/hash';
import { evaluateRun, type EvaluationResult } from '../lib/pipeline/evaluate';
import { runStepInThread } from '../lib/pipeline/offThread';
import { buildFeatures } from '../lib/pipeline/features';
import { finalizeManifest } from '../lib/pipeline/manifest';
import { prepareRun } from '../lib/pipeline/prepare';
import type { RunFolder } from '../lib/run';
import { trainFinal, trainFold } from '../lib/pipeline/train';
import { validateRawData } from '../lib/pipeline/validate';
import { addUser, issueToken } from '../lib/governance';
import { compareRuns, fontFiles, renderVegaLite, writeRunReport } from '../lib/report';
import type { TopLevelSpec } from 'vega-lite';
import { ordinal } from '../lib/report/importance';
import type { ArtifactRef, FoldSummary } from '../schemas/run';
import {
  cliInProcess,
  runCreator,
  smallConfig,
  smallDataset,
  useTempDataDir,
  writeConfig,
  testExecution,
} from './helpers';

const FIGURES = [
  'roc_pr',
  'score_distribution',
  'confusion_matrix',
  'calibration',
  'threshold_metrics',
  'fold_auc',
  'segments',
  'importance',
];

let root: string;
interface Run {
  ref: RunFolder;
  evaluation: EvaluationResult;
  artifacts: ArtifactRef[];
  metrics: MetricsFile;
  /** The caller's event-loop utilization while the evaluation ran. */
  callerBusy: number;
}
let a: Run;
let b: Run;

/**
 * A real small run through the pipeline steps (prepare → validate → features → folds + final → evaluate), the
 * evaluation on the caller's thread or, as the pipeline's activity runs it, on a thread of its own.
 */
async function pipelineRun(runId: string, configPath: string, evaluateOn: 'caller' | 'thread'): Promise<Run> {
  const prepared = await prepareRun(runId, configPath, (await runCreator()).identity, testExecution(runId));
  const ref = prepared;
  const artifacts = [...prepared.artifacts];
  artifacts.push(...(await validateRawData(ref)).artifacts);
  artifacts.push(...(await buildFeatures(ref)).artifacts);
  const folds: FoldSummary[] = [];
  for (let f = 0; f < prepared.nSplits; f++) {
    const r = await trainFold(ref, f);
    folds.push(r.summary);
    artifacts.push(...r.artifacts);
  }
  artifacts.push(...(await trainFinal(ref)).artifacts);
  const before = performance.eventLoopUtilization();
  const evaluation =
    evaluateOn === 'caller' ? await evaluateRun(ref, folds) : await runStepInThread('evaluate', [ref, folds]);
  const callerBusy = performance.eventLoopUtilization(before).utilization;
  artifacts.push(...evaluation.artifacts);
  const metrics = metricsFileSchema.parse(JSON.parse(await readFile(join(ref.dir, 'metrics.json'), 'utf8')));
  return { ref, evaluation, artifacts, metrics, callerBusy };
}

beforeAll(async () => {
  root = await useTempDataDir('report');
  const data = await smallDataset(join(root, 'data'), 2000);
  a = await pipelineRun('rep-a', await writeConfig(root, 'a.yaml', smallConfig(data)), 'caller');
  const other = smallConfig(data, (c) => {
    c.model.catboost = { iterations: 20, learning_rate: 0.3, depth: 3, random_seed: 9 };
    c.validation.threshold_strategy = 'cost';
    c.validation.cost_false_approve = 3;
  });
  b = await pipelineRun('rep-b', await writeConfig(root, 'b.yaml', other), 'thread');
  await finalizeManifest(b.ref, b.artifacts);
});

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(bytes: Buffer): { width: number; height: number } {
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(bytes.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

const f4 = (x: number): string => x.toFixed(4);

describe('evaluation step on a real small run', () => {
  it("on a thread of its own (as the activity runs it on large inputs), it leaves the caller's event loop free and returns the same summary it writes", async () => {
    // On the caller's thread the evaluation computes there: its event loop is busy most of the time.
    expect(a.callerBusy).toBeGreaterThan(0.5);
    expect(b.callerBusy).toBeLessThan(0.2);
    expect(b.evaluation.metrics).toEqual(b.metrics.oof);
    expect(b.evaluation.foldAuc).toEqual(b.metrics.foldAuc);
    expect(b.evaluation.artifacts.map((x) => x.path)).toContain('metrics.json');
    // An error inside keeps its type, which decides whether Temporal retries the step.
    const forged = join(root, 'forged');
    await mkdir(forged);
    await writeFile(join(forged, 'config.json'), '{}');
    await expect(
      runStepInThread('evaluate', [{ runId: 'forged', root: forged, dir: forged }, []]),
    ).rejects.toMatchObject({
      name: 'ConfigError',
      message: expect.stringMatching(/forged\/config\.json: invalid config/),
    });
  });

  it('metrics.json holds thresholds, intervals, calibration, segments, folds and the data audit', () => {
    const m = a.metrics;
    expect(m.oof.rows).toBe(2000);
    expect(m.thresholds!.map((t) => t.strategy)).toEqual(['max_accuracy', 'max_f1', 'fixed', 'cost']);
    const chosen = m.thresholds!.filter((t) => t.chosen);
    expect(chosen).toHaveLength(1);
    expect(chosen[0]!.threshold).toBe(m.oof.threshold);
    expect(m.ci!.unit).toBe('groups');
    expect(m.ci!.rocAuc.lower).toBeLessThan(m.oof.rocAuc);
    expect(m.ci!.rocAuc.upper).toBeGreaterThan(m.oof.rocAuc);
    expect(m.ci!.accuracy.estimate).toBeCloseTo(m.oof.accuracy, 12);
    expect(m.foldMetrics!.folds.map((f) => f.rocAuc)).toEqual(m.foldAuc);
    expect(m.calibration!.reliability.reduce((s, r) => s + r.count, 0)).toBe(2000);
    expect(m.calibration!.isotonic.x.length).toBe(m.calibration!.isotonic.y.length);
    expect(m.segments!.rows.length).toBeGreaterThan(0);
    for (const r of m.segments!.rows) expect(r.count).toBeGreaterThanOrEqual(100);
    expect(m.audit!.rows).toBe(2000);
    expect(m.audit!.raw.map((t) => t.table)).toEqual(['users', 'apps', 'interactions']);
    // The seed's missingness pattern is visible in the raw audit.
    expect(m.audit!.raw[0]!.missing.department).toBeGreaterThan(0.2);
    // Importance of the final model from the GBDT engine: PredictionValuesChange sums to 100 over every input.
    const pvc = m.importance!.predictionValuesChange!;
    expect(pvc.map((e) => e.feature).sort()).toEqual([...FEATURE_COLUMNS].sort());
    expect(pvc.reduce((s, e) => s + e.importance, 0)).toBeCloseTo(100, 9);
    expect(m.importance!.meanAbsShap!.length).toBe(FEATURE_COLUMNS.length);
    expect(m.importance!.meanAbsShap![0]!.importance).toBeGreaterThan(0);
    // The cost strategy of run B with expensive false approvals approves fewer requests than max accuracy.
    const bt = Object.fromEntries(b.metrics.thresholds!.map((t) => [t.strategy, t]));
    expect(bt.cost!.chosen).toBe(true);
    expect(bt.cost!.approvalRate).toBeLessThanOrEqual(bt.max_accuracy!.approvalRate);
  });

  it('returns every report file as a verified artifact', async () => {
    const paths = a.evaluation.artifacts.map((x) => x.path);
    for (const name of FIGURES) {
      expect(paths).toContain(`report/figures/${name}.png`);
      expect(paths).toContain(`report/figures/${name}.svg`);
      expect(paths).toContain(`report/figures/${name}.vg.json`);
    }
    for (const f of ['report/report.md', 'report/report.html', 'report/model_card.md', 'report/segment_metrics.json'])
      expect(paths).toContain(f);
    for (const ref of a.evaluation.artifacts) await readVerified(a.ref.dir, ref);
  });

  it("a figure's PNG holds exactly the pixels resvg draws from its SVG at 2×", async () => {
    const png = await readFile(join(a.ref.dir, 'report/figures/roc_pr.png'));
    const { width, height } = pngSize(png);
    expect([png[24], png[25]]).toEqual([8, 6]); // 8 bits a channel, RGBA
    const idat: Buffer[] = [];
    for (let at = 8; at < png.length;) {
      const length = png.readUInt32BE(at);
      if (png.subarray(at + 4, at + 8).toString('latin1') === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
      at += 12 + length;
    }
    const rows = inflateSync(Buffer.concat(idat));
    expect(rows.length).toBe((width * 4 + 1) * height);
    const svg = await readFile(join(a.ref.dir, 'report/figures/roc_pr.svg'), 'utf8');
    const drawn = new Resvg(svg, {
      background: 'white',
      fitTo: { mode: 'zoom', value: 2 },
      font: { fontFiles: fontFiles(), loadSystemFonts: false, defaultFontFamily: 'Inter' },
    }).render();
    expect([drawn.width, drawn.height]).toEqual([width, height]);
    const pixels = drawn.pixels; // a copy on each read
    for (let y = 0; y < height; y++) {
      const row = rows.subarray(y * (width * 4 + 1), (y + 1) * (width * 4 + 1));
      expect(row[0]).toBe(0);
      if (!row.subarray(1).equals(pixels.subarray(y * width * 4, (y + 1) * width * 4)))
        throw new Error(`row ${y} of the PNG differs from what resvg drew`);
    }
  });

  it('draws a figure once for a spec: the same spec again gets what was drawn, another spec is drawn anew', async () => {
    const line = (ys: number[]): TopLevelSpec => ({
      data: { values: ys.map((y, x) => ({ x, y })) },
      mark: 'line',
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
    });
    const first = await renderVegaLite(line([1, 3, 2]));
    expect(await renderVegaLite(line([1, 3, 2]))).toBe(first);
    const other = await renderVegaLite(line([2, 3, 1]));
    expect(other.svg).not.toBe(first.svg);
    expect(await renderVegaLite(line([1, 3, 2]), 1)).not.toBe(first);
  });

  it('figures are valid, readable-size PNG and SVG, drawn with the bundled font', async () => {
    for (const name of FIGURES) {
      const { width, height } = pngSize(await readFile(join(a.ref.dir, 'report/figures', `${name}.png`)));
      expect(width).toBeGreaterThan(700);
      expect(height).toBeGreaterThan(400);
      const svg = await readFile(join(a.ref.dir, 'report/figures', `${name}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
      expect(svg).toContain('font-family="Inter');
    }
    const roc = await readFile(join(a.ref.dir, 'report/figures/roc_pr.svg'), 'utf8');
    expect(roc).toContain(`AUC ${a.metrics.oof.rocAuc.toFixed(3)}`);
    const cm = await readFile(join(a.ref.dir, 'report/figures/confusion_matrix.svg'), 'utf8');
    expect(cm).toContain(a.metrics.confusion.tp.toLocaleString('en-US'));
  });

  it("each figure's interactive spec renders under vega's interpreter (no eval) and shows values on hover", async () => {
    for (const name of FIGURES) {
      const spec = JSON.parse(await readFile(join(a.ref.dir, 'report/figures', `${name}.vg.json`), 'utf8'));
      expect(spec.$schema).toMatch(/vega\/v\d+\.json$/);
      expect(JSON.stringify(spec)).toContain('"tooltip"');
      const view = new vega.View(vega.parse(spec, undefined, { ast: true }), {
        expr: expressionInterpreter,
        renderer: 'none',
      });
      const svg = await view.toSVG();
      view.finalize();
      if (name === 'roc_pr') expect(svg).toContain(`AUC ${a.metrics.oof.rocAuc.toFixed(3)}`);
    }
  });

  it('report.html is self-contained and states the measured numbers', async () => {
    const html = await readFile(join(a.ref.dir, 'report/report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|src="http|href="http|url\(http/);
    expect(html.match(/<svg/g)?.length).toBe(FIGURES.length);
    // Inline figures share one document: ids are unique and every url(#…) reference resolves.
    const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((x) => x[1]);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [, ref] of html.matchAll(/url\(#([^)]+)\)/g)) expect(ids).toContain(ref);
    const m = a.metrics.oof;
    for (const value of [f4(m.rocAuc), f4(m.prAuc), f4(m.accuracy), f4(m.logloss), m.threshold.toFixed(3)])
      expect(html).toContain(value);
    expect(html).toContain(f4(a.metrics.ci!.rocAuc.lower));
    for (const h of [
      'Data audit',
      'Validation results',
      'Threshold selection',
      'Calibration',
      'Segment coverage',
      'Feature importance',
      'Considerations and risks',
      'Artifacts',
    ])
      expect(html).toContain(`>${h}</h2>`);
  });

  it('report.md links each figure it shows and the model card lists artifact hashes', async () => {
    const md = await readFile(join(a.ref.dir, 'report/report.md'), 'utf8');
    for (const name of FIGURES) expect(md).toContain(`](figures/${name}.png)`);
    expect(md).toContain(`ROC-AUC **${f4(a.metrics.oof.rocAuc)}**`);
    const card = await readFile(join(a.ref.dir, 'report/model_card.md'), 'utf8');
    for (const section of [
      'Model details',
      'Intended use',
      'Data',
      'Features',
      'Validation',
      'Performance (out of fold)',
      'Calibration',
      'Data considerations',
      'Risks and limitations',
      'Artifacts',
    ])
      expect(card).toContain(`## ${section}\n`);
    expect(card).toContain(await sha256File(join(a.ref.dir, 'config.json')));
    expect(card).toContain(`${a.metrics.calibration!.platt.a}`);
  });

  it('regenerating a report elsewhere gives the same figures and leaves the run folder alone', async () => {
    const out = join(root, 'regen');
    const again = await writeRunReport(b.ref.dir, out);
    const byPath = new Map(b.evaluation.artifacts.map((x) => [x.path, x.sha256]));
    const figures = again.artifacts.filter((x) => x.path.startsWith('figures/') || x.path.endsWith('.json'));
    expect(figures).toHaveLength(3 * FIGURES.length + 1);
    for (const x of figures) expect(byPath.get(`report/${x.path}`), x.path).toBe(x.sha256);
    // The finished run (it has a manifest) still verifies: nothing in it was rewritten.
    const manifest = JSON.parse(await readFile(join(b.ref.dir, 'manifest.json'), 'utf8')) as {
      artifacts: ArtifactRef[];
    };
    for (const ref of manifest.artifacts) await readVerified(b.ref.dir, ref);
    // The report of a finished run lists the manifest's artifacts, the report's own files included.
    const md = await readFile(join(out, 'report.md'), 'utf8');
    expect(md).toContain('From the run manifest');
    expect(md).toContain(byPath.get('report/figures/roc_pr.png'));
  });
});

describe('run comparison', () => {
  it('a run against itself agrees everywhere', async () => {
    const c = await compareRuns(a.ref.dir, a.ref.dir);
    expect(c.agreement.agreementRate).toBe(1);
    expect(c.agreement.matchedRows).toBe(2000);
    expect(c.agreement.scoreCorrelation).toBeCloseTo(1, 12);
    expect(c.params).toEqual([]);
    expect(c.config).toEqual([]);
    for (const m of c.metrics) if (m.delta !== null) expect(m.delta).toBe(0);
  });

  it('two configurations: metric deltas, parameter and config diffs, prediction agreement', async () => {
    const c = await compareRuns(a.ref.dir, b.ref.dir);
    expect(c.sameData).toBe(true);
    const auc = c.metrics.find((m) => m.metric === 'ROC-AUC')!;
    expect(auc.delta).toBeCloseTo(b.metrics.oof.rocAuc - a.metrics.oof.rocAuc, 12);
    expect(c.params.map((p) => p.key)).toEqual(expect.arrayContaining(['depth', 'iterations', 'random_seed']));
    expect(c.params.find((p) => p.key === 'depth')).toEqual({ key: 'depth', a: 4, b: 3 });
    expect(c.config.map((p) => p.key)).toEqual(
      expect.arrayContaining([
        'validation.threshold_strategy',
        'validation.cost_false_approve',
        'model.catboost.depth',
      ]),
    );
    expect(c.agreement.matchedRows).toBe(2000);
    expect(c.agreement.agreementRate).toBeGreaterThan(0.6);
    expect(c.agreement.agreementRate).toBeLessThan(1);
    const g = c.agreement;
    expect(g.bothApprove + g.bothDeny + g.onlyAApproves + g.onlyBApproves).toBe(2000);
  });

  it('refuses a finished run whose metrics were modified after the manifest', async () => {
    const path = join(b.ref.dir, 'metrics.json');
    const original = await readFile(path, 'utf8');
    await writeFile(path, original.replace('"rocAuc": 0.', '"rocAuc": 0.9'));
    await expect(compareRuns(a.ref.dir, b.ref.dir)).rejects.toThrow(/metrics.json was modified/);
    await writeFile(path, original);
    // Every file a report reads is checked, the data validation results too (a failed expectation made to pass).
    const validation = join(b.ref.dir, 'validation', 'interactions.json');
    const recorded = await readFile(validation, 'utf8');
    await writeFile(
      validation,
      recorded.replace('"success": false', '"success": true').replace('"success":false', '"success":true') + ' ',
    );
    await expect(compareRuns(a.ref.dir, b.ref.dir)).rejects.toThrow(/validation\/interactions\.json was modified/);
    await writeFile(validation, recorded);
  });
});

describe('CLI', () => {
  const cli = (token: string, ...args: string[]) => cliInProcess({ ACCESS_PERM_TOKEN: token }, ...args);

  it('`report` and `compare` write their files; compare --json carries the deltas', async () => {
    const { token } = await runCreator();
    const report = JSON.parse((await cli(token, 'report', 'rep-b', '--json')).stdout) as {
      dir: string;
      files: ArtifactRef[];
    };
    expect(report.dir).toBe(join(root, 'reports', 'rep-b'));
    expect(report.files.map((f) => f.path)).toContain('report.html');
    const out = join(root, 'cmp');
    const { stdout } = await cli(token, 'compare', 'rep-a', 'rep-b', '--json', '--out', out);
    const c = JSON.parse(stdout) as { agreement: { matchedRows: number }; params: Array<{ key: string }> };
    expect(c.agreement.matchedRows).toBe(2000);
    const md = await readFile(join(out, 'compare.md'), 'utf8');
    expect(md).toContain('# Run comparison — rep-a → rep-b');
    expect(md).toContain('`depth`');
    const missing = await cli(token, 'report', 'no-such-run');
    expect((missing as { code?: number }).code).toBe(1);
    expect(missing.stderr).toMatch(/^access-perm: no run at/);
  });

  it('a VIEWER may compare runs but not generate a report (seed-3 matrix)', async () => {
    const admin = { token: (await runCreator()).token };
    await addUser(admin, { userId: 'rita', role: 'VIEWER', reason: 'reads reports' });
    const viewer = (await issueToken(admin, { userId: 'rita' })).token;
    const denied = await cli(viewer, 'report', 'rep-a');
    expect((denied as { code?: number }).code).toBe(3);
    expect(denied.stderr).toMatch(/permission denied.*required_permission generate_report, your role VIEWER/);
    const allowed = await cli(viewer, 'compare', 'rep-a', 'rep-b');
    expect(allowed.stdout).toMatch(/agreement +\d+\.\d+% of 2000 shared rows/);
  });
});

describe('the SHAP sampling note', () => {
  it('says "every 2nd row", not "every 2th"', () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 112].map(ordinal)).toEqual([
      '1st',
      '2nd',
      '3rd',
      '4th',
      '11th',
      '12th',
      '13th',
      '21st',
      '22nd',
      '23rd',
      '101st',
      '112th',
    ]);
  });
});
