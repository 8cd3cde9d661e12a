/**
 * GBDT benchmark (issue 3): our engine vs CatBoost and LightGBM on the same features, the same GroupKFold folds and the
 * same parameters, in one run, printed as one table.
 *
 *   npm run bench:gbdt                       # full: config/default.yaml (116,063 rows, GroupKFold(5) by userId,
 *                                            #   the seed's params: 500 it, lr 0.05, depth 8, l2 8, seed 42), 3 runs
 *   npm run bench:gbdt -- --quick            # smoke test (~3–5 min on 2 busy cores): 20,000 synthetic rows (seed
 *                                            #   42), GroupKFold(2), 100 iterations, otherwise the config's params;
 *                                            #   2 runs unless --runs is given
 *   npm run bench:gbdt -- [--runs 3] [--score-passes 3] [--config config/default.yaml] [--quick]
 *
 * Full runs take ~40–60 min on 2 cores (3 runs × each engine's folds and all-rows fit, and the ONNX export once): run
 * them on an otherwise idle machine.
 *
 * What one invocation does:
 * 1. Python: bench/.venv (git-ignored). Created when absent (`python3 -m venv bench/.venv &&
 *    bench/.venv/bin/pip install -r bench/requirements.txt`); when it exists but lacks a module, only the missing
 *    packages are installed at the pins in bench/requirements.txt (the command is printed).
 * 2. Features: the pipeline's feature table (DuckDB SQL, GroupKFold by the group column, written as Parquet) for the
 *    config, in the run folder bench/out/runs/bench-gbdt[-quick]. Every trainer reads exactly that table and its
 *    `fold` column; the feature list (the config's spec) is passed to the Python side.
 * 3. `--runs N` times (default 3; --quick: 2), in this order: ours, CatBoost, LightGBM. Each engine does the training
 *    work of a pipeline run (issue 19's measure): the folds and the model on all rows (the scoring model).
 *    - ours: the six fits through the pipeline's thread pool (lib/training/pool: one fit per worker thread, 2 at a
 *      time on 2 cores, as the pipeline trains; the all-rows fit first); per-fit time (inside the trainer), the wall
 *      time of the six, OOF predictions.
 *    - CatBoost (thread_count 2) / LightGBM (num_threads 2): bench/peer_gbdt.py, a fresh Python process per engine and
 *      run; folds, then all rows, fitted one after another.
 *    Peak RSS: VmHWM of the process over the six fits (reset via /proc/self/clear_refs right before them). Ours is this
 *    whole Node process: the trainer runs in worker threads in-process, next to the loaded feature matrix and DuckDB;
 *    the peers' figure includes their DataFrame.
 * 4. Scoring throughput, every run, all rows of the table, with the model trained on ALL rows (the same bytes every
 *    run: the fits are seeded; not the fold models):
 *    - our TS evaluator (`predictProba` on the FeatureMatrix, 1 pass per run: it is slow and steady),
 *    - onnxruntime-node (`createOnnxScorer(exportOnnx(model), { intraOpThreads: 1 })`, `scorer.score(matrix)` end to
 *      end: the scorer's coded graph (lib/gbdt/onnx/coded.ts: dictionary codes → the graph's codes → int32 tensors),
 *      batches sized by the model; `--score-passes` per run; exported once, in run 1),
 *    - CatBoost `predict_proba` (thread_count 1, and 2), LightGBM `predict` (num_threads 1, and 2), DataFrame in;
 *      `--score-passes` per run each, after a 1,000-row warm-up.
 * 5. Quality (OOF ROC-AUC, PR-AUC, logloss, all computed here with lib/metrics from each engine's OOF predictions)
 *    is taken from run 1; later runs must reproduce the OOF predictions exactly (the trainers are seeded) — a
 *    mismatch is printed. Times and throughputs are medians over runs (fold fits: over folds × runs; scoring: over
 *    runs × passes). Ratios are to CatBoost (scoring: to CatBoost predict with 1 thread).
 * Prints one Markdown table plus the issue's targets, and writes every raw number, the command line, the machine
 * (nproc, CPU model, memory, load) and the dates to bench/out/gbdt-<UTC stamp>.json (and bench/out/gbdt.json).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { sqlString, withDuckDb } from '../lib/data/duck';
import { readLabelledMatrix, selectRows } from '../lib/features/matrix';
import type { LabelledMatrix } from '../lib/features/matrix';
import { featureSpec } from '../lib/features';
import { exportOnnx, parseModel, predictProba } from '../lib/gbdt';
import { createOnnxScorer } from '../lib/gbdt/onnx';
import type { CatBoostParams } from '../lib/gbdt';
import { AuthenticationError, authorize, bootstrapAdmin } from '../lib/governance';
import { governanceDir } from '../lib/governance/storeDir';
import { keyringDir } from '../lib/keys';
import { averagePrecision, logloss, rocAuc } from '../lib/metrics';
import { PROJECT_ROOT } from '../lib/paths';
import { buildFeatures } from '../lib/pipeline/features';
import { prepareRun } from '../lib/pipeline/prepare';
import { FEATURES_FILE, readRunConfig } from '../lib/run';
import { trainInThread } from '../lib/training/pool';
import type { ResolvedIdentity } from '../schemas/governance';
import type { FeatureMatrix } from '../schemas/matrix';
import { allowReading } from './read-roots';
import { ensureVenv, python } from './venv';

const { values: args } = parseArgs({
  options: {
    /** Default 3 (--quick: 2). */
    runs: { type: 'string' },
    /** Old name of --runs. */
    repeats: { type: 'string' },
    'score-passes': { type: 'string', default: '3' },
    config: { type: 'string', default: 'config/default.yaml' },
    quick: { type: 'boolean', default: false },
  },
});
const nRuns = Number(args.runs ?? args.repeats ?? (args.quick ? 2 : 3));
const scorePasses = Number(args['score-passes']);
if (!Number.isInteger(nRuns) || nRuns < 1) throw new Error(`--runs must be a positive integer, got ${args.runs}`);
if (!Number.isInteger(scorePasses) || scorePasses < 1) throw new Error('--score-passes must be a positive integer');
const QUICK = { rows: 20_000, folds: 2, iterations: 100 };
/** Scoring targets apply to the default model only. */
const ONNX_TARGET_ROWS_PER_SECOND = 200_000;

const outDir = join(PROJECT_ROOT, 'bench', 'out');
const workDir = join(outDir, args.quick ? 'gbdt-work-quick' : 'gbdt-work');
process.env.ACCESS_PERM_DATA_DIR = outDir;

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

/** A /proc/self/status field in MB (VmRSS, VmHWM), or null off Linux. */
function procMb(key: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}
/** Resets VmHWM to the current RSS (Linux ≥ 4.0), so the next VmHWM read is the peak since now. */
function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Wall and process-CPU seconds of one call. */
async function timed<T>(fn: () => T | Promise<T>): Promise<{ value: T; wall: number; cpu: number }> {
  const c = process.cpuUsage();
  const t = performance.now();
  const value = await fn();
  const wall = (performance.now() - t) / 1000;
  const used = process.cpuUsage(c);
  return { value, wall, cpu: (used.user + used.system) / 1e6 };
}

// ---------------------------------------------------------------------------------------------------------------
// Config and data

/** --quick: the config with 20,000 generated rows (own data folder), 2 folds and 100 iterations. */
async function quickConfig(base: string): Promise<string> {
  const raw = parseYaml(await readFile(base, 'utf8')) as {
    data: { mode?: string; dir?: string; generate?: { seed: number; interactions: number } };
    validation: { n_splits: number };
    model: { catboost: Record<string, unknown> };
  };
  if ((raw.data.mode ?? 'seed') !== 'seed' || !raw.data.generate) {
    throw new Error(`--quick needs a seed-mode config with data.generate (${base} has neither)`);
  }
  raw.data.dir = './data';
  raw.data.generate.interactions = QUICK.rows;
  raw.validation.n_splits = QUICK.folds;
  raw.model.catboost.iterations = QUICK.iterations;
  const dir = join(outDir, 'gbdt-quick');
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'config.yaml');
  await writeFile(path, `# written by bench/gbdt.ts --quick from ${base}\n${stringifyYaml(raw)}`);
  return path;
}

/**
 * The token of the bench's own ADMIN in bench/out (runs are audited like any other), kept for later runs. Once it has
 * expired nobody can issue another (the bench is the installation's only user), so the bench's installation starts
 * afresh: its governance store, run folders and keyring go; data sets and reports stay.
 */
async function benchToken(): Promise<string> {
  const tokenFile = join(outDir, 'bench-admin.token');
  const kept = await readFile(tokenFile, 'utf8').catch(() => null);
  if (kept !== null) {
    const refused = await authorize({ token: kept }, 'create_run', { type: 'run', id: 'bench-gbdt' }).then(
      () => null,
      (e: unknown) => e,
    );
    if (refused === null) return kept;
    if (!(refused instanceof AuthenticationError && refused.failure === 'expired')) throw refused;
    log(`the bench's ADMIN token (${tokenFile}) has expired: starting a new bench installation in ${outDir}`);
    for (const stale of [governanceDir(), join(outDir, 'runs'), join(outDir, 'run-index'), keyringDir(), tokenFile])
      await rm(stale, { recursive: true, force: true });
  }
  const issued = (await bootstrapAdmin('bench', '30d')).token;
  await writeFile(tokenFile, issued, { mode: 0o600 });
  return issued;
}

async function benchIdentity(): Promise<ResolvedIdentity> {
  return authorize({ token: await benchToken() }, 'create_run', { type: 'run', id: 'bench-gbdt' });
}

// ---------------------------------------------------------------------------------------------------------------
// One run of each engine

interface FoldFit {
  fold: number;
  trainRows: number;
  validRows: number;
  fitSeconds: number;
  /** The most threads a tree of the fit used (a fold is lent a second thread when a core is idle). */
  fitThreads: number;
}
interface ScoringSample {
  scorer: string;
  threads: number;
  rows: number;
  wallSeconds: number[];
  cpuSeconds: number[];
}
interface EngineRun {
  engine: 'ours' | 'catboost' | 'lightgbm';
  name: string;
  folds: FoldFit[];
  /** The training work the issue times: the folds and the model on all rows (the scoring model), each engine its way. */
  trainingWallSeconds: number;
  oof: Float64Array;
  metrics: { rocAuc: number; prAuc: number; logloss: number };
  /** Peak over the training work (VmHWM after a reset), and the process's highest. */
  rss: { beforeCvMb: number | null; peakTrainingMb: number | null; peakResetWorked: boolean; processMaxMb: number };
  fullFitSeconds: number;
  scoring: ScoringSample[];
  extra?: Record<string, unknown>;
}

const metricsOf = (labels: Uint8Array, p: ArrayLike<number>): EngineRun['metrics'] => ({
  rocAuc: rocAuc(labels, p),
  prAuc: averagePrecision(labels, p),
  logloss: logloss(labels, p),
});

interface Bench {
  all: LabelledMatrix;
  head: FeatureMatrix;
  params: CatBoostParams;
  /** The config's `model.fit_threads`. */
  fitThreads?: number;
  nSplits: number;
  featuresPath: string;
  spec: { categorical: string[]; numeric: string[] };
}

const oursModelPath = (): string => join(workDir, 'ours-full.json');
const oursOnnxPath = (): string => join(workDir, 'ours-full.onnx');

async function runOurs(b: Bench, first: boolean): Promise<EngineRun> {
  const { all } = b;
  gc();
  const beforeCvMb = procMb('VmRSS');
  const peakResetWorked = resetPeakRss();
  const oof = new Float64Array(all.matrix.rowCount);
  const folds: FoldFit[] = [];
  const extra: Record<string, unknown> = {};
  let fullFitSeconds = 0;
  let modelFile: Uint8Array | undefined;
  const wallStart = performance.now();
  // The training work of a pipeline run: the folds and the model on all rows, as many at once as the pool trains
  // (one per core), the all-rows fit (the longest) first so that the two cores finish together. Each fold's matrices
  // are built when it starts, as the pipeline's fold activities do.
  const pending: Array<number | 'all'> = [
    'all' as const,
    ...Array.from({ length: b.nSplits }, (_, fold) => fold),
  ].reverse();
  await Promise.all(
    Array.from({ length: Math.min(availableParallelism(), pending.length) }, async () => {
      for (let job = pending.pop(); job !== undefined; job = pending.pop())
        await (job === 'all' ? trainAllRows() : trainFold(job));
    }),
  );
  async function trainAllRows(): Promise<void> {
    const outcome = await trainInThread({
      train: all.matrix,
      labels: all.labels,
      params: b.params,
      fitThreads: b.fitThreads,
    });
    fullFitSeconds = outcome.fitSeconds;
    modelFile = outcome.modelFile;
    log(`  ours all-rows fit ${fullFitSeconds.toFixed(1)} s (${outcome.fitThreads} thread(s) at most)`);
  }
  async function trainFold(fold: number): Promise<void> {
    const train = selectRows(all, (i) => all.folds[i] !== fold);
    const valid = selectRows(all, (i) => all.folds[i] === fold);
    const outcome = await trainInThread({
      train: train.matrix,
      labels: train.labels,
      params: b.params,
      fitThreads: b.fitThreads,
      predict: valid.matrix,
      returnModel: false,
      transfer: true,
    });
    folds.push({
      fold,
      trainRows: train.matrix.rowCount,
      validRows: valid.matrix.rowCount,
      fitSeconds: outcome.fitSeconds,
      fitThreads: outcome.fitThreads,
    });
    log(`  ours fold ${fold}: fit ${outcome.fitSeconds.toFixed(1)} s (${outcome.fitThreads} thread(s) at most)`);
    let k = 0;
    for (let i = 0; i < all.matrix.rowCount; i++) if (all.folds[i] === fold) oof[i] = outcome.predictions![k++]!;
  }
  const trainingWallSeconds = (performance.now() - wallStart) / 1000;
  const peakTrainingMb = peakResetWorked ? procMb('VmHWM') : null;
  folds.sort((x, y) => x.fold - y.fold);

  // The scoring model is the all-rows model (the same bytes every run: the fit is seeded); exported once, in run 1.
  await writeFile(oursModelPath(), modelFile!);
  if (first) {
    try {
      const exported = await timed(() => exportOnnx(parseModel(Buffer.from(modelFile!).toString('utf8'))));
      await writeFile(oursOnnxPath(), exported.value);
      extra.onnxExportSeconds = exported.wall;
      extra.onnxBytes = exported.value.length;
    } catch (err) {
      extra.onnxError = `ONNX export failed: ${(err as Error).message}`;
      log(`  ${String(extra.onnxError)}`);
    }
  }

  const scoring: ScoringSample[] = [];
  const model = parseModel(await readFile(oursModelPath(), 'utf8'));
  extra.modelTrees = model.trees.length;
  predictProba(model, b.head); // warm-up
  const ts: ScoringSample = {
    scorer: 'TS evaluator',
    threads: 1,
    rows: all.matrix.rowCount,
    wallSeconds: [],
    cpuSeconds: [],
  };
  const tsRun = await timed(() => predictProba(model, all.matrix));
  ts.wallSeconds.push(tsRun.wall);
  ts.cpuSeconds.push(tsRun.cpu);
  scoring.push(ts);

  if (existsSync(oursOnnxPath()) && !extra.onnxError) {
    const onnx: ScoringSample = {
      scorer: 'onnxruntime-node',
      threads: 1,
      rows: all.matrix.rowCount,
      wallSeconds: [],
      cpuSeconds: [],
    };
    try {
      const bytes = await readFile(oursOnnxPath());
      const created = await timed(() => createOnnxScorer(bytes, { intraOpThreads: 1 }));
      const scorer = created.value;
      extra.onnxSessionCreateSeconds = created.wall;
      try {
        await scorer.score(b.head); // warm-up
        let p: Float32Array = new Float32Array(0);
        for (let r = 0; r < scorePasses; r++) {
          const s = await timed(() => scorer.score(all.matrix));
          p = s.value;
          onnx.wallSeconds.push(s.wall);
          onnx.cpuSeconds.push(s.cpu);
        }
        let maxDiff = 0;
        for (let i = 0; i < p.length; i++) maxDiff = Math.max(maxDiff, Math.abs(p[i]! - tsRun.value[i]!));
        extra.onnxMaxAbsDiffVsTs = maxDiff;
      } finally {
        await scorer.close();
      }
      scoring.push(onnx);
    } catch (err) {
      extra.onnxError = `onnxruntime-node scoring failed: ${(err as Error).message}`;
      log(`  ${String(extra.onnxError)}`);
    }
  }
  return {
    engine: 'ours',
    name: 'access-perm (TS)',
    folds,
    trainingWallSeconds,
    oof,
    metrics: metricsOf(all.labels, oof),
    rss: { beforeCvMb, peakTrainingMb, peakResetWorked, processMaxMb: process.resourceUsage().maxRSS / 1024 },
    fullFitSeconds,
    scoring,
    extra,
  };
}

interface PeerOut {
  engine: 'catboost' | 'lightgbm';
  name: string;
  version: string;
  python: string;
  rows: number;
  loadSeconds: number;
  folds: FoldFit[];
  cvWallSeconds: number;
  trainingWallSeconds: number;
  oof: number[];
  sklearn: Record<string, number>;
  rss: EngineRun['rss'] & { peakCvMb: number | null };
  fullFitSeconds: number;
  scoring: ScoringSample[];
}

function runPeer(b: Bench, engine: 'catboost' | 'lightgbm'): EngineRun {
  const out = execFileSync(
    python,
    [
      join(PROJECT_ROOT, 'bench', 'peer_gbdt.py'),
      b.featuresPath,
      '--engine',
      engine,
      '--params',
      JSON.stringify(b.params),
      '--categorical',
      JSON.stringify(b.spec.categorical),
      '--numeric',
      JSON.stringify(b.spec.numeric),
      '--full-model',
      join(workDir, engine === 'catboost' ? 'catboost-full.cbm' : 'lightgbm-full.txt'),
      '--train-full',
      '--score-passes',
      String(scorePasses),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 30 },
  ).toString();
  const p = JSON.parse(out) as PeerOut;
  if (p.rows !== b.all.matrix.rowCount) throw new Error(`${p.name} read ${p.rows} rows, ours ${b.all.matrix.rowCount}`);
  const oof = Float64Array.from(p.oof);
  return {
    engine,
    name: p.name,
    folds: p.folds,
    trainingWallSeconds: p.trainingWallSeconds,
    oof,
    metrics: metricsOf(b.all.labels, oof),
    rss: p.rss,
    fullFitSeconds: p.fullFitSeconds,
    scoring: p.scoring,
    extra: {
      version: p.version,
      python: p.python,
      loadSeconds: p.loadSeconds,
      sklearnMetrics: p.sklearn,
      cvWallSeconds: p.cvWallSeconds,
      peakCvMb: p.rss.peakCvMb,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Summary

interface EngineSummary {
  engine: EngineRun['engine'];
  name: string;
  rocAuc: number;
  prAuc: number;
  logloss: number;
  /** Max |Δ| of OOF predictions of later runs vs run 1 (0 = reproduced exactly). */
  oofMaxAbsDiffAcrossRuns: number;
  foldFitSecondsMedian: number;
  trainingWallSecondsMedian: number;
  peakRssTrainingMbMedian: number | null;
  rssBeforeCvMbMedian: number | null;
  fullFitSecondsMedian: number;
}
interface ScorerSummary {
  engine: EngineRun['engine'];
  scorer: string;
  threads: number;
  rows: number;
  rowsPerSecondWall: number;
  rowsPerSecondCpu: number;
  samples: number;
}

function summarise(runs: EngineRun[][]): { engines: EngineSummary[]; scorers: ScorerSummary[] } {
  const engines: EngineSummary[] = [];
  const scorers: ScorerSummary[] = [];
  for (let e = 0; e < runs[0]!.length; e++) {
    const per = runs.map((r) => r[e]!);
    const first = per[0]!;
    let diff = 0;
    for (const r of per.slice(1))
      for (let i = 0; i < r.oof.length; i++) diff = Math.max(diff, Math.abs(r.oof[i]! - first.oof[i]!));
    const nullable = (xs: Array<number | null>): number | null =>
      xs.every((x) => x !== null) ? median(xs as number[]) : null;
    engines.push({
      engine: first.engine,
      name: first.name,
      ...first.metrics,
      oofMaxAbsDiffAcrossRuns: diff,
      foldFitSecondsMedian: median(per.flatMap((r) => r.folds.map((f) => f.fitSeconds))),
      trainingWallSecondsMedian: median(per.map((r) => r.trainingWallSeconds)),
      peakRssTrainingMbMedian: nullable(per.map((r) => r.rss.peakTrainingMb)),
      rssBeforeCvMbMedian: nullable(per.map((r) => r.rss.beforeCvMb)),
      fullFitSecondsMedian: median(per.map((r) => r.fullFitSeconds)),
    });
    const keys = new Set(per.flatMap((r) => r.scoring.map((s) => `${s.scorer}\u0000${s.threads}`)));
    for (const key of keys) {
      const samples = per.flatMap((r) => r.scoring.filter((s) => `${s.scorer}\u0000${s.threads}` === key));
      const rows = samples[0]!.rows;
      scorers.push({
        engine: first.engine,
        scorer: samples[0]!.scorer,
        threads: samples[0]!.threads,
        rows,
        rowsPerSecondWall: rows / median(samples.flatMap((s) => s.wallSeconds)),
        rowsPerSecondCpu: rows / median(samples.flatMap((s) => s.cpuSeconds)),
        samples: samples.reduce((a, s) => a + s.wallSeconds.length, 0),
      });
    }
  }
  return { engines, scorers };
}

function markdownTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------

function machine(): Record<string, unknown> {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpuModel;
  } catch {
    // not Linux
  }
  let nproc: number | null = null;
  try {
    nproc = Number(execFileSync('nproc').toString().trim());
  } catch {
    // no coreutils
  }
  return {
    nproc,
    availableParallelism: availableParallelism(),
    cpuModel,
    cpus: cpus().length,
    memTotalMb: Math.round(totalmem() / 2 ** 20),
    platform: process.platform,
    kernel: release(),
    node: process.version,
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = loadavg();
  await mkdir(workDir, { recursive: true });
  ensureVenv();

  // An absolute --config is used as given; a relative one is taken from the project root.
  const baseConfig = resolve(PROJECT_ROOT, args.config);
  const configPath = args.quick ? await quickConfig(baseConfig) : baseConfig;
  await allowReading(configPath, await benchToken(), log);
  log(`building the feature table (${configPath})…`);
  const benchRunId = args.quick ? 'bench-gbdt-quick' : 'bench-gbdt';
  // Prepared in this process, not by a workflow: the bench stands in for the workflow execution that owns the folder.
  const prepared = await prepareRun(benchRunId, configPath, await benchIdentity(), {
    workflowId: benchRunId,
    workflowRunId: `bench-${process.pid}`,
  });
  await buildFeatures(prepared);
  const config = await readRunConfig(prepared.dir);
  const spec = featureSpec(config);
  const featuresPath = join(prepared.dir, FEATURES_FILE);
  const all = await withDuckDb((conn) => readLabelledMatrix(conn, `read_parquet(${sqlString(featuresPath)})`, spec));
  const b: Bench = {
    all,
    head: selectRows(all, (i) => i < 1000).matrix,
    params: config.model.catboost,
    fitThreads: config.model.fit_threads,
    nSplits: prepared.nSplits,
    featuresPath,
    spec: { categorical: [...spec.categorical], numeric: [...spec.numeric] },
  };
  const foldRows = Array.from({ length: b.nSplits }, (_, k) => all.folds.filter((f) => f === k).length);
  log(
    `${all.matrix.rowCount} rows, ${b.nSplits} folds by ${spec.group ?? '(stratified rows)'} (${foldRows.join(', ')}), params ${JSON.stringify(b.params)}`,
  );

  const runs: EngineRun[][] = [];
  for (let r = 0; r < nRuns; r++) {
    const first = r === 0;
    const row: EngineRun[] = [];
    for (const engine of ['ours', 'catboost', 'lightgbm'] as const) {
      log(`run ${r + 1}/${nRuns}: ${engine}…`);
      const res = engine === 'ours' ? await runOurs(b, first) : runPeer(b, engine);
      log(
        `  ${res.name}: OOF AUC ${res.metrics.rocAuc.toFixed(4)}, logloss ${res.metrics.logloss.toFixed(4)}, 5 folds + all rows ${res.trainingWallSeconds.toFixed(1)} s`,
      );
      row.push(res);
    }
    runs.push(row);
  }

  const { engines, scorers } = summarise(runs);
  const cat = engines.find((e) => e.engine === 'catboost')!;
  const catScore = scorers.find((s) => s.engine === 'catboost' && s.threads === 1)!;
  const x = (a: number | null, c: number | null, digits = 2): string =>
    a === null || c === null ? '' : ` (×${(a / c).toFixed(digits)})`;
  const sign = (d: number): string => `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(4)}`;
  const rows: string[][] = [];
  const trainingCells = (e: EngineSummary): string[] => [
    `${e.rocAuc.toFixed(4)}${e === cat ? '' : ` (${sign(e.rocAuc - cat.rocAuc)})`}`,
    `${e.prAuc.toFixed(4)}${e === cat ? '' : ` (${sign(e.prAuc - cat.prAuc)})`}`,
    `${e.logloss.toFixed(4)}${e === cat ? '' : x(e.logloss, cat.logloss, 3)}`,
    `${e.foldFitSecondsMedian.toFixed(1)}${e === cat ? '' : x(e.foldFitSecondsMedian, cat.foldFitSecondsMedian)}`,
    `${e.trainingWallSecondsMedian.toFixed(1)}${e === cat ? '' : x(e.trainingWallSecondsMedian, cat.trainingWallSecondsMedian)}`,
    e.peakRssTrainingMbMedian === null
      ? 'n/a'
      : `${e.peakRssTrainingMbMedian.toFixed(0)}${e === cat ? '' : x(e.peakRssTrainingMbMedian, cat.peakRssTrainingMbMedian)}`,
  ];
  const scoreCell = (s: ScorerSummary): string =>
    `${Math.round(s.rowsPerSecondWall).toLocaleString('en-US')}${s === catScore ? '' : x(s.rowsPerSecondWall, catScore.rowsPerSecondWall)}`;
  for (const e of engines) {
    const own = scorers.filter((s) => s.engine === e.engine && !(e.engine === 'lightgbm' && s.threads !== 1));
    own.forEach((s, i) => {
      const label = `${i === 0 ? e.name : '〃'} · ${s.scorer}, ${s.threads} thread${s.threads > 1 ? 's' : ''}`;
      rows.push([
        label,
        ...(i === 0 ? trainingCells(e) : Array<string>(6).fill('〃')),
        scoreCell(s),
        Math.round(s.rowsPerSecondCpu).toLocaleString('en-US'),
      ]);
    });
    if (own.length === 0) rows.push([`${e.name} · (no scorer)`, ...trainingCells(e), 'n/a', 'n/a']);
  }
  const headers = [
    'engine · scorer',
    'OOF ROC-AUC (Δ CB)',
    'PR-AUC (Δ CB)',
    'logloss (× CB)',
    'fit s/fold (× CB)',
    '5 folds + all rows wall s (× CB)',
    'peak RSS MB, training (× CB)',
    'scoring rows/s (× CB 1 thread)',
    'scoring CPU rows/s',
  ];
  const ours = engines.find((e) => e.engine === 'ours')!;
  const onnx = scorers.find((s) => s.engine === 'ours' && s.scorer === 'onnxruntime-node');
  const onnxError = runs.map((r) => r[0]!.extra?.onnxError).find(Boolean);
  const modelDesc = `${b.params.iterations ?? '?'} iterations, depth ${b.params.depth ?? '?'}`;
  const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  const targets = {
    rocAuc: {
      ok: ours.rocAuc >= cat.rocAuc - 0.002,
      detail: `${ours.rocAuc.toFixed(4)} ≥ ${(cat.rocAuc - 0.002).toFixed(4)}`,
    },
    logloss: {
      ok: ours.logloss <= cat.logloss * 1.01,
      detail: `${ours.logloss.toFixed(4)} ≤ ${(cat.logloss * 1.01).toFixed(4)}`,
    },
    trainingTime: {
      ok: ours.trainingWallSecondsMedian <= 2 * cat.trainingWallSecondsMedian,
      detail: `5 folds + all rows ${ours.trainingWallSecondsMedian.toFixed(1)} s ≤ 2 × ${cat.trainingWallSecondsMedian.toFixed(1)} s`,
    },
    onnxThroughput: onnx
      ? {
          ok: onnx.rowsPerSecondWall >= ONNX_TARGET_ROWS_PER_SECOND,
          detail: `${args.quick ? 'quick model, not the default one, so not judged: ' : ''}${Math.round(onnx.rowsPerSecondWall).toLocaleString('en-US')} rows/s wall (${Math.round(onnx.rowsPerSecondCpu).toLocaleString('en-US')} CPU) vs 200,000`,
          judged: !args.quick,
        }
      : { ok: false, detail: `not measured: ${String(onnxError ?? 'no ONNX scorer')}`, judged: !args.quick },
  };

  const title = `${args.quick ? 'QUICK smoke test — ' : ''}${all.matrix.rowCount.toLocaleString('en-US')} rows, GroupKFold(${b.nSplits}) by ${spec.group ?? '—'}, ${modelDesc}; medians of ${nRuns} run${nRuns > 1 ? 's' : ''}`;
  console.log(`\n${title}\n`);
  console.log(markdownTable(headers, rows));
  console.log(`
Targets (issue 3):
- OOF ROC-AUC ≥ CatBoost − 0.002: ${verdict(targets.rocAuc.ok)} (${targets.rocAuc.detail})
- logloss ≤ CatBoost + 1 %: ${verdict(targets.logloss.ok)} (${targets.logloss.detail})
- training time ≤ 2 × CatBoost on the same ${availableParallelism()} cores: ${verdict(targets.trainingTime.ok)} (${targets.trainingTime.detail})
- onnxruntime-node ≥ 200k rows/s, 1 core: ${args.quick ? 'n/a' : verdict(targets.onnxThroughput.ok)} (${targets.onnxThroughput.detail})
Notes:
- Quality is run 1's; OOF predictions of later runs vs run 1, max |Δ|: ${engines.map((e) => `${e.name} ${e.oofMaxAbsDiffAcrossRuns.toExponential(1)}`).join(', ')}${engines.some((e) => e.oofMaxAbsDiffAcrossRuns > 1e-12) ? '  ⚠ NOT REPRODUCED' : ''}.
- fit s/fold: median over folds × runs of the fit alone. Ours fits 2 at once, one worker thread each (the pipeline's pool; a fit alone is lent the second core), the all-rows fit first; CatBoost/LightGBM fit the folds and then all rows one after another with 2 threads each — the wall time of those six fits is the like-for-like time (the training work of a pipeline run).
- Peak RSS: VmHWM over those six fits. Ours = this Node process, the trainer in worker threads in-process next to the loaded data (median RSS before CV ${ours.rssBeforeCvMbMedian?.toFixed(0) ?? 'n/a'} MB); peers = a fresh Python process with its DataFrame (CatBoost before CV ${cat.rssBeforeCvMbMedian?.toFixed(0) ?? 'n/a'} MB).
- Scoring: the model trained on all ${all.matrix.rowCount.toLocaleString('en-US')} rows with the same params (not the fold models), scoring those rows; rows/s = rows ÷ median seconds over runs × passes, wall and process CPU (on a busy machine CPU is the steadier figure). TS evaluator and onnxruntime-node (end to end from the FeatureMatrix) vs predict on a DataFrame.${onnxError ? `\n- ⚠ ${String(onnxError)}` : ''}`);

  const finishedAt = new Date();
  const stamp = startedAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const report = {
    command: `npm run bench:gbdt --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    argv: process.argv,
    options: {
      runs: nRuns,
      scorePasses,
      config: args.config,
      quick: args.quick,
      quickSettings: args.quick ? QUICK : null,
    },
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    machine: { ...machine(), loadAvgAtStart: loadAtStart, loadAvgAtEnd: loadavg(), python: runs[0]![1]!.extra?.python },
    configPath,
    runDir: prepared.dir,
    featuresPath,
    rows: all.matrix.rowCount,
    nSplits: b.nSplits,
    foldRows,
    features: b.spec,
    params: b.params,
    targets,
    summary: { engines, scorers },
    runs: runs.map((row, r) => row.map(({ oof: _oof, ...rest }) => ({ run: r + 1, ...rest }))),
  };
  const jsonPath = join(outDir, `gbdt-${args.quick ? 'quick-' : ''}${stamp}.json`);
  await writeFile(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  await copyFile(jsonPath, join(outDir, args.quick ? 'gbdt-quick.json' : 'gbdt.json'));
  console.log(`\nRaw numbers: ${jsonPath}`);
}

await main();
