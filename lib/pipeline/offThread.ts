/**
 * Pipeline steps that may compute for minutes without yielding (evaluate at ten million rows: the bootstrap, the
 * calibration, the final model's leaf cover) run on a thread of their own, so the activity's event loop stays free:
 * its heartbeats go out every 2 s and a dead worker still shows within a minute, and other activities on the worker
 * are not held up.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FoldSummary } from '../../schemas/run';
import { cancellation, ThreadError } from '../errors';
import { PROJECT_ROOT } from '../paths';
import { countFeatureRows, type RunFolder } from '../run';
import { evaluateRun, type EvaluationResult } from './evaluate';
import type { StepThreadMessage, THREAD_STEPS, ThreadStep } from './stepThread';

/**
 * Rows from which `evaluateStep` evaluates on a thread of its own. Below, every phase takes a second or two (the
 * seed-sized set: the bootstrap ~2 s), and a thread's start (loading the evaluation and its report code) would cost
 * as much as the step.
 */
export const EVALUATE_THREAD_MIN_ROWS = 200_000;

/** The pipeline's evaluate step: on a thread of its own from {@link EVALUATE_THREAD_MIN_ROWS} rows, else here. */
export async function evaluateStep(
  folder: RunFolder,
  folds: FoldSummary[],
  signal?: AbortSignal,
): Promise<EvaluationResult> {
  return (await countFeatureRows(folder.dir)) >= EVALUATE_THREAD_MIN_ROWS
    ? runStepInThread('evaluate', [folder, folds], signal)
    : evaluateRun(folder, folds);
}

/** Old-generation heap of a step's thread. */
const STEP_HEAP_MB = 8192;

type Step<K extends ThreadStep> = (typeof THREAD_STEPS)[K];

/**
 * Runs `step(...args)` on a new worker thread and returns its result (structured-cloned). An error inside keeps its
 * name; `signal` ends the thread (the step's files are each written whole or not at all, so a retry starts clean).
 */
export function runStepInThread<K extends ThreadStep>(
  step: K,
  args: Parameters<Step<K>>,
  signal?: AbortSignal,
): Promise<Awaited<ReturnType<Step<K>>>> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancellation(signal, step));
    const thread = new Worker(join(PROJECT_ROOT, 'lib', 'pipeline', 'step-thread.mjs'), {
      workerData: { step, args },
      // The step's JavaScript heap grows with the rows (at ten million: the segment and group columns as strings);
      // V8's default limit (~4 GB here) is sized for a process, not for a step that runs
      // once training has given its memory back.
      resourceLimits: { maxOldGenerationSizeMb: STEP_HEAP_MB },
    });
    let settled = false;
    const settle = (done: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      done();
    };
    const onAbort = (): void => {
      settle(() => reject(cancellation(signal, step)));
      void thread.terminate();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    thread.on('message', (m: StepThreadMessage) => {
      settle(() =>
        m.type === 'done'
          ? resolve(m.result as Awaited<ReturnType<Step<K>>>)
          : reject(Object.assign(new ThreadError(m.name, m.message), { stack: m.stack })),
      );
      // Whatever the step left open (a database handle, a timer) must not keep the thread and its heap alive.
      void thread.terminate();
    });
    thread.on('error', (e) => settle(() => reject(e)));
    thread.on('exit', (code) =>
      settle(() => reject(new Error(`the ${step} thread ended (exit code ${code}) without a result`))),
    );
  });
}
