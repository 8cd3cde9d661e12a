/**
 * Where the pipeline's memory goes, step by step (`npm run bench:memory`): one worker process runs one pipeline of
 * the config; every 100 ms this samples the worker's resident memory (VmRSS; the training threads run inside it)
 * and the workflow's current step (its `progress` query), then prints each step's time and peak RSS, and the
 * process's peak (VmHWM).
 *
 *   npm run bench:memory -- [--config config/default.yaml] [--iterations N] [--peer catboost] [--resume]
 *
 * --resume carries on the run of a bench process that was killed (a run at ten million rows takes longer than a
 * machine may stay up): it restarts the installation's Temporal server on its history and a worker, waits for the
 * same run, and reports over all the processes' samples (journaled to bench/out/memory/samples.jsonl). Step times
 * add up the time each process spent; a step that was cut off counts the time its lost attempt ran.
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
import { appendFile, readFile } from 'node:fs/promises';
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
    resume: { type: 'boolean', default: false },
  },
});
const SAMPLE_MS = 100;
/** Samples are appended to the journal this often, so a bench process that is killed keeps all but the last few. */
const JOURNAL_MS = 5000;
if (args.peer !== undefined && args.peer !== 'catboost') throw new Error(`--peer: only catboost, not ${args.peer}`);
if (args.peer) ensureVenv();

const installation = await createInstallation('memory', { reopen: args.resume });
const config = args.resume
  ? join(installation.dataDir, 'config.yaml')
  : await installation.copyConfig(args.config, args.iterations ? Number(args.iterations) : undefined);
const runId = 'bench-memory';
const journal = join(installation.dataDir, '..', 'samples.jsonl');
const earlier = args.resume ? await readJournal(journal) : [];
const session = (earlier.at(-1)?.session ?? 0) + 1;
const samples: Sample[] = [];
let journaled = 0;
let workerPeakMb = 0;
try {
  const worker = await installation.startWorker();
  // A resumed run is the workflow the first bench process started: its finished steps stay finished in the server's
  // history, and the steps that were running when that process died are retried on this worker.
  const pipeline = args.resume
    ? installation.client.workflow.getHandle(runId).result()
    : installation.cli(['pipeline', 'run', '--config', config, '--no-worker', '--json', '--run-id', runId]);
  let done = false;
  void pipeline.finally(() => (done = true)).catch(() => undefined);
  let step = 'starting';
  let lastJournal = Date.now();
  while (!done) {
    const progress = await runProgressOn(installation.client, runId).catch(() => null);
    if (progress) step = progress.progress.step;
    samples.push({ session, at: Date.now() / 1000, step, rssMb: (await residentMb(worker.pid!)).now });
    if (Date.now() - lastJournal >= JOURNAL_MS) {
      journaled = await appendJournal(journal, samples, journaled);
      lastJournal = Date.now();
    }
    await new Promise((r) => setTimeout(r, SAMPLE_MS));
  }
  await pipeline;
  journaled = await appendJournal(journal, samples, journaled);
  workerPeakMb = (await residentMb(worker.pid!)).peak;
  await installation.stopWorker(worker);
} finally {
  await installation.close();
}

const all = [...earlier, ...samples];
console.log(
  `pipeline on ${args.resume ? 'the resumed run' : args.config}${args.iterations ? ` (${args.iterations} trees)` : ''}: one worker process, RSS sampled every ${SAMPLE_MS} ms` +
    (session > 1 ? `, over ${session} bench processes (resumed ${session - 1}×)` : ''),
);
console.log('| step | seconds | peak RSS MB |');
console.log('| --- | --- | --- |');
for (const step of ['starting', ...PIPELINE_STEPS]) {
  const mine = all.filter((s) => s.step === step);
  if (mine.length === 0) continue;
  console.log(
    `| ${step} | ${stepSeconds(all, step).toFixed(1)} | ${Math.max(...mine.map((s) => s.rssMb)).toFixed(0)} |`,
  );
}
const peakMb = Math.max(workerPeakMb, ...all.map((s) => s.rssMb));
console.log(
  `worker peak: ${peakMb.toFixed(0)} MB (this process's worker VmHWM ${workerPeakMb.toFixed(0)} MB${session > 1 ? '; earlier workers by their samples' : ''})`,
);
const runDir = join(installation.dataDir, 'runs', runId);
const oof = JSON.parse(await readFile(join(runDir, METRICS_FILE), 'utf8')).oof as { rocAuc: number; logloss: number };
console.log(`OOF ROC-AUC ${oof.rocAuc.toFixed(4)}, logloss ${oof.logloss.toFixed(4)}`);
const peer = args.peer ? catBoostSameWork(join(runDir, FEATURES_FILE), config) : null;
await writeBenchReport('memory', { peakMb, sessions: session, oof, peer, samples: all });
process.exit(0);

interface Sample {
  /** Which bench process took it (1, then 2, … for each `--resume`). */
  session: number;
  /** Epoch seconds. */
  at: number;
  step: string;
  rssMb: number;
}

async function readJournal(path: string): Promise<Sample[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Sample);
}

/** Appends the samples from `from` on; returns how many are now in the journal. */
async function appendJournal(path: string, samples: Sample[], from: number): Promise<number> {
  if (samples.length > from)
    await appendFile(
      path,
      samples
        .slice(from)
        .map((s) => `${JSON.stringify(s)}\n`)
        .join(''),
    );
  return samples.length;
}

/** Time spent in a step: each sample stands for the time to the next one of the same bench process. */
function stepSeconds(samples: Sample[], step: string): number {
  let seconds = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    if (s.step !== step) continue;
    const next = samples[i + 1];
    seconds += next && next.session === s.session ? next.at - s.at : SAMPLE_MS / 1000;
  }
  return seconds;
}

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
