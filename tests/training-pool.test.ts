import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { FIT_BYTES_PER_ROW, threadLimit, trainInThread } from '../lib/training/pool';
import type { FeatureMatrix } from '../schemas/matrix';
import { NON_RETRYABLE_ERROR_TYPES } from '../schemas/errors';

/** `n` rows (400 unless asked), one categorical and one numeric column; the label follows both. */
function tinyJob(n = 400): { train: FeatureMatrix; labels: Uint8Array } {
  const codes = Int32Array.from({ length: n }, (_, i) => i % 7);
  const values = Float64Array.from({ length: n }, (_, i) => (i * 37) % 101);
  const labels = Uint8Array.from({ length: n }, (_, i) => (codes[i]! < 3 !== values[i]! > 60 ? 1 : 0));
  return {
    train: {
      rowCount: n,
      categorical: [{ name: 'app', codes, dictionary: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] }],
      numeric: [{ name: 'x', values }],
    },
    labels,
  };
}

describe('training thread pool: thread_count', () => {
  it('resolves the limit like CatBoost: -1 or absent means every core, a positive count caps it', () => {
    const all = threadLimit({});
    expect(all).toBeGreaterThanOrEqual(1);
    expect(threadLimit({ thread_count: -1 })).toBe(all);
    expect(threadLimit({ thread_count: 1 })).toBe(1);
    expect(threadLimit({ thread_count: 1000 })).toBe(all);
  });

  it('thread_count 1 trains concurrent jobs one after another', async () => {
    const events: string[] = [];
    const params = { iterations: 40, depth: 3, learning_rate: 0.3, random_seed: 1, thread_count: 1 };
    const job = async (name: string): Promise<void> => {
      let started = false;
      await trainInThread({ ...tinyJob(), params }, () => {
        if (!started) events.push(`${name} first progress`);
        started = true;
      });
      events.push(`${name} done`);
    };
    await Promise.all([job('a'), job('b')]);
    expect(events).toEqual(['a first progress', 'a done', 'b first progress', 'b done']);
  });

  it('fitThreads 2 holds two threads: such jobs train one after another, each on two threads', async () => {
    if (threadLimit({}) < 2) return; // a one-core machine has no second thread to give
    const events: string[] = [];
    const params = { iterations: 40, depth: 3, learning_rate: 0.3, random_seed: 1, thread_count: 2 };
    const job = async (name: string): Promise<number> => {
      let started = false;
      const outcome = await trainInThread({ ...tinyJob(), params, fitThreads: 2 }, () => {
        if (!started) events.push(`${name} first progress`);
        started = true;
      });
      events.push(`${name} done`);
      return outcome.fitThreads;
    };
    expect(await Promise.all([job('a'), job('b')])).toEqual([2, 2]);
    expect(events).toEqual(['a first progress', 'a done', 'b first progress', 'b done']);
    // Within thread_count 1 a fit has one thread whatever it asks for.
    const one = await trainInThread({ ...tinyJob(), params: { ...params, thread_count: 1 }, fitThreads: 2 });
    expect(one.fitThreads).toBe(1);
  });

  it('a large fit alone is lent an idle core, to the same model; a small one is not', async () => {
    if (threadLimit({}) < 2) return;
    const params = { iterations: 20, depth: 3, learning_rate: 0.3, random_seed: 1 };
    const alone = await trainInThread({ ...tinyJob(60_000), params });
    expect(alone.fitThreads).toBe(2);
    const single = await trainInThread({ ...tinyJob(60_000), params: { ...params, thread_count: 1 } });
    expect(single.fitThreads).toBe(1);
    expect((await trainInThread({ ...tinyJob(), params })).fitThreads).toBe(1);
    // thread_count is recorded in the model's params; the rest of the file is the same.
    const strip = (file: Uint8Array): unknown => ({ ...JSON.parse(Buffer.from(file).toString('utf8')), params: null });
    expect(strip(alone.modelFile)).toEqual(strip(single.modelFile));
  });

  it('a cancelled job stops: running ones end their thread, queued ones leave the line without training', async () => {
    const params = { iterations: 100_000, depth: 3, learning_rate: 0.01, random_seed: 1, thread_count: 1 };
    const running = new AbortController();
    const queued = new AbortController();
    let queuedProgress = 0;
    let started!: () => void;
    const firstProgress = new Promise<void>((resolve) => (started = resolve));
    const a = trainInThread({ ...tinyJob(), params }, () => started(), running.signal);
    const b = trainInThread({ ...tinyJob(), params }, () => queuedProgress++, queued.signal);
    await firstProgress;
    queued.abort(new Error('queued job cancelled'));
    await expect(b).rejects.toThrow('queued job cancelled');
    const t0 = Date.now();
    running.abort(new Error('running job cancelled'));
    await expect(a).rejects.toThrow('running job cancelled');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(queuedProgress).toBe(0);
    // A finished job's thread trains the next job, to the same model: nothing carries over.
    const quick = { ...params, iterations: 5 };
    const first = await trainInThread({ ...tinyJob(), params: quick });
    const second = await trainInThread({ ...tinyJob(), params: quick });
    expect(second.thread).toBe(first.thread);
    expect(second.modelFile).toEqual(first.modelFile);
    // A job that does not ask for its model back (a CV fold) gets the same predictions without it.
    const predict = tinyJob().train;
    const withModel = await trainInThread({ ...tinyJob(), params: quick, predict });
    const without = await trainInThread({ ...tinyJob(), params: quick, predict, returnModel: false });
    expect(without).not.toHaveProperty('modelFile');
    expect(without.predictions).toEqual(withModel.predictions);
    expect(without.bestIteration).toBe(withModel.bestIteration);
    // transfer: the arrays move to the thread (left empty here), to the same fit.
    const moved = { ...tinyJob(), predict: tinyJob().train };
    const transferred = await trainInThread({ ...moved, params: quick, transfer: true });
    expect(transferred.modelFile).toEqual(withModel.modelFile);
    expect(transferred.predictions).toEqual(withModel.predictions);
    expect(
      [moved.labels, moved.train.categorical[0]!.codes, moved.predict.numeric[0]!.values].map((a) => a.length),
    ).toEqual([0, 0, 0]);
    // An already-cancelled job never takes a thread.
    await expect(trainInThread({ ...tinyJob(), params }, undefined, AbortSignal.abort())).rejects.toThrow();
  });

  it('starts a fit beside another only while their memory estimates fit the budget; a deferred job reads its data then', async () => {
    const params = { iterations: 40, depth: 3, learning_rate: 0.3, random_seed: 1 };
    const rows = tinyJob().train.rowCount;
    const run = async (budgetMb: number): Promise<string[]> => {
      process.env.ACCESS_PERM_TRAIN_MEMORY_MB = String(budgetMb);
      const events: string[] = [];
      const job = async (name: string): Promise<void> => {
        const load = async () => {
          events.push(`${name} reads`);
          return tinyJob();
        };
        const outcome = await trainInThread({ params, rows, returnModel: false, load });
        expect(outcome.bestIteration).toBeGreaterThanOrEqual(0);
        events.push(`${name} done`);
      };
      await Promise.all([job('a'), job('b')]);
      return events;
    };
    try {
      // Two estimates need more than this budget: the second fit (and its read) waits for the first, although
      // thread_count would let both run.
      const oneFit = (1.5 * rows * FIT_BYTES_PER_ROW) / 2 ** 20;
      expect(await run(oneFit)).toEqual(['a reads', 'a done', 'b reads', 'b done']);
      // With room for both they start together (on a machine with two cores or more).
      if (availableParallelism() > 1) expect((await run(4 * oneFit)).slice(0, 2)).toEqual(['a reads', 'b reads']);
      // A malformed budget is named, and nothing is read or trained.
      process.env.ACCESS_PERM_TRAIN_MEMORY_MB = '12GB';
      let read = false;
      const load = async () => ((read = true), tinyJob());
      await expect(trainInThread({ params, rows, load })).rejects.toThrow(
        'ACCESS_PERM_TRAIN_MEMORY_MB must be a number of megabytes above 0, got "12GB"',
      );
      expect(read).toBe(false);
    } finally {
      delete process.env.ACCESS_PERM_TRAIN_MEMORY_MB;
    }
  });

  it("a fit that runs out of its thread's JavaScript heap fails for good, saying so; a malformed limit is named", async () => {
    const params = { iterations: 5, depth: 3, random_seed: 1 };
    try {
      // 16 MB holds the trainer but not a model of 2,000 trees of depth 8: the thread dies of it, as a fit at ten million rows
      // did assembling its combination tables.
      process.env.ACCESS_PERM_TRAIN_HEAP_MB = '16';
      const failed = (await trainInThread({ ...tinyJob(), params: { ...params, iterations: 2000, depth: 8 } }).then(
        () => new Error('trained'),
        (e: unknown) => e,
      )) as Error;
      expect(failed.name).toBe('ThreadHeapError');
      expect(NON_RETRYABLE_ERROR_TYPES).toContain('ThreadHeapError');
      expect(failed.message).toMatch(/^the fit of [\d,]+ rows ran out of its thread's JavaScript heap \(16 MB\)/);
      process.env.ACCESS_PERM_TRAIN_HEAP_MB = 'lots';
      await expect(trainInThread({ ...tinyJob(), params })).rejects.toThrow(
        "ACCESS_PERM_TRAIN_HEAP_MB must be a whole number of MB ≥ 16, got 'lots'",
      );
    } finally {
      delete process.env.ACCESS_PERM_TRAIN_HEAP_MB;
    }
    // Back to the default limit, a new thread trains.
    expect((await trainInThread({ ...tinyJob(), params })).bestIteration).toBeGreaterThanOrEqual(0);
  });
});
