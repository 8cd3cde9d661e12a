/**
 * The engines at growing sizes (`npm run bench:scale`): for each size, a generated seed-schema data set
 * (`access-perm data generate --interactions N --seed 7`, kept under bench/out/scale/ for later runs) and one
 * `bench:gbdt` on it (ours, CatBoost, LightGBM on the same feature table, folds and params), then one table:
 * the wall time and peak RSS of the training work (5 folds + the model on all rows) and OOF quality per size and engine,
 * with the date and the machine.
 *
 *   npm run bench:scale -- [--sizes 116063,1000000,10000000] [--iterations 100] [--runs 1]
 *
 * The config is config/default.yaml's with the data folder and (with --iterations) the tree count replaced. A size
 * whose bench fails (e.g. out of time or memory) is reported as such and the next size still runs. Every size's full
 * bench:gbdt report is kept as bench/out/scale/gbdt-<size>.json; the table goes to stdout and bench/out/scale.json.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { PROJECT_ROOT } from '../lib/paths';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '116063,1000000,10000000' },
    iterations: { type: 'string' },
    runs: { type: 'string', default: '1' },
  },
});
const sizes = args.sizes.split(',').map(Number);
const outDir = join(PROJECT_ROOT, 'bench', 'out');
const home = join(outDir, 'scale');
await mkdir(home, { recursive: true });

/** Runs a command with this process's output streams; resolves with its exit code. */
function run(command: string, argv: string[]): Promise<number> {
  return new Promise((done) => {
    const child = spawn(command, argv, { cwd: PROJECT_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('close', (code) => done(code ?? 1));
  });
}

interface EngineRow {
  engine: string;
  name: string;
  rocAuc: number;
  logloss: number;
  trainingWallSecondsMedian: number;
  peakRssTrainingMbMedian: number | null;
}
const results: Array<{ rows: number; engines: EngineRow[] | null; failure?: string }> = [];
const base = parseYaml(await readFile(join(PROJECT_ROOT, 'config', 'default.yaml'), 'utf8'));
for (const rows of sizes) {
  const data = join(home, `data-${rows}`);
  if (!existsSync(join(data, 'interactions.csv'))) {
    const code = await run(process.execPath, [
      join(PROJECT_ROOT, 'bin', 'access-perm.mjs'),
      ...['data', 'generate', '--out', data, '--interactions', String(rows), '--seed', '7'],
    ]);
    if (code !== 0) {
      results.push({ rows, engines: null, failure: `data generate exited ${code}` });
      continue;
    }
  }
  const config = structuredClone(base);
  config.data.dir = data;
  delete config.data.generate;
  if (args.iterations) config.model.catboost.iterations = Number(args.iterations);
  const configPath = join(home, `config-${rows}.yaml`);
  await writeFile(configPath, stringifyYaml(config));
  const started = Date.now();
  const code = await run('npm', ['run', 'bench:gbdt', '--', '--config', configPath, '--runs', args.runs]);
  if (code !== 0) {
    results.push({
      rows,
      engines: null,
      failure: `bench:gbdt exited ${code} after ${(Date.now() - started) / 1000} s`,
    });
    continue;
  }
  const report = JSON.parse(await readFile(join(outDir, 'gbdt.json'), 'utf8'));
  await copyFile(join(outDir, 'gbdt.json'), join(home, `gbdt-${rows}.json`));
  results.push({ rows, engines: report.summary.engines });
}

const date = new Date().toISOString().slice(0, 10);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
console.log(
  `\nscale, ${date}, ${machine}; config/default.yaml${args.iterations ? ` with ${args.iterations} trees` : ''}, medians of ${args.runs} run(s)\n`,
);
console.log(
  '| rows | engine | 5 folds + all rows wall s (× CatBoost) | peak RSS MB, training (× CatBoost) | OOF ROC-AUC | logloss |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
const ratio = (x: number | null, y: number | null | undefined): string =>
  x !== null && y ? ` (×${(x / y).toFixed(2)})` : '';
for (const r of results) {
  if (!r.engines) {
    console.log(`| ${r.rows.toLocaleString('en-US')} | – | ${r.failure} | | | |`);
    continue;
  }
  const cat = r.engines.find((e) => e.engine === 'catboost');
  for (const e of r.engines)
    console.log(
      `| ${r.rows.toLocaleString('en-US')} | ${e.name} | ${e.trainingWallSecondsMedian.toFixed(1)}${e === cat ? '' : ratio(e.trainingWallSecondsMedian, cat?.trainingWallSecondsMedian)} | ${e.peakRssTrainingMbMedian?.toFixed(0) ?? '–'}${e === cat ? '' : ratio(e.peakRssTrainingMbMedian, cat?.peakRssTrainingMbMedian)} | ${e.rocAuc.toFixed(4)} | ${e.logloss.toFixed(4)} |`,
    );
}
await writeFile(
  join(outDir, 'scale.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine, loadavg: loadavg(), args, results }, null, 2)}\n`,
);
