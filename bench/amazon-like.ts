/**
 * Our engine on an Amazon-shaped CSV (bench/amazon_like.py): stratified K-fold CV on train, test scored by the
 * mean of the fold models. Writes folds + OOF/test predictions for bench/amazon_like_peer.py (same folds).
 *
 *   node --import tsx bench/amazon-like.ts --dir /tmp/amzl [--params defaults|seed] [--folds 5] [--max-folds K]
 *        [--iterations N] [--seed 42] [--fold-seed 7] [--out /tmp/amzl/ours-defaults.json] [--set key=value ...]
 *
 * --params defaults: only random_seed (CatBoost's defaults: 1000 it, depth 6, auto lr);
 * --params seed: iterations 500, learning_rate 0.05, depth 8, l2_leaf_reg 8. --iterations overrides iterations
 * (the learning rate stays auto for 'defaults', so it changes with it, as in CatBoost). --max-folds fits only the
 * first K folds (OOF metrics then cover those folds' rows). Folds are written to DIR/folds.csv.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeCategorical } from '../lib/features/matrix';
import { stratifiedKFold } from '../lib/folds';
import { predictProba, trainGbdt, resolveParams } from '../lib/gbdt';
import type { CatBoostParams } from '../lib/gbdt';
import { logloss, rocAuc } from '../lib/metrics';
import type { FeatureMatrix } from '../schemas/matrix';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: '/tmp/amzl' },
    params: { type: 'string', default: 'defaults' },
    folds: { type: 'string', default: '5' },
    'max-folds': { type: 'string' },
    iterations: { type: 'string' },
    seed: { type: 'string', default: '42' },
    'fold-seed': { type: 'string', default: '7' },
    out: { type: 'string' },
    set: { type: 'string', multiple: true, default: [] },
  },
});

const CATS = [
  'RESOURCE',
  'MGR_ID',
  'ROLE_ROLLUP_1',
  'ROLE_ROLLUP_2',
  'ROLE_DEPTNAME',
  'ROLE_TITLE',
  'ROLE_FAMILY_DESC',
  'ROLE_FAMILY',
  'ROLE_CODE',
];

function readCsv(path: string): { cols: Record<string, string[]>; n: number } {
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const cols: Record<string, string[]> = Object.fromEntries(header.map((h) => [h, [] as string[]]));
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i]!.split(',');
    header.forEach((h, j) => cols[h]!.push(f[j]!));
  }
  return { cols, n: lines.length - 1 };
}

/** Matrix for `rows` of a CSV; dictionaries are per matrix (the trainer indexes categories by string). */
function matrixOf(cols: Record<string, string[]>, rows: number[]): FeatureMatrix {
  return {
    rowCount: rows.length,
    categorical: CATS.map((c) =>
      encodeCategorical(
        c,
        rows.map((i) => cols[c]![i]),
      ),
    ),
    numeric: [],
  };
}

const train = readCsv(join(args.dir!, 'train.csv'));
const test = readCsv(join(args.dir!, 'test.csv'));
const y = Uint8Array.from(train.cols.ACTION!, Number);
const yTest = Uint8Array.from(test.cols.ACTION!, Number);
const nFolds = Number(args.folds);
const folds = stratifiedKFold(y, nFolds, Number(args['fold-seed']));
writeFileSync(join(args.dir!, 'folds.csv'), 'fold\n' + Array.from(folds).join('\n') + '\n');

const params: CatBoostParams =
  args.params === 'seed'
    ? { iterations: 500, learning_rate: 0.05, depth: 8, l2_leaf_reg: 8, random_seed: Number(args.seed) }
    : { random_seed: Number(args.seed) };
if (args.iterations) params.iterations = Number(args.iterations);
for (const kv of args.set!) {
  const [k, v] = kv.split('=') as [string, string];
  (params as Record<string, unknown>)[k] = /^-?[\d.]+$/.test(v) ? Number(v) : v;
}
const maxFolds = Math.min(nFolds, Number(args['max-folds'] ?? nFolds));
const testMatrix = matrixOf(test.cols, [...Array(test.n).keys()]);
const oof = new Float64Array(train.n).fill(Number.NaN);
const testSum = new Float64Array(test.n);
const fitSeconds: number[] = [];
/** Process CPU time of the fit (the fit is single-threaded, so this is the per-core figure on a loaded machine). */
const fitCpuSeconds: number[] = [];
let resolved: unknown;
for (let k = 0; k < maxFolds; k++) {
  const tr: number[] = [];
  const va: number[] = [];
  for (let i = 0; i < train.n; i++) (folds[i] === k ? va : tr).push(i);
  const mTr = matrixOf(train.cols, tr);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const model = trainGbdt(
    mTr,
    Uint8Array.from(tr, (i) => y[i]!),
    params,
  );
  const sec = (performance.now() - t0) / 1000;
  fitSeconds.push(sec);
  const cpu = process.cpuUsage(c0);
  fitCpuSeconds.push((cpu.user + cpu.system) / 1e6);
  resolved ??= resolveParams(params, tr.length, { hasEvalSet: false });
  const pv = predictProba(model, matrixOf(train.cols, va));
  va.forEach((i, j) => (oof[i] = pv[j]!));
  const pt = predictProba(model, testMatrix);
  for (let j = 0; j < test.n; j++) testSum[j]! += pt[j]!;
  console.error(
    `fold ${k}: fit ${sec.toFixed(1)} s (CPU ${fitCpuSeconds[k]!.toFixed(1)} s), trees ${model.trees.length}, fold AUC ${rocAuc(
      Uint8Array.from(va, (i) => y[i]!),
      pv,
    ).toFixed(4)}`,
  );
}
const have = [...Array(train.n).keys()].filter((i) => !Number.isNaN(oof[i]!));
const yo = Uint8Array.from(have, (i) => y[i]!);
const po = Float64Array.from(have, (i) => oof[i]!);
const pTest = testSum.map((s) => s / maxFolds);
const result = {
  engine: 'ours',
  params,
  resolved,
  folds: nFolds,
  foldsFitted: maxFolds,
  oofAuc: rocAuc(yo, po),
  oofLogloss: logloss(yo, po),
  testAuc: rocAuc(yTest, pTest),
  testLogloss: logloss(yTest, pTest),
  fitSeconds,
  fitCpuSeconds,
  oof: Array.from(oof),
  test: Array.from(pTest),
};
const out = args.out ?? join(args.dir!, `ours-${args.params}.json`);
writeFileSync(out, JSON.stringify(result));
const { oof: _o, test: _t, resolved: _r, ...summary } = result;
console.log(JSON.stringify(summary));
