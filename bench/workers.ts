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
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { connectClient } from '../client/connection';
import { startDevServer } from '../client/devServer';
import { findServer } from '../client/server';
import { loadTemporalSettings } from '../client/settings';
import { PROJECT_ROOT } from '../lib/paths';

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

const outDir = join(PROJECT_ROOT, 'bench', 'out');
const home = join(outDir, 'workers');
await rm(home, { recursive: true, force: true });
await rm(`${join(home, 'data')}.keyring`, { recursive: true, force: true });
const env = { ...process.env, ACCESS_PERM_DATA_DIR: join(home, 'data') };
process.env.ACCESS_PERM_DATA_DIR = env.ACCESS_PERM_DATA_DIR;
const cli = join(PROJECT_ROOT, 'bin', 'access-perm.mjs');

/** Runs one CLI command to its end; its stdout, or an error with its stderr. */
function run(argv: string[], extra: Record<string, string> = {}): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...argv], { env: { ...env, ...extra } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('close', (code) =>
      code === 0 ? done(out) : fail(new Error(`access-perm ${argv.join(' ')} exited ${code}: ${err.slice(-2000)}`)),
    );
  });
}

/** A worker process pinned to `core`; resolves once it polls the task queue. */
function startWorker(core: number, address: string): Promise<ChildProcess> {
  const child = spawn('taskset', ['-c', String(core), process.execPath, cli, 'worker'], {
    env: { ...env, TEMPORAL_ADDRESS: address },
  });
  return new Promise((done, fail) => {
    let log = '';
    const onData = (d: Buffer) => {
      log += d;
      if (log.includes("state: 'RUNNING'")) done(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => fail(new Error(`worker on core ${core} exited ${code}: ${log.slice(-2000)}`)));
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGINT');
  await exited;
}

/** Peak resident memory of a process so far (VmHWM), MB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// The config with an absolute data folder (it is copied out of the project) and, optionally, fewer trees.
const configPath = resolve(PROJECT_ROOT, args.config);
const config = parseYaml(await readFile(configPath, 'utf8'));
config.data.dir = resolve(configPath, '..', config.data.dir);
if (args.iterations) config.model.catboost.iterations = Number(args.iterations);
await mkdir(env.ACCESS_PERM_DATA_DIR, { recursive: true });
const benchConfig = join(env.ACCESS_PERM_DATA_DIR, 'config.yaml');
await writeFile(benchConfig, stringifyYaml(config));

await run(['keys', 'init']);
const token = (await run(['users', 'bootstrap-admin', '--user', 'bench'])).trim();
const server = await startDevServer({ dbFile: join(home, 'temporal.db') });
const client = await connectClient(
  await findServer({ settings: loadTemporalSettings({ env: { TEMPORAL_ADDRESS: server.address } }) }),
);

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
    const pool = await Promise.all([...Array(workers)].map((_, core) => startWorker(core, server.address)));
    const runId = `bench-workers-${workers}-${k}`;
    const started = performance.now();
    await run(['pipeline', 'run', '--config', benchConfig, '--no-worker', '--json', '--run-id', runId], {
      TEMPORAL_ADDRESS: server.address,
      ACCESS_PERM_TOKEN: token,
    });
    const wallSeconds = (performance.now() - started) / 1000;
    const peaks = await Promise.all(pool.map((w) => peakRssMb(w.pid!)));
    await Promise.all(pool.map(stopWorker));
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
  await client.connection.close();
  await server.stop();
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
await writeFile(
  join(outDir, 'workers.json'),
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      command: `npm run bench:workers -- ${process.argv.slice(2).join(' ')}`.trim(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGb: totalmem() / 2 ** 30, loadavg: loadavg() },
      measured,
      rows,
    },
    null,
    2,
  )}\n`,
);
process.exit(0);
