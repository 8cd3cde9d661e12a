/**
 * Where the pipeline's memory goes, step by step (`npm run bench:memory`): one worker process runs one pipeline of
 * the config; every 100 ms this samples the worker's resident memory (VmRSS; the training threads run inside it)
 * and the workflow's current step (its `progress` query), then prints each step's time and peak RSS, and the
 * process's peak (VmHWM).
 *
 *   npm run bench:memory -- [--config config/default.yaml] [--iterations N] [--peer catboost]
 *
 * --peer catboost then does the same training work with CatBoost (bench/peer_gbdt.py: the run's feature table and
 * folds, the config's params, the 5 folds one after another with 2 threads, then the model on all rows) and prints
 * both: our train step's time and the worker's peak against CatBoost's CV + final fit and its process peak.
 *
 * The installation is a throwaway one under bench/out/memory/ (bench/installation.ts). Raw samples go to
 * bench/out/memory.json.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { runProgressOn } from '../client/runs';
import { parseConfigText } from '../lib/config';
import { featureSpec } from '../lib/features';
import { FEATURES_FILE, METRICS_FILE } from '../lib/run/layout';
import { PIPELINE_STEPS } from '../schemas/run';
import { createInstallation, residentMb, writeBenchReport } from './installation';
import { ensureVenv, python } from './venv';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: 'config/default.yaml' },
    iterations: { type: 'string' },
    peer: { type: 'string' },
  },
});
const SAMPLE_MS = 100;
if (args.peer !== undefined && args.peer !== 'catboost') throw new Error(`--peer: only catboost, not ${args.peer}`);
if (args.peer) ensureVenv();

const installation = await createInstallation('memory');
const config = await installation.copyConfig(args.config, args.iterations ? Number(args.iterations) : undefined);
const runId = 'bench-memory';
const samples: Array<{ at: number; step: string; rssMb: number }> = [];
let peakMb = 0;
try {
  const worker = await installation.startWorker();
  const started = performance.now();
  const pipeline = installation.cli([
    'pipeline',
    'run',
    '--config',
    config,
    '--no-worker',
    '--json',
    '--run-id',
    runId,
  ]);
  let done = false;
  void pipeline.finally(() => (done = true)).catch(() => undefined);
  let step = 'starting';
  while (!done) {
    const progress = await runProgressOn(installation.client, runId).catch(() => null);
    if (progress) step = progress.progress.step;
    samples.push({ at: (performance.now() - started) / 1000, step, rssMb: (await residentMb(worker.pid!)).now });
    await new Promise((r) => setTimeout(r, SAMPLE_MS));
  }
  await pipeline;
  peakMb = (await residentMb(worker.pid!)).peak;
  await installation.stopWorker(worker);
} finally {
  await installation.close();
}

console.log(
  `pipeline on ${args.config}${args.iterations ? ` (${args.iterations} trees)` : ''}: one worker process, RSS sampled every ${SAMPLE_MS} ms`,
);
console.log('| step | seconds | peak RSS MB |');
console.log('| --- | --- | --- |');
for (const step of ['starting', ...PIPELINE_STEPS]) {
  const mine = samples.filter((s) => s.step === step);
  if (mine.length === 0) continue;
  const seconds = mine.at(-1)!.at - mine[0]!.at + SAMPLE_MS / 1000;
  console.log(`| ${step} | ${seconds.toFixed(1)} | ${Math.max(...mine.map((s) => s.rssMb)).toFixed(0)} |`);
}
console.log(`worker process peak (VmHWM): ${peakMb.toFixed(0)} MB`);
const runDir = join(installation.dataDir, 'runs', runId);
const oof = JSON.parse(await readFile(join(runDir, METRICS_FILE), 'utf8')).oof as { rocAuc: number; logloss: number };
console.log(`OOF ROC-AUC ${oof.rocAuc.toFixed(4)}, logloss ${oof.logloss.toFixed(4)}`);
const peer = args.peer ? catBoostSameWork(join(runDir, FEATURES_FILE), config) : null;
await writeBenchReport('memory', { peakMb, oof, peer, samples });
process.exit(0);

/** CatBoost's CV (5 folds, 2 threads each, one after another) and final fit on the run's feature table and folds. */
function catBoostSameWork(featuresPath: string, configPath: string): Record<string, unknown> {
  const config = parseConfigText(readFileSync(configPath, 'utf8'), configPath, dirname(configPath));
  const spec = featureSpec(config);
  const out = execFileSync(
    python,
    [
      join('bench', 'peer_gbdt.py'),
      featuresPath,
      ...['--engine', 'catboost', '--params', JSON.stringify(config.model.catboost)],
      ...['--categorical', JSON.stringify(spec.categorical), '--numeric', JSON.stringify(spec.numeric)],
      ...['--full-model', join('bench', 'out', 'memory', 'catboost-full.cbm'), '--train-full'],
      ...['--score-passes', '1', '--score-threads', '1'],
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 30 },
  ).toString();
  const p = JSON.parse(out) as {
    cvWallSeconds: number;
    fullFitSeconds: number;
    rss: { processMaxMb: number };
    sklearn: Record<string, number>;
    version: string;
  };
  const trainSeconds = p.cvWallSeconds + p.fullFitSeconds;
  console.log(
    `CatBoost ${p.version}, the same training work: CV ${p.cvWallSeconds.toFixed(1)} s + final fit ${p.fullFitSeconds.toFixed(1)} s = ${trainSeconds.toFixed(1)} s, process peak ${p.rss.processMaxMb.toFixed(0)} MB, OOF ${JSON.stringify(p.sklearn)}`,
  );
  return {
    version: p.version,
    cvWallSeconds: p.cvWallSeconds,
    fullFitSeconds: p.fullFitSeconds,
    trainSeconds,
    rss: p.rss,
    sklearn: p.sklearn,
  };
}
