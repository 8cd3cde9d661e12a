import { availableParallelism } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { memoryLimitBytes } from '../machine';
import { PROJECT_ROOT } from '../paths';
import { cancellation, ConfigError, ThreadError, ThreadHeapError } from '../errors';
import type { DeferredTrainJob, ThreadJob, TrainJob, TrainOutcome, TrainProgress, ThreadMessage } from './types';

/** At most one training thread per core in this process (or ACCESS_PERM_TRAIN_THREADS); further jobs queue. */
const maxThreads = Math.max(1, Number(process.env.ACCESS_PERM_TRAIN_THREADS) || availableParallelism());

/**
 * Memory a fit may take per training row, for deciding how many fits run at once. Measured (lib/gbdt/README.md,
 * "Memory at ten million rows"): the seed's params grow a fit by ~940 bytes per row at 800,000 rows (100 trees) and
 * the caller's copies of the data add ~130; rounded up, because a fit's categorical combinations grow with its trees.
 */
export const FIT_BYTES_PER_ROW = 1536;

/**
 * The memory training may plan for in this process (ACCESS_PERM_TRAIN_MEMORY_MB, default 70 % of the limit): a fit
 * starts beside running ones only while their estimates together stay within it. At ten million rows two fits at
 * once took the worker past 23 GB and the kernel killed it (24 GB machine).
 */
export function trainingMemoryBudget(): number {
  const given = process.env.ACCESS_PERM_TRAIN_MEMORY_MB;
  if (given === undefined || given === '') return 0.7 * memoryLimitBytes();
  const mb = Number(given);
  if (!(mb > 0))
    throw new Error(`ACCESS_PERM_TRAIN_MEMORY_MB must be a number of megabytes above 0, got ${JSON.stringify(given)}`);
  return mb * 2 ** 20;
}

/**
 * How many threads training may use while this job runs: its `thread_count` (CatBoost's name; -1 or absent = every
 * core), capped by the process limit. The pool keeps the threads of the fits running at once (each fit's own
 * `fitThreads`, e.g. CV folds side by side) within it: `thread_count: 1` trains the folds one after another.
 */
export function threadLimit(params: { thread_count?: unknown }): number {
  const t = params.thread_count;
  return typeof t === 'number' && Number.isInteger(t) && t > 0 ? Math.min(t, maxThreads) : maxThreads;
}

/** Most threads one fit uses (the engine splits a tree level's histograms between two). */
export const MAX_FIT_THREADS = 2;

/**
 * A running job: the threads it holds, its limit, its memory estimate, and `grant`, the thread count its fit reads at
 * every tree (shared with the training thread): its own threads, or one more lent while a core within its limit is
 * idle.
 */
interface Slot {
  own: number;
  limit: number;
  rows: number;
  bytes: number;
  lent: boolean;
  grant: Int32Array;
}
const active: Slot[] = [];
/** Threads held by running jobs (not counting lent ones, which are taken back when a job needs them). */
let running = 0;
let lentCount = 0;
/** The memory estimates of running jobs. */
let reserved = 0;
const waiting: Array<{ slot: Slot; start: () => void }> = [];

const grant = (slot: Slot, lent: boolean): void => {
  if (slot.lent === lent) return;
  slot.lent = lent;
  lentCount += lent ? 1 : -1;
  Atomics.store(slot.grant, 0, slot.own + (lent ? 1 : 0));
};

/**
 * Fits smaller than this are not lent a thread: their passes are too short for the helper to pay (starting it, and
 * both threads polling while they hand work over), and on a busy small machine (the test suite) that costs more than
 * it gains.
 */
const LEND_MIN_ROWS = 50_000;

/**
 * Lends idle cores to running one-thread fits of at least LEND_MIN_ROWS rows, oldest first (e.g. the fifth CV fold on
 * two cores once the fourth is done), and takes lent threads back, newest first, when jobs need the cores. A fit reads
 * its grant at every tree, so a lent thread is back within one tree (a second or so at a million rows).
 */
function balanceLent(): void {
  for (let i = active.length - 1; i >= 0 && running + lentCount > maxThreads; i--) grant(active[i]!, false);
  for (const s of active) {
    if (!s.lent && s.own < MAX_FIT_THREADS && s.rows >= LEND_MIN_ROWS && running + lentCount < s.limit) grant(s, true);
  }
}

/**
 * Whether a job may start now: its threads within its limit and, beside other running jobs, its memory within the
 * budget (a job alone always may: waiting would not make room).
 */
const fits = (slot: Slot): boolean =>
  running === 0 || (running + slot.own <= slot.limit && reserved + slot.bytes <= trainingMemoryBudget());

/**
 * Takes a job's threads and memory, or waits in line for them; a job cancelled while waiting leaves the line without
 * training.
 */
async function acquire(slot: Slot, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw cancellation(signal, 'training');
  if (fits(slot)) return start(slot);
  await new Promise<void>((started, reject) => {
    const entry = {
      slot,
      start: () => {
        signal?.removeEventListener('abort', onAbort);
        started();
      },
    };
    const onAbort = (): void => {
      const i = waiting.indexOf(entry);
      if (i >= 0) waiting.splice(i, 1);
      reject(cancellation(signal, 'training'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    waiting.push(entry);
  });
}

function start(slot: Slot): void {
  running += slot.own;
  reserved += slot.bytes;
  active.push(slot);
  balanceLent();
}

function release(slot: Slot): void {
  const i = active.indexOf(slot);
  if (i < 0) return;
  grant(slot, false);
  active.splice(i, 1);
  running -= slot.own;
  reserved -= slot.bytes;
  // Start queued jobs in order while their limits and the memory allow; a job that does not fit keeps its place.
  for (let w = 0; w < waiting.length;) {
    const { slot: next, start: go } = waiting[w]!;
    if (fits(next)) {
      waiting.splice(w, 1);
      start(next);
      go();
    } else w++;
  }
  balanceLent();
}

/**
 * Training threads kept after their job for the next one, at most one per slot: starting a thread (loading the
 * trainer through tsx) costs more than fitting a small model. An idle thread does not keep the process alive and
 * ends after a while unused. A thread whose fit took longer than {@link KEEP_AFTER_FIT_SECONDS} ends at once: its
 * heap still holds that job's data until its isolate collects, which an idle thread never needs to, while a new
 * thread costs under 0.4 s, little beside such a fit. On the seed-sized run this took the worker's peak from 3.2 to
 * 2.3 GB (`npm run bench:memory`, docs/benchmarks.md).
 */
const idle: Worker[] = [];
const IDLE_MS = 60_000;
const KEEP_AFTER_FIT_SECONDS = 5;
const idleTimers = new Map<Worker, NodeJS.Timeout>();

/**
 * A training thread's old-generation heap, MB: V8's default for the process unless ACCESS_PERM_TRAIN_HEAP_MB says
 * otherwise (the bins and approximations are typed arrays outside it; the model's tables and JSON are inside).
 */
function heapLimitMb(): number {
  const set = process.env.ACCESS_PERM_TRAIN_HEAP_MB;
  if (set === undefined || set === '') return Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
  const mb = Number(set);
  if (!Number.isInteger(mb) || mb < 16)
    throw new ConfigError(`ACCESS_PERM_TRAIN_HEAP_MB must be a whole number of MB ≥ 16, got '${set}'`);
  return mb;
}

/** Each thread's heap limit, MB: a kept thread serves the next job only under the limit it was started with. */
const heapOf = new WeakMap<Worker, number>();

function takeThread(): Worker {
  const heapMb = heapLimitMb();
  let kept = idle.pop();
  while (kept && heapOf.get(kept) !== heapMb) {
    clearTimeout(idleTimers.get(kept));
    idleTimers.delete(kept);
    void kept.terminate();
    kept = idle.pop();
  }
  if (!kept) {
    const thread = new Worker(join(PROJECT_ROOT, 'lib', 'training', 'thread-entry.mjs'), {
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
    });
    heapOf.set(thread, heapMb);
    // A thread that dies between jobs (kept idle, or ending after its result) has no job to fail: it leaves the idle
    // list, and its error must not bring the worker process down.
    thread.on('error', () => undefined);
    thread.once('exit', () => {
      const at = idle.indexOf(thread);
      if (at < 0) return;
      idle.splice(at, 1);
      clearTimeout(idleTimers.get(thread));
      idleTimers.delete(thread);
    });
    return thread;
  }
  clearTimeout(idleTimers.get(kept));
  idleTimers.delete(kept);
  kept.ref();
  return kept;
}

function keepThread(worker: Worker): void {
  if (idle.length >= maxThreads) return void worker.terminate();
  worker.unref();
  idle.push(worker);
  const timer = setTimeout(() => {
    idle.splice(idle.indexOf(worker), 1);
    idleTimers.delete(worker);
    void worker.terminate();
  }, IDLE_MS);
  timer.unref();
  idleTimers.set(worker, timer);
}

/** The buffers behind a job's typed arrays, each once. */
function transferables(job: TrainJob): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const m of job.predict ? [job.train, job.predict] : [job.train]) {
    for (const c of m.categorical) buffers.add(c.codes.buffer as ArrayBuffer);
    for (const c of m.numeric) buffers.add(c.values.buffer as ArrayBuffer);
  }
  buffers.add(job.labels.buffer as ArrayBuffer);
  return [...buffers];
}

/**
 * Trains in a worker thread (a kept one when there is), once the job's threads and memory estimate are free; a
 * deferred job reads its data only then. `onProgress` receives throttled per-iteration progress; `signal` aborts
 * (terminates the thread) when the activity is cancelled.
 */
export async function trainInThread(
  job: (TrainJob | DeferredTrainJob) & { returnModel: false },
  onProgress?: (p: TrainProgress) => void,
  signal?: AbortSignal,
): Promise<Omit<TrainOutcome, 'modelFile'>>;
export async function trainInThread(
  job: (TrainJob | DeferredTrainJob) & { returnModel?: true },
  onProgress?: (p: TrainProgress) => void,
  signal?: AbortSignal,
): Promise<TrainOutcome & { modelFile: Uint8Array }>;
export async function trainInThread(
  given: TrainJob | DeferredTrainJob,
  onProgress?: (p: TrainProgress) => void,
  signal?: AbortSignal,
): Promise<TrainOutcome> {
  const limit = threadLimit(given.params);
  const own = Math.min(Math.max(1, given.fitThreads ?? 1), MAX_FIT_THREADS, limit);
  // A malformed ACCESS_PERM_TRAIN_MEMORY_MB or ACCESS_PERM_TRAIN_HEAP_MB fails the job here, before it takes a slot.
  trainingMemoryBudget();
  heapLimitMb();
  const rows = 'load' in given ? given.rows : given.train.rowCount;
  const bytes = rows * FIT_BYTES_PER_ROW;
  const slot: Slot = {
    own,
    limit,
    rows,
    bytes,
    lent: false,
    grant: new Int32Array(new SharedArrayBuffer(4)).fill(own),
  };
  await acquire(slot, signal);
  try {
    const job: TrainJob =
      'load' in given
        ? {
            ...(await given.load()),
            params: given.params,
            fitThreads: given.fitThreads,
            returnModel: given.returnModel,
          }
        : given;
    return await new Promise<TrainOutcome>((resolve, reject) => {
      // Cancelled between getting the slot and here: an 'abort' listener added now would never fire.
      if (signal?.aborted) return reject(cancellation(signal, 'training'));
      const worker = takeThread();
      const detach = (): void => {
        signal?.removeEventListener('abort', onAbort);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      };
      const onAbort = (): void => {
        detach();
        void worker.terminate();
        reject(cancellation(signal, 'training'));
      };
      const onMessage = (m: ThreadMessage): void => {
        if (m.type === 'progress') return onProgress?.(m);
        // The job is over either way and the thread is sound: keep it for the next job unless the fit was large.
        detach();
        if (m.type === 'done' && m.fitSeconds > KEEP_AFTER_FIT_SECONDS) void worker.terminate();
        else keepThread(worker);
        if (m.type === 'done') {
          const { type: _done, ...outcome } = m;
          resolve(outcome);
        } else reject(new ThreadError(m.name, m.message));
      };
      const onError = (e: Error): void => {
        detach();
        reject(
          (e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new ThreadHeapError(
                `the fit of ${rows.toLocaleString('en-US')} rows ran out of its thread's JavaScript heap (${heapLimitMb()} MB): ${e.message}`,
              )
            : e,
        );
      };
      const onExit = (code: number): void => {
        detach();
        reject(new Error(`training thread exited with code ${code}`));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      const message: ThreadJob = { ...job, grant: slot.grant.buffer as SharedArrayBuffer };
      worker.postMessage(message, job.transfer ? transferables(job) : []);
    });
  } finally {
    release(slot);
  }
}
