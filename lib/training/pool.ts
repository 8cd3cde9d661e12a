import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { TrainJob, TrainOutcome, TrainProgress, ThreadMessage } from './types';

/** At most one training thread per core in this process (or ACCESS_PERM_TRAIN_THREADS); further jobs queue. */
const maxThreads = Math.max(1, Number(process.env.ACCESS_PERM_TRAIN_THREADS) || availableParallelism());
let running = 0;
const waiting: Array<{ limit: number; start: () => void }> = [];

/**
 * How many training threads may run while this job runs: its `thread_count` (CatBoost's name; -1 or absent = every
 * core), capped by the process limit. One fit is single-threaded, so `thread_count` bounds how many fits (e.g. CV
 * folds) this process trains at once: `thread_count: 1` trains the folds one after another.
 */
export function threadLimit(params: { thread_count?: unknown }): number {
  const t = params.thread_count;
  return typeof t === 'number' && Number.isInteger(t) && t > 0 ? Math.min(t, maxThreads) : maxThreads;
}

/** Why a cancelled job stops: the signal's reason when it is an Error. */
const cancelled = (signal?: AbortSignal): Error =>
  signal?.reason instanceof Error ? signal.reason : new Error('training cancelled');

/** Takes a thread slot, or waits in line for one; a job cancelled while waiting leaves the line without training. */
async function acquire(limit: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw cancelled(signal);
  if (running < limit) {
    running++;
    return;
  }
  await new Promise<void>((start, reject) => {
    const entry = {
      limit,
      start: () => {
        signal?.removeEventListener('abort', onAbort);
        start();
      },
    };
    const onAbort = (): void => {
      const i = waiting.indexOf(entry);
      if (i >= 0) waiting.splice(i, 1);
      reject(cancelled(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    waiting.push(entry);
  });
}

function release(): void {
  running--;
  // Start queued jobs in order while their limits allow; a job whose limit is reached keeps its place.
  for (let i = 0; i < waiting.length;) {
    const w = waiting[i]!;
    if (running < w.limit) {
      waiting.splice(i, 1);
      running++;
      w.start();
    } else i++;
  }
}

/** An error raised inside the training thread, with its original name (e.g. GbdtParamError). */
export class TrainingThreadError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * Trains in a worker thread. `onProgress` receives throttled per-iteration progress;
 * `signal` aborts (terminates the thread) when the activity is cancelled.
 */
export async function trainInThread(
  job: TrainJob,
  onProgress?: (p: TrainProgress) => void,
  signal?: AbortSignal,
): Promise<TrainOutcome> {
  await acquire(threadLimit(job.params), signal);
  try {
    return await new Promise<TrainOutcome>((resolve, reject) => {
      // Cancelled between getting the slot and here: an 'abort' listener added now would never fire.
      if (signal?.aborted) return reject(cancelled(signal));
      const worker = new Worker(new URL('./thread-entry.mjs', import.meta.url), { workerData: job });
      const onAbort = (): void => {
        void worker.terminate();
        reject(cancelled(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.on('message', (m: ThreadMessage) => {
        if (m.type === 'progress') onProgress?.(m);
        else if (m.type === 'done') {
          const { type: _done, ...outcome } = m;
          resolve(outcome);
        } else reject(new TrainingThreadError(m.name, m.message));
      });
      worker.on('error', reject);
      worker.on('exit', (code) => {
        signal?.removeEventListener('abort', onAbort);
        if (code !== 0) reject(new Error(`training thread exited with code ${code}`));
      });
    });
  } finally {
    release();
  }
}
