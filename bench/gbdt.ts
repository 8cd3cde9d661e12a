/**
 * GBDT benchmark: our engine vs CatBoost and LightGBM on the same features and GroupKFold folds.
 *
 *   npm run bench:gbdt -- [--repeats 3] [--config config/default.yaml]
 *
 * 1. Builds the pipeline's feature table (DuckDB, seed-2 features, folds by userId) for the config.
 * 2. Ours: each repeat trains the n_splits folds through the pipeline's thread pool (2 threads on
 *    2 cores, as the pipeline does) and records per-fold fit time, CV wall time and OOF metrics,
 *    then scoring throughput of the TS evaluator (and onnxruntime-node when the ONNX export exists).
 * 3. Peers: bench/peer_gbdt.py trains CatBoost (thread_count 2) and LightGBM (num_threads 2) on the
 *    same Parquet table, same folds, same parameters where they map.
 * Prints one table (medians over repeats, ratios to CatBoost) and writes bench/out/gbdt.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readLabelledMatrix, selectRows } from '../lib/data/matrix';
import { SEED_FEATURE_SPEC } from '../lib/features';
import { sqlString, withDuckDb } from '../lib/data/duck';
import { parseModel, predictProba } from '../lib/gbdt';
import { authorize, bootstrapAdmin } from '../lib/governance';
import type { ResolvedIdentity } from '../schemas/governance';
import { averagePrecision, logloss, rocAuc } from '../lib/metrics';
import { buildFeatures, FEATURES_FILE } from '../lib/pipeline/features';
import { prepareRun, readRunConfig } from '../lib/pipeline/run';
import { trainInThread } from '../lib/training/pool';
import { PROJECT_ROOT } from '../lib/paths';

const { values: args } = parseArgs({
  options: { repeats: { type: 'string', default: '3' }, config: { type: 'string', default: 'config/default.yaml' } },
});
const repeats = Number(args.repeats);
const outDir = join(PROJECT_ROOT, 'bench', 'out');
process.env.ACCESS_PERM_DATA_DIR = outDir;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface EngineResult {
  engine: string;
  rocAuc: number;
  prAuc: number;
  logloss: number;
  foldFitSeconds: number;
  cvWallSeconds: number;
  peakRssMb: number;
  scoreRowsPerSecond: Record<string, number>;
}

async function ours(featuresPath: string, params: Record<string, unknown>, nSplits: number): Promise<EngineResult> {
  const all = await withDuckDb((conn) =>
    readLabelledMatrix(conn, `read_parquet(${sqlString(featuresPath)})`, SEED_FEATURE_SPEC),
  );
  const runs: Array<{ auc: number; ap: number; ll: number; fits: number[]; wall: number; modelJson: string }> = [];
  for (let r = 0; r < repeats; r++) {
    const oof = new Float64Array(all.matrix.rowCount);
    const fits: number[] = [];
    let lastModel = '';
    const wallStart = performance.now();
    await Promise.all(
      Array.from({ length: nSplits }, async (_, fold) => {
        const train = selectRows(all, (i) => all.folds[i] !== fold);
        const valid = selectRows(all, (i) => all.folds[i] === fold);
        const outcome = await trainInThread({
          train: train.matrix,
          labels: train.labels,
          params,
          predict: valid.matrix,
        });
        fits.push(outcome.fitSeconds);
        let k = 0;
        for (let i = 0; i < all.matrix.rowCount; i++) if (all.folds[i] === fold) oof[i] = outcome.predictions![k++]!;
        if (fold === 0) lastModel = outcome.modelJson;
      }),
    );
    const wall = (performance.now() - wallStart) / 1000;
    runs.push({
      auc: rocAuc(all.labels, oof),
      ap: averagePrecision(all.labels, oof),
      ll: logloss(all.labels, oof),
      fits,
      wall,
      modelJson: lastModel,
    });
    process.stderr.write(
      `ours repeat ${r + 1}/${repeats}: AUC ${runs.at(-1)!.auc.toFixed(4)}, CV wall ${wall.toFixed(1)} s\n`,
    );
  }
  // Scoring throughput of a fold-0 model on all rows.
  const model = parseModel(runs[0]!.modelJson);
  const scoreTimes: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    predictProba(model, all.matrix);
    scoreTimes.push((performance.now() - t) / 1000);
  }
  return {
    engine: 'access-perm (TS)',
    rocAuc: median(runs.map((x) => x.auc)),
    prAuc: median(runs.map((x) => x.ap)),
    logloss: median(runs.map((x) => x.ll)),
    foldFitSeconds: median(runs.flatMap((x) => x.fits)),
    cvWallSeconds: median(runs.map((x) => x.wall)),
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    scoreRowsPerSecond: { 'TS evaluator': all.matrix.rowCount / median(scoreTimes) },
  };
}

/** The bench's own ADMIN in bench/out (runs are audited like any other); its token is kept for later runs. */
async function benchIdentity(): Promise<ResolvedIdentity> {
  const tokenFile = join(outDir, 'bench-admin.token');
  const token = await readFile(tokenFile, 'utf8').catch(async () => {
    const issued = (await bootstrapAdmin('bench')).token;
    await writeFile(tokenFile, issued, { mode: 0o600 });
    return issued;
  });
  return authorize({ token }, 'create_run', { type: 'run', id: 'bench-gbdt' });
}

async function main(): Promise<void> {
  await mkdir(outDir, { recursive: true });
  process.stderr.write('building the feature table…\n');
  const prepared = await prepareRun('bench-gbdt', join(PROJECT_ROOT, args.config), await benchIdentity());
  await buildFeatures(prepared);
  const featuresPath = join(prepared.runDir, FEATURES_FILE);
  const params = (await readRunConfig(prepared)).model.catboost;
  const mine = await ours(featuresPath, params, prepared.nSplits);
  process.stderr.write('running CatBoost and LightGBM (bench/peer_gbdt.py)…\n');
  const peerOut = execFileSync(
    join(PROJECT_ROOT, 'bench', '.venv', 'bin', 'python'),
    [
      join(PROJECT_ROOT, 'bench', 'peer_gbdt.py'),
      featuresPath,
      '--repeats',
      String(repeats),
      '--params',
      JSON.stringify(params),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 },
  ).toString();
  const peers = JSON.parse(peerOut) as EngineResult[];
  const results = [mine, ...peers];
  const cat = peers.find((p) => p.engine.startsWith('CatBoost'))!;
  const rows = results.map((r) => ({
    engine: r.engine,
    'OOF ROC-AUC': r.rocAuc.toFixed(4),
    'PR-AUC': r.prAuc.toFixed(4),
    logloss: r.logloss.toFixed(4),
    'fit s/fold': r.foldFitSeconds.toFixed(1),
    'CV wall s': r.cvWallSeconds.toFixed(1),
    '× CatBoost wall': (r.cvWallSeconds / cat.cvWallSeconds).toFixed(2),
    'peak RSS MB': r.peakRssMb.toFixed(0),
    'scoring rows/s': Object.entries(r.scoreRowsPerSecond)
      .map(([k, v]) => `${k}: ${Math.round(v).toLocaleString('en-US')}`)
      .join('; '),
  }));
  console.table(rows);
  console.log(
    `ΔAUC vs CatBoost ${(mine.rocAuc - cat.rocAuc).toFixed(4)}, logloss ratio ${(mine.logloss / cat.logloss).toFixed(4)}`,
  );
  await writeFile(join(outDir, 'gbdt.json'), `${JSON.stringify({ repeats, params, results }, null, 2)}\n`);
}

await main();
