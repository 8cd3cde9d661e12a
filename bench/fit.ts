/**
 * One fit of our engine in this process's main thread, on one fold's training rows of a run's feature table (by
 * default the one bench:gbdt built last, bench/out/runs/bench-gbdt): the harness for profiling the engine and for
 * before/after comparisons of a change to it.
 *
 *   node --import tsx bench/fit.ts [--run <run folder>] [--fold 0] [--rows N] [--iterations N] [--threads 1]
 *                                  [--kernel wasm|ts] [--runs 1] [--peer catboost]
 *   node --cpu-prof --cpu-prof-dir <dir> --import tsx bench/fit.ts …   # and a V8 profile of it
 *
 * The params are the run's (model.catboost of its config), `--iterations` replacing its tree count; `--rows` keeps
 * the fold's first N training rows. Prints per run the fit's wall and CPU seconds, the process's peak RSS and the
 * sha256 of the model file: the same data and params give the same model, so a change meant to keep models must
 * keep that hash. `--peer catboost` then fits CatBoost once on the same rows with the same params and thread count
 * (bench/peer_gbdt.py --fit-fold, a fresh Python process; its peak RSS includes its DataFrame of the whole table).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { sqlString, withDuckDb } from '../lib/data/duck';
import { featureSpec } from '../lib/features';
import { readLabelledMatrix, selectRows } from '../lib/features/matrix';
import { serializeModel, trainGbdt } from '../lib/gbdt';
import type { GbdtKernel } from '../lib/gbdt/wasm';
import { sha256Hex } from '../lib/hash';
import { PROJECT_ROOT } from '../lib/paths';
import { FEATURES_FILE, readRunConfig } from '../lib/run';
import { ensureVenv, python } from './venv';

const { values: args } = parseArgs({
  options: {
    run: { type: 'string', default: join(PROJECT_ROOT, 'bench', 'out', 'runs', 'bench-gbdt') },
    fold: { type: 'string', default: '0' },
    rows: { type: 'string' },
    iterations: { type: 'string' },
    threads: { type: 'string', default: '1' },
    kernel: { type: 'string', default: 'wasm' },
    runs: { type: 'string', default: '1' },
    peer: { type: 'string' },
  },
});
const wholeNumber = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
};
const fold = wholeNumber('fold', args.fold)!;
const rows = wholeNumber('rows', args.rows);
const iterations = wholeNumber('iterations', args.iterations);
const threads = wholeNumber('threads', args.threads)!;
if (threads < 1 || threads > 2) throw new Error(`--threads must be 1 or 2, got '${args.threads}'`);
const runs = wholeNumber('runs', args.runs)!;
if (args.kernel !== 'wasm' && args.kernel !== 'ts')
  throw new Error(`--kernel must be wasm or ts, got '${args.kernel}'`);
const kernel: GbdtKernel = args.kernel;
if (args.peer !== undefined && args.peer !== 'catboost') throw new Error(`--peer must be catboost, got '${args.peer}'`);

const runDir = resolve(args.run);
process.env.ACCESS_PERM_DATA_DIR ??= resolve(runDir, '..', '..');
const config = await readRunConfig(runDir);
const spec = featureSpec(config);
const features = join(runDir, FEATURES_FILE);
const all = await withDuckDb((conn) => readLabelledMatrix(conn, `read_parquet(${sqlString(features)})`, spec));
let seen = 0;
const train = selectRows(all, (i) => all.folds[i] !== fold && (rows === undefined || seen++ < rows));
const params = { ...config.model.catboost, ...(iterations === undefined ? {} : { iterations }) };
process.stderr.write(
  `fold ${fold}: ${train.matrix.rowCount} training rows of ${all.matrix.rowCount}; ${JSON.stringify(params)}; ` +
    `${kernel} kernels, ${threads} thread(s)\n`,
);

for (let r = 0; r < runs; r++) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const model = trainGbdt(train.matrix, train.labels, params, { kernel, threads });
  const wall = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  console.log(
    JSON.stringify({
      run: r + 1,
      trees: model.trees.length,
      fitSeconds: Number(wall.toFixed(2)),
      cpuSeconds: Number(((used.user + used.system) / 1e6).toFixed(2)),
      peakRssMb: hwm ? Math.round(Number(hwm) / 1024) : null,
      modelSha256: sha256Hex(serializeModel(model)),
    }),
  );
}

if (args.peer) {
  ensureVenv();
  const peer = execFileSync(
    python,
    [
      join(PROJECT_ROOT, 'bench', 'peer_gbdt.py'),
      features,
      ...['--engine', 'catboost', '--params', JSON.stringify(params), '--threads', String(threads)],
      ...['--categorical', JSON.stringify(spec.categorical), '--numeric', JSON.stringify(spec.numeric)],
      ...['--fit-fold', String(fold), ...(rows === undefined ? [] : ['--rows', String(rows)])],
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  ).toString();
  const p = JSON.parse(peer) as { name: string; trainRows: number; fitSeconds: number; peakMb: number | null };
  console.log(
    JSON.stringify({
      peer: p.name,
      trainRows: p.trainRows,
      fitSeconds: Number(p.fitSeconds.toFixed(2)),
      peakRssMb: p.peakMb === null ? null : Math.round(p.peakMb),
    }),
  );
}
