import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { serializeModel, trainGbdt } from '../lib/gbdt';
import type { CatBoostParams } from '../lib/gbdt';
import { Rng } from '../lib/rng';
import { helperThreads, KernelThreads } from '../lib/gbdt/wasm';
import type { FeatureMatrix } from '../schemas/matrix';
import { buildKernels, kernelsModule, KERNELS_MODULE } from '../scripts/build-wasm.mjs';

/**
 * Three categoricals with an interaction (combinations), a one-hot column, numerics with NaNs and one with more than
 * 255 borders (16-bit bins: the TypeScript loop's fallback inside a WebAssembly fit).
 */
function data(n: number, seed: number) {
  const rng = new Rng(seed);
  const cols = [40, 25, 9].map(() => new Int32Array(n));
  const two = new Int32Array(n);
  const x = new Float64Array(n);
  const fine = new Float64Array(n);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    cols[0]![i] = rng.int(40);
    cols[1]![i] = rng.int(25);
    cols[2]![i] = rng.int(9);
    two[i] = rng.int(2);
    x[i] = rng.next() < 0.1 ? NaN : rng.normal();
    fine[i] = rng.next() * 1000;
    const inter = (cols[0]![i]! + cols[1]![i]!) % 3 === 0 ? 1.5 : -0.5;
    const z = inter + (x[i]! > 0.2 ? 0.8 : -0.3) + (two[i] ? 0.4 : 0) + (fine[i]! > 700 ? 0.5 : 0);
    labels[i] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  const dict = (k: number, p: string) => Array.from({ length: k }, (_, v) => `${p}${v}`);
  const matrix: FeatureMatrix = {
    rowCount: n,
    categorical: [
      { name: 'a', codes: cols[0]!, dictionary: dict(40, 'a') },
      { name: 'b', codes: cols[1]!, dictionary: dict(25, 'b') },
      { name: 'c', codes: cols[2]!, dictionary: dict(9, 'c') },
      { name: 'two', codes: two, dictionary: ['no', 'yes'] },
    ],
    numeric: [
      { name: 'x', values: x },
      { name: 'fine', values: fine },
    ],
  };
  return { matrix, labels };
}

describe('gbdt: WebAssembly kernels', () => {
  it('the checked-in kernels are the build of their AssemblyScript source', async () => {
    const checkedIn = readFileSync(join(import.meta.dirname, '..', KERNELS_MODULE as string), 'utf8');
    expect(checkedIn).toBe(kernelsModule(await buildKernels()));
  }, 60_000);

  it('trains byte-identical models with the WebAssembly kernels and the TypeScript loops', () => {
    const train = data(3001, 1); // an odd row count: the last packed byte holds one row
    const evalSet = data(800, 2);
    // model_size_reg 0: on this small set the default keeps the combinations out of the model, and they are what the
    // cases compare.
    const free = { model_size_reg: 0 };
    const cases: CatBoostParams[] = [
      { ...free, iterations: 30, depth: 6, learning_rate: 0.1, random_seed: 7 },
      // 16-bit bins for `fine`, unpacked CTR bins (ctr_border_count > 15), Bayesian weights, an eval set below.
      {
        ...free,
        iterations: 20,
        depth: 5,
        border_count: 300,
        ctr_border_count: 40,
        bootstrap_type: 'Bayesian',
        random_seed: 3,
      },
      // Several leaf steps (rows grouped by leaf, backtracking), and gradient steps.
      { ...free, iterations: 15, depth: 4, leaf_estimation_iterations: 4, random_seed: 5 },
      { ...free, iterations: 15, depth: 4, leaf_estimation_method: 'Gradient', random_seed: 6 },
    ];
    for (const [i, params] of cases.entries()) {
      const options = i === 1 ? { evalSet } : {};
      const ts = serializeModel(trainGbdt(train.matrix, train.labels, params, { ...options, kernel: 'ts' }));
      const wasm = serializeModel(trainGbdt(train.matrix, train.labels, params, { ...options, kernel: 'wasm' }));
      expect(ts.length).toBeGreaterThan(1000);
      expect(wasm).toBe(ts);
      // The combinations were searched (their CTRs are in the model).
      const tables = (JSON.parse(ts) as { ctrTables: { features: string[] }[] }).ctrTables;
      expect(tables.some((t) => t.features.length > 1)).toBe(true);
    }
  });

  it('trains byte-identical models with two threads, and ends the helper thread', async () => {
    // Enough rows that leaf assignment and approximation updates are split between the threads too (≥ 65,536).
    const train = data(70001, 4);
    const evalSet = data(800, 5);
    const cases: CatBoostParams[] = [
      { iterations: 6, depth: 6, learning_rate: 0.1, random_seed: 7 },
      // 16-bit bins for `fine` (passes on the TypeScript loop, one at a time) and unpacked CTR bins, an eval set.
      { iterations: 4, depth: 5, border_count: 300, ctr_border_count: 40, random_seed: 3 },
    ];
    for (const [i, params] of cases.entries()) {
      const options = i === 1 ? { evalSet } : {};
      const one = serializeModel(trainGbdt(train.matrix, train.labels, params, options));
      const calls = helperThreads.calls;
      const two = serializeModel(trainGbdt(train.matrix, train.labels, params, { ...options, threads: 2 }));
      expect(helperThreads.calls).toBeGreaterThan(calls);
      expect(two).toBe(one);
      // A count that changes from tree to tree (as the training pool lends an idle core).
      let tree = 0;
      const switching = trainGbdt(train.matrix, train.labels, params, { ...options, threads: () => 1 + (tree++ % 2) });
      expect(serializeModel(switching)).toBe(one);
    }
    // A failing fit ends its helper thread too.
    expect(() => trainGbdt(train.matrix, train.labels, { iterations: 0 } as CatBoostParams, { threads: 2 })).toThrow();
    for (let waited = 0; helperThreads.alive > 0 && waited < 5000; waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(helperThreads.alive).toBe(0);
  }, 60_000);

  it('a helper thread that ended without answering fails the wait instead of blocking the fit for good', async () => {
    const threads = new KernelThreads(2, 300);
    threads.startTree();
    const at = threads.attach(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }));
    const noRows = [0, 1024, 1024, 1024];
    threads.post(at, 'scaleByLeaf', noRows);
    threads.wait();
    // Killed from outside (as the runtime ends a thread that ran out of its resources): it never reports back.
    await (threads as unknown as { worker: Worker }).worker.terminate();
    threads.post(at, 'scaleByLeaf', noRows);
    const started = Date.now();
    expect(() => threads.wait()).toThrow('the kernels helper thread did not answer within 0.3 s: it has ended');
    expect(Date.now() - started).toBeLessThan(5000);
    threads.close();
  });
});
