/**
 * Monitoring a 1M-row window: wall time per step and peak memory, median of --repeats runs, each in a fresh process.
 *
 *   ACCESS_PERM_DATA_DIR=bench/out/monitoring node --import tsx bench/monitoring.ts --run <run id> [--rows 1000000]
 *     [--repeats 3] [--keep-others 0.6] [--window-only]
 *
 * 1. Window: `<data dir>/bench-window-<rows>-<keep-others>.csv` (made when absent) — requests drawn with replacement
 *    from the run's own interactions, with a department-mix shift (requests of users in the two largest departments
 *    kept, the others kept with probability --keep-others), labelled, so every step runs: contract, scoring, drift,
 *    performance, report. `--window-only` stops here and prints the path (the README's simulated-drift window).
 * 2. Each repeat runs the monitoring steps of lib/monitor in a child process (no Temporal: the workflow adds only
 *    its activity hand-offs) and reports each step's wall time and the process's peak RSS; the parent prints the
 *    medians as JSON. The scored window and the reference are left for bench/evidently_drift.py.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sqlString, withDuckDb } from '../lib/data/duck';
import { rawPaths } from '../lib/data/raw';
import {
  driftWindow,
  loadWindow,
  performanceWindow,
  reportWindow,
  scoreWindow,
  validateWindow,
  windowFolder,
} from '../lib/monitor';
import { dataDir, PROJECT_ROOT } from '../lib/paths';
import { readRunConfig, resolveRunDir } from '../lib/run';

const { values: args } = parseArgs({
  options: {
    run: { type: 'string' },
    rows: { type: 'string', default: '1000000' },
    repeats: { type: 'string', default: '3' },
    'keep-others': { type: 'string', default: '0.6' },
    'window-only': { type: 'boolean', default: false },
    once: { type: 'string' },
  },
});
if (!args.run) throw new Error('--run <run id> is required (a completed run, e.g. `access-perm demo --json`)');
const runId = args.run;
const rows = Number(args.rows);
const keepOthers = Number(args['keep-others']);

async function makeWindow(path: string): Promise<void> {
  const config = await readRunConfig(await resolveRunDir(runId));
  const p = rawPaths(config);
  await withDuckDb(async (conn) => {
    await conn.run(`CREATE TABLE i AS SELECT * FROM read_csv(${sqlString(p.interactions)}, all_varchar = true)`);
    await conn.run(`CREATE TABLE u AS SELECT * FROM read_csv(${sqlString(p.users)}, all_varchar = true)`);
    await conn.run(
      `CREATE TABLE top AS SELECT department FROM u WHERE department IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 2`,
    );
    // Copies of every request, each kept with its department's probability, shuffled by hash, then cut at `rows`.
    await conn.run(`COPY (
      SELECT i.userId, i.appId, i.permission
      FROM i JOIN u USING (userId), range(${Math.ceil((rows / 20_000) * 3)}) r(k)
      WHERE hash(i.userId, i.appId, k) % 1000 < CASE WHEN u.department IN (SELECT department FROM top) THEN 1000 ELSE ${Math.round(keepOthers * 1000)} END
      ORDER BY hash(k, i.userId, i.appId) LIMIT ${rows}
    ) TO ${sqlString(path)} (HEADER, DELIMITER ',')`);
  });
}

async function once(current: string, tag: string): Promise<void> {
  const ref = await windowFolder({ runId, windowId: `bench-${tag}` });
  const seconds: Record<string, number> = {};
  const time = async (step: string, fn: () => Promise<unknown>): Promise<void> => {
    const t = performance.now();
    await fn();
    seconds[step] = (performance.now() - t) / 1000;
  };
  await time('load', () => loadWindow(ref, { current, label: `bench ${tag}` }, 'bench'));
  await time('validate', () => validateWindow(ref));
  await time('score', () => scoreWindow(ref));
  await time('drift', () => driftWindow(ref));
  await time('performance', () => performanceWindow(ref));
  await time('report', () => reportWindow(ref));
  seconds.total = Object.values(seconds).reduce((a, b) => a + b, 0);
  process.stdout.write(`${JSON.stringify({ seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
}

interface RepeatResult {
  seconds: Record<string, number>;
  peakRssMb: number;
}

function child(current: string, tag: string): Promise<RepeatResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/monitoring.ts',
        '--run',
        runId,
        '--rows',
        String(rows),
        '--keep-others',
        String(keepOthers),
        '--once',
        tag,
      ],
      { cwd: PROJECT_ROOT, env: process.env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').at(-1)!))
        : reject(new Error(`repeat ${tag}: exit ${code}`)),
    );
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const windowPath = join(dataDir(), `bench-window-${rows}-${keepOthers}.csv`);
if (args.once) await once(windowPath, args.once);
else {
  if (!existsSync(windowPath)) await makeWindow(windowPath);
  if (args['window-only']) {
    console.log(windowPath);
    process.exit(0);
  }
  const runs: RepeatResult[] = [];
  for (let r = 0; r < Number(args.repeats); r++) {
    runs.push(await child(windowPath, String(r)));
    process.stderr.write(`repeat ${r}: ${JSON.stringify(runs.at(-1))}\n`);
  }
  const steps = Object.keys(runs[0]!.seconds);
  console.log(
    JSON.stringify(
      {
        runId,
        rows,
        window: windowPath,
        repeats: runs.length,
        medianSeconds: Object.fromEntries(
          steps.map((s) => [s, Number(median(runs.map((x) => x.seconds[s]!)).toFixed(2))]),
        ),
        medianPeakRssMb: Math.round(median(runs.map((x) => x.peakRssMb))),
        scoredWindow: join((await windowFolder({ runId, windowId: 'bench-0' })).windowDir, 'scored.parquet'),
      },
      null,
      2,
    ),
  );
}
