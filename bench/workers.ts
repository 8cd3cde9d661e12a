/**
 * The training pipeline with 1 and with 2 worker processes (`npm run bench:workers`), each worker pinned to its own
 * core with `taskset`, standing in for machines: a pinned worker sees one core, so it trains one model at a time,
 * and the folds and the final model spread over whichever workers poll the task queue.
 *
 *   npm run bench:workers -- [--config config/default.yaml] [--runs 2] [--iterations N]
 *
 * One throwaway installation (data directory and keyring under bench/out/workers/) and one embedded Temporal dev
 * server serve every run. For each worker count and run: fresh `access-perm worker` processes, then
 * `access-perm pipeline run --no-worker` against that server; the time is the pipeline command's wall time (start to
 * evaluated, reported run). Which worker ran which training activity comes from the workflow's history (the
 * activity-started events name the worker). Peak RSS is each worker's VmHWM when its run ends.
 * Prints a Markdown table and writes the raw numbers to bench/out/workers.json.
 */
import { parseArgs } from 'node:util';
import { createInstallation, median, residentMb, writeBenchReport } from './installation';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: 'config/default.yaml' },
    runs: { type: 'string', default: '2' },
    iterations: { type: 'string' },
  },
});
const runs = Number(args.runs);
const WORKER_COUNTS = [1, 2];
const TRAINING_ACTIVITIES = new Set(['trainFold', 'trainFinalModel']);

const installation = await createInstallation('workers');
const { client } = installation;
const benchConfig = await installation.copyConfig(args.config, args.iterations ? Number(args.iterations) : undefined);

interface Measured {
  workers: number;
  run: number;
  wallSeconds: number;
  /** Training activities (folds and the final model) each worker ran. */
  trainingPerWorker: number[];
  peakRssMbPerWorker: number[];
}
const measured: Measured[] = [];
try {
  // One warm-up run generates the data set (first use) and fills the OS cache, so every measured run starts alike.
  const plan: Array<[workers: number, run: number]> = [
    [1, 0],
    ...WORKER_COUNTS.flatMap((w) => [...Array(runs)].map((_, i): [number, number] => [w, i + 1])),
  ];
  for (const [workers, k] of plan) {
    const pool = await Promise.all([...Array(workers)].map((_, core) => installation.startWorker(core)));
    const runId = `bench-workers-${workers}-${k}`;
    const started = performance.now();
    await installation.cli(['pipeline', 'run', '--config', benchConfig, '--no-worker', '--json', '--run-id', runId]);
    const wallSeconds = (performance.now() - started) / 1000;
    const peaks = await Promise.all(pool.map(async (w) => (await residentMb(w.pid!)).peak));
    await Promise.all(pool.map((w) => installation.stopWorker(w)));
    const history = await client.workflow.getHandle(runId).fetchHistory();
    const scheduled = new Map<string, string>();
    const byWorker = new Map<string, number>();
    for (const event of history.events ?? []) {
      const s = event.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(event.eventId), s.activityType?.name ?? '');
      const t = event.activityTaskStartedEventAttributes;
      if (t && TRAINING_ACTIVITIES.has(scheduled.get(String(t.scheduledEventId)) ?? ''))
        byWorker.set(t.identity ?? '?', (byWorker.get(t.identity ?? '?') ?? 0) + 1);
    }
    const trainingPerWorker = pool.map((w) => [...byWorker].find(([id]) => id.startsWith(`${w.pid}@`))?.[1] ?? 0);
    console.error(
      `${k === 0 ? 'warm-up' : `run ${k}`}, ${workers} worker(s): ${wallSeconds.toFixed(1)} s, training activities per worker ${trainingPerWorker.join(' / ')}, peak RSS ${peaks.map((p) => p.toFixed(0)).join(' / ')} MB`,
    );
    if (k > 0) measured.push({ workers, run: k, wallSeconds, trainingPerWorker, peakRssMbPerWorker: peaks });
  }
} finally {
  await installation.close();
}

const rows = WORKER_COUNTS.map((workers) => {
  const mine = measured.filter((m) => m.workers === workers);
  return {
    workers,
    wall: median(mine.map((m) => m.wallSeconds)),
    spread: mine.map((m) => m.trainingPerWorker.join('/')).join(', '),
    rss: Math.max(...mine.flatMap((m) => m.peakRssMbPerWorker)),
  };
});
const one = rows[0]!.wall;
console.log(
  `pipeline on ${args.config}${args.iterations ? ` (${args.iterations} trees)` : ''}, median of ${runs} runs; each worker pinned to one core`,
);
console.log(
  '| workers | pipeline wall s | speed-up | training activities per worker (each run) | peak RSS per worker MB |',
);
console.log('| --- | --- | --- | --- | --- |');
for (const r of rows)
  console.log(
    `| ${r.workers} | ${r.wall.toFixed(1)} | ×${(one / r.wall).toFixed(2)} | ${r.spread} | ${r.rss.toFixed(0)} |`,
  );
await writeBenchReport('workers', { measured, rows });
process.exit(0);
