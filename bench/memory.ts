/**
 * Where the pipeline's memory goes, step by step (`npm run bench:memory`): one worker process runs one pipeline of
 * the config; every 100 ms this samples the worker's resident memory (VmRSS; the training threads run inside it)
 * and the workflow's current step (its `progress` query), then prints each step's time and peak RSS, and the
 * process's peak (VmHWM).
 *
 *   npm run bench:memory -- [--config config/default.yaml] [--iterations N]
 *
 * The installation is a throwaway one under bench/out/memory/ (bench/installation.ts). Raw samples go to
 * bench/out/memory.json.
 */
import { parseArgs } from 'node:util';
import { runProgressOn } from '../client/runs';
import { PIPELINE_STEPS } from '../schemas/run';
import { createInstallation, residentMb, writeBenchReport } from './installation';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: 'config/default.yaml' },
    iterations: { type: 'string' },
  },
});
const SAMPLE_MS = 100;

const installation = await createInstallation('memory');
const config = await installation.copyConfig(args.config, args.iterations ? Number(args.iterations) : undefined);
const samples: Array<{ at: number; step: string; rssMb: number }> = [];
let peakMb = 0;
try {
  const worker = await installation.startWorker();
  const runId = 'bench-memory';
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
await writeBenchReport('memory', { peakMb, samples });
process.exit(0);
