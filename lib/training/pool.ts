import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { TrainJob, TrainOutcome, TrainProgress, ThreadMessage } from './types';

/** At most one training thread per core in this process; further jobs queue. */
const maxThreads = Math.max(1, Number(process.env.ACCESS_PERM_TRAIN_THREADS) || availableParallelism());
let running = 0;
const waiting: Array<() => void> = [];

async function acquire(): Promise<void> {
  if (running < maxThreads) {
    running++;
    return;
  }
  await new Promise<void>((resolve) => waiting.push(resolve));
}

function release(): void {
  const next = waiting.shift();
  if (next) next();
  else running--;
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
  await acquire();
  try {
    return await new Promise<TrainOutcome>((resolve, reject) => {
      const worker = new Worker(new URL('./thread-entry.mjs', import.meta.url), { workerData: job });
      const onAbort = (): void => {
        void worker.terminate();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('training cancelled'));
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
