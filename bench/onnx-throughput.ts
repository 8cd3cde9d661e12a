/**
 * onnxruntime-node scoring throughput of the exported default model on the full synthetic set (116,063 rows), next
 * to CatBoost's single-thread predict on the same rows with the same params.
 *
 *   node --import tsx bench/onnx-throughput.ts [--data /tmp/synth-full] [--model /tmp/access-perm-default-model.json]
 *     [--iterations N] [--threads 1] [--repeats 5] [--batch-rows 4096,16384] [--profile] [--skip-peer]
 *     [--dense-max N] [--column-width N]
 *
 * 1. Data: the seed CSVs in --data (generated there with writeSyntheticDataset seed 42, 116,063 interactions when
 *    absent), seed-2 features built by the pipeline's SQL (lib/features.ts).
 * 2. Model: --model if the file exists, else trained on all rows with config/default.yaml's `model.catboost` block
 *    (500 iterations, depth 8, ...; CatBoost defaults otherwise, so max_ctr_complexity 4) and saved there;
 *    `--iterations N` trains N trees instead (default model file /tmp/access-perm-model-<N>.json).
 * 3. CatBoost (unless --skip-peer): bench/peer_gbdt.py --skip-cv on the same feature table (written to Parquet in
 *    the temp dir), the same params and tree count, trained on all rows (kept in /tmp/catboost-model-<trees>.cbm and
 *    reused), then predict_proba with thread_count 1 over every row, --repeats passes after a warm-up (DataFrame in,
 *    probabilities out, as bench:gbdt times it).
 * 4. Exports ONNX, opens a session with --threads intra-op threads and times (medians over --repeats, interleaved):
 *    `session.run` of the exported (string-input) graph on prebuilt tensors in batches of ONNX_BATCH_ROWS,
 *    `scorer.score(matrix)` end to end with the string graph (`coded: false`, as the scorer ran before 2026-12-07)
 *    and with the scorer's coded graph (the default; --dense-max / --column-width set its options; its batches are
 *    the scorer's default for the model unless --batch-rows is given), and the TS
 *    evaluator; checks max |Δp| against the TS evaluator and between the two graphs. The ratio to CatBoost is the
 *    coded scorer's. Wall and process CPU time are both reported: on a shared machine CPU time is the steadier
 *    figure.
 * 5. --profile: one more pass per batch size with onnxruntime's profiler on, for the string graph and for the
 *    scorer's coded graph, and a table of kernel time by operator type (summed over the pass's runs) with the share
 *    of the pass's total kernel time; PROFILE_TOP=N lists the N slowest nodes (default 10).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { parse } from 'yaml';
import { sqlString, withDuckDb } from '../lib/data/duck';
import { writeSyntheticDataset } from '../lib/data/generate';
import { readLabelledMatrix } from '../lib/features/matrix';
import { loadCsvAsText } from '../lib/data/raw';
import { buildFeatureTable, SEED_FEATURE_SPEC } from '../lib/features';
import { exportOnnx, parseModel, predictProba, serializeModel, trainGbdt } from '../lib/gbdt';
import { createOnnxScorer, ONNX_BATCH_ROWS } from '../lib/gbdt/onnx';
import { codedGraph } from '../lib/gbdt/onnx/coded';
import { batchRowsFor } from '../lib/gbdt/onnx/score';
import type { CodedGraphOptions } from '../lib/gbdt/onnx/coded';
import type { CatBoostParams, GbdtModel } from '../lib/gbdt';
import { PROJECT_ROOT } from '../lib/paths';
import type { FeatureMatrix } from '../schemas/matrix';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '/tmp/synth-full' },
    model: { type: 'string' },
    iterations: { type: 'string' },
    threads: { type: 'string', default: '1' },
    repeats: { type: 'string', default: '5' },
    'batch-rows': { type: 'string' },
    profile: { type: 'boolean', default: false },
    'skip-peer': { type: 'boolean', default: false },
    'dense-max': { type: 'string' },
    'column-width': { type: 'string' },
  },
});
/** Rows per session.run to time; the first is also the end-to-end scorer's. */
const batchSizes = (args['batch-rows'] ?? String(ONNX_BATCH_ROWS)).split(',').map(Number);
/** The coded scorer's batch rows: --batch-rows' first when given, else the scorer's default for the model. */
const codedBatchRows = args['batch-rows'] ? batchSizes[0] : undefined;
const threads = Number(args.threads);
const modelPath =
  args.model ??
  (args.iterations ? `/tmp/access-perm-model-${args.iterations}.json` : '/tmp/access-perm-default-model.json');
const repeats = Number(args.repeats);
/** The scorer's coded-graph options (defaults unless given). */
const coded: CodedGraphOptions = {
  ...(args['dense-max'] ? { denseMaxEntries: Number(args['dense-max']) } : {}),
  ...(args['column-width'] ? { columnTableMaxWidth: Number(args['column-width']) } : {}),
};
/** The feature table as Parquet for the CatBoost peer. */
const peerFeatures = join(tmpdir(), 'access-perm-onnx-bench-features.parquet');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const log = (msg: string): boolean => process.stderr.write(`${msg}\n`);
/** Wall seconds of `fn`; its process CPU seconds go to `cpu` (on a shared machine CPU time is the steadier figure). */
const seconds = async (fn: () => unknown, cpu?: number[]): Promise<number> => {
  const c = process.cpuUsage();
  const t = performance.now();
  await fn();
  const wall = (performance.now() - t) / 1000;
  const used = process.cpuUsage(c);
  cpu?.push((used.user + used.system) / 1e6);
  return wall;
};

/** config/default.yaml's `model.catboost` params, with --iterations when given. */
async function trainingParams(): Promise<CatBoostParams> {
  const config = parse(await readFile(join(PROJECT_ROOT, 'config/default.yaml'), 'utf8')) as {
    model: { catboost: CatBoostParams };
  };
  return { ...config.model.catboost, ...(args.iterations ? { iterations: Number(args.iterations) } : {}) };
}

/** CatBoost's single-thread predict_proba on the same rows (bench/peer_gbdt.py), wall and CPU seconds per pass. */
interface PeerScoring {
  name: string;
  wall: number[];
  cpu: number[];
}

/**
 * CatBoost trained with the same params on the same rows (bench/peer_gbdt.py --train-full, 2 threads; the model is
 * kept in /tmp/catboost-model-<trees>.cbm and reused), then timed predicting every row with 1 thread, --repeats
 * passes after a warm-up, DataFrame in and probabilities out, as bench:gbdt times it.
 */
async function catBoostScoring(trees: number, rows: number): Promise<PeerScoring> {
  const params = { ...(await trainingParams()), iterations: trees };
  const cbm = `/tmp/catboost-model-${trees}.cbm`;
  log(`CatBoost predict (${existsSync(cbm) ? `model from ${cbm}` : `training ${JSON.stringify(params)}`})…`);
  const out = execFileSync(
    join(PROJECT_ROOT, 'bench', '.venv', 'bin', 'python'),
    [
      join(PROJECT_ROOT, 'bench', 'peer_gbdt.py'),
      peerFeatures,
      '--engine',
      'catboost',
      '--params',
      JSON.stringify(params),
      '--categorical',
      JSON.stringify(SEED_FEATURE_SPEC.categorical),
      '--numeric',
      JSON.stringify(SEED_FEATURE_SPEC.numeric),
      '--full-model',
      cbm,
      existsSync(cbm) ? '--load-full' : '--train-full',
      '--skip-cv',
      '--score-threads',
      '1',
      '--score-passes',
      String(repeats),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28 },
  ).toString();
  const p = JSON.parse(out) as {
    name: string;
    rows: number;
    scoring: Array<{ wallSeconds: number[]; cpuSeconds: number[] }>;
  };
  if (p.rows !== rows) throw new Error(`${p.name} read ${p.rows} rows, ours ${rows}`);
  return { name: p.name, wall: p.scoring[0]!.wallSeconds, cpu: p.scoring[0]!.cpuSeconds };
}

/** The model in --model, or the default config's model trained on all rows (and saved there). */
async function loadOrTrain(matrix: FeatureMatrix, labels: Uint8Array): Promise<GbdtModel> {
  if (existsSync(modelPath)) {
    log(`model from ${modelPath}`);
    return parseModel(await readFile(modelPath, 'utf8'));
  }
  const params = await trainingParams();
  log(`training the model (${JSON.stringify(params)})…`);
  const t = performance.now();
  const model = trainGbdt(matrix, labels, params);
  log(`trained in ${((performance.now() - t) / 1000).toFixed(1)} s; saved to ${modelPath}`);
  await writeFile(modelPath, serializeModel(model));
  return model;
}

async function main(): Promise<void> {
  const dir = args.data;
  if (!existsSync(join(dir, 'interactions.csv'))) {
    log(`generating the synthetic set into ${dir}…`);
    await writeSyntheticDataset(dir, { seed: 42, interactions: 116_063 });
  }
  const { matrix, labels } = await withDuckDb(async (conn) => {
    await loadCsvAsText(conn, 'users', join(dir, 'users_metadata.csv'));
    await loadCsvAsText(conn, 'apps', join(dir, 'apps_metadata.csv'));
    await loadCsvAsText(conn, 'interactions', join(dir, 'interactions.csv'));
    await buildFeatureTable(conn, 'interactions', { sentinel: '__UNKNOWN__', managerBackfill: true }, true);
    await conn.run('CREATE TABLE features_folded AS SELECT *, 0 AS fold FROM features');
    if (!args['skip-peer']) {
      await conn.run(`COPY features_folded TO ${sqlString(peerFeatures)} (FORMAT parquet)`);
    }
    return readLabelledMatrix(conn, 'features_folded', SEED_FEATURE_SPEC);
  });
  log(`${matrix.rowCount} rows`);

  const model = await loadOrTrain(matrix, labels);
  const peer = args['skip-peer'] ? undefined : await catBoostScoring(model.trees.length, matrix.rowCount);
  const t0 = performance.now();
  const bytes = exportOnnx(model);
  const exportS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const scorer = await createOnnxScorer(bytes, { intraOpThreads: threads, batchRows: codedBatchRows, coded });
  const createS = (performance.now() - t1) / 1000;
  const codedForm = codedGraph(bytes, coded);
  const codedRows = codedBatchRows ?? batchRowsFor(codedForm?.rowBytes);
  const stringScorer = await createOnnxScorer(bytes, {
    intraOpThreads: threads,
    batchRows: batchSizes[0]!,
    coded: false,
  });
  const session = await InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const strings = matrix.categorical.map((c) => ({
    name: c.name,
    values: Array.from(c.codes, (k) => c.dictionary[k]!),
  }));
  const feedsOf = (batchRows: number): Array<Record<string, Tensor>> => {
    const feeds: Array<Record<string, Tensor>> = [];
    for (let lo = 0; lo < matrix.rowCount; lo += batchRows) {
      const hi = Math.min(matrix.rowCount, lo + batchRows);
      const feed: Record<string, Tensor> = {};
      for (const c of strings) feed[c.name] = new Tensor('string', c.values.slice(lo, hi), [hi - lo]);
      for (const c of matrix.numeric) feed[c.name] = new Tensor('float64', c.values.subarray(lo, hi), [hi - lo]);
      feeds.push(feed);
    }
    return feeds;
  };
  const feedsBySize = batchSizes.map(feedsOf);

  const runTimes = batchSizes.map((): number[] => []);
  const runCpu = batchSizes.map((): number[] => []);
  const e2eTimes: number[] = [];
  const tsTimes: number[] = [];
  const e2eCpu: number[] = [];
  const stringTimes: number[] = [];
  const stringCpu: number[] = [];
  let stringP: ArrayLike<number> = [];
  const tsCpu: number[] = [];
  let onnxP: ArrayLike<number> = [];
  let tsP: ArrayLike<number> = [];
  for (let r = 0; r < repeats; r++) {
    for (const [k, feeds] of feedsBySize.entries()) {
      runTimes[k]!.push(
        await seconds(async () => {
          for (const feed of feeds) await session.run(feed, ['probability']);
        }, runCpu[k]),
      );
    }
    stringTimes.push(await seconds(async () => (stringP = await stringScorer.score(matrix)), stringCpu));
    e2eTimes.push(await seconds(async () => (onnxP = await scorer.score(matrix)), e2eCpu));
    tsTimes.push(await seconds(() => (tsP = predictProba(model, matrix)), tsCpu));
  }
  let maxDiff = 0;
  for (let i = 0; i < tsP.length; i++) maxDiff = Math.max(maxDiff, Math.abs(tsP[i]! - onnxP[i]!));
  let maxDiffString = 0;
  for (let i = 0; i < tsP.length; i++) maxDiffString = Math.max(maxDiffString, Math.abs(stringP[i]! - onnxP[i]!));
  await scorer.close();
  await stringScorer.close();
  await session.release();

  const rate = (s: number): string => `${Math.round(matrix.rowCount / s).toLocaleString('en-US')} rows/s`;
  /** Median and best of the repeats (the machine is shared: the best run is the least disturbed one). */
  const figure = (xs: number[], cpu: number[]): string =>
    `wall median ${median(xs).toFixed(3)} s = ${rate(median(xs))}, best ${rate(Math.min(...xs))}; ` +
    `CPU median ${median(cpu).toFixed(3)} s = ${rate(median(cpu))}`;
  const splits = model.trees.reduce((a, t) => a + t.splits.length, 0);
  console.table({
    model: {
      value: `${model.trees.length} trees, depth ${model.params.depth}, ${splits} splits, ${model.ctrTables.length} CTR tables (${model.ctrTables.filter((t) => t.features.length > 1).length} combinations)`,
    },
    'ONNX export': { value: `${exportS.toFixed(2)} s, ${(bytes.length / 1e6).toFixed(1)} MB` },
    'session create': { value: `${createS.toFixed(2)} s` },
    ...Object.fromEntries(
      batchSizes.map((size, k) => [
        `session.run, ${size}-row batches (${threads} intra-op thread${threads > 1 ? 's' : ''})`,
        { value: figure(runTimes[k]!, runCpu[k]!) },
      ]),
    ),
    'coded graph': {
      value: `${JSON.stringify(codedForm?.stats)}, ${(codedForm!.bytes.length / 1e6).toFixed(1)} MB, ${codedRows}-row batches`,
    },
    [`string graph: scorer.score(matrix) with coded: false, ${batchSizes[0]}-row batches`]: {
      value: figure(stringTimes, stringCpu),
    },
    [`scorer.score(matrix), coded graph, end to end, ${codedRows}-row batches`]: { value: figure(e2eTimes, e2eCpu) },
    'max |Δp| coded vs string graph': { value: maxDiffString.toExponential(2) },
    'TS evaluator (predictProba)': { value: figure(tsTimes, tsCpu) },
    'max |Δp| ONNX vs TS': { value: maxDiff.toExponential(2) },
    ...(peer
      ? {
          [`${peer.name} predict_proba (1 thread)`]: { value: figure(peer.wall, peer.cpu) },
          'scorer.score / CatBoost': {
            value:
              `wall ×${(median(peer.wall) / median(e2eTimes)).toFixed(2)}, ` +
              `CPU ×${(median(peer.cpu) / median(e2eCpu)).toFixed(2)}`,
          },
        }
      : {}),
  });
  if (args.profile) {
    for (const [k, feeds] of feedsBySize.entries()) {
      await profile(`string graph, session.run on prebuilt tensors, ${batchSizes[k]}-row batches`, async (prefix) => {
        const session = await InferenceSession.create(bytes, {
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          enableProfiling: true,
          profileFilePrefix: prefix,
        });
        for (const feed of feeds) await session.run(feed, ['probability']);
        session.endProfiling();
        await session.release();
        return feeds.length;
      });
      await profile(
        `coded graph, scorer.score(matrix), ${k === 0 ? codedRows : batchSizes[k]}-row batches`,
        async (prefix) => {
          const s = await createOnnxScorer(bytes, {
            intraOpThreads: threads,
            batchRows: k === 0 ? codedRows : batchSizes[k]!,
            coded,
            profileFilePrefix: prefix,
          });
          await s.score(matrix);
          await s.close();
          return Math.ceil(matrix.rowCount / (k === 0 ? codedRows : batchSizes[k]!));
        },
      );
    }
  }
}

/** Kernel time by operator type over one profiled pass (`pass` runs it with the profiler writing to `prefix`). */
async function profile(title: string, pass: (prefix: string) => Promise<number>): Promise<void> {
  const runs = await pass(join(tmpdir(), `onnx-profile-${process.pid}`));
  // onnxruntime names the file <prefix>_<date>.json and does not return the name: take the newest with the prefix.
  const prefix = `onnx-profile-${process.pid}`;
  const files = (await readdir(tmpdir())).filter((f) => f.startsWith(prefix));
  const newest = (await Promise.all(files.map(async (f) => ({ f, t: (await stat(join(tmpdir(), f))).mtimeMs })))).sort(
    (a, b) => b.t - a.t,
  )[0]!.f;
  const path = join(tmpdir(), newest);
  // Node names may hold U+0000 (combination prefixes), which onnxruntime writes raw: JSON whitespace instead.
  const events = JSON.parse((await readFile(path, 'utf8')).replace(/[\u0000-\u001f]/g, ' ')) as Array<{
    cat: string;
    name: string;
    dur: number;
    args?: { op_name?: string };
  }>;
  await Promise.all(files.map((f) => rm(join(tmpdir(), f), { force: true })));
  const byOp = new Map<string, { us: number; nodes: Set<string> }>();
  const byNode = new Map<string, number>();
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    const entry = byOp.get(op) ?? { us: 0, nodes: new Set<string>() };
    entry.us += e.dur;
    entry.nodes.add(e.name);
    byOp.set(op, entry);
    byNode.set(e.name, (byNode.get(e.name) ?? 0) + e.dur);
    total += e.dur;
  }
  const rows = [...byOp.entries()].sort((a, b) => b[1].us - a[1].us);
  console.log(
    `kernel time by operator, ${title}, one pass over ${runs} runs: ` + `${(total / 1000).toFixed(0)} ms in all`,
  );
  console.table(
    Object.fromEntries(
      rows.map(([op, { us, nodes }]) => [
        op,
        { nodes: nodes.size, ms: Math.round(us / 1000), share: `${((100 * us) / total).toFixed(1)}%` },
      ]),
    ),
  );
  console.log('the ten slowest nodes:');
  console.table(
    Object.fromEntries(
      [...byNode.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, Number(process.env.PROFILE_TOP ?? 10))
        .map(([name, us]) => [name.replace(/_kernel_time$/, '').replace(/\s+/g, '·'), { ms: Math.round(us / 1000) }]),
    ),
  );
}

await main();
