/**
 * Worker-thread entry: trains models off the main thread, so heartbeats and other activities keep running. The
 * thread takes one job per message and stays for the next (the pool keeps idle threads).
 */
import { parentPort, threadId } from 'node:worker_threads';
import { predictProba, serializeModel, trainGbdt } from '../gbdt';
import type { ThreadJob, ThreadMessage } from './types';

const post = (message: ThreadMessage, transfer: ArrayBuffer[] = []): void => parentPort!.postMessage(message, transfer);

function train(job: ThreadJob): void {
  try {
    let lastPost = 0;
    const started = performance.now();
    const grant = new Int32Array(job.grant);
    let fitThreads = 1;
    const model = trainGbdt(job.train, job.labels, job.params, {
      // What the pool grants now: the fit's own threads, or one more while a core is idle.
      threads: () => {
        const granted = Atomics.load(grant, 0);
        fitThreads = Math.max(fitThreads, granted);
        return granted;
      },
      onIteration: (info) => {
        const now = Date.now();
        if (now - lastPost > 500 || info.iteration + 1 === info.iterations) {
          lastPost = now;
          post({ type: 'progress', iteration: info.iteration, iterations: info.iterations, trainLoss: info.trainLoss });
        }
      },
    });
    const fitSeconds = (performance.now() - started) / 1000;
    const predictions = job.predict ? predictProba(model, job.predict) : undefined;
    const bestIteration = model.bestIteration ?? model.trees.length - 1;
    // The model file's bytes move to the caller (transferred, not copied): at ten million rows its JSON is ~260 MB,
    // and a string would cross as a copy while this thread still held the original.
    const modelFile = job.returnModel === false ? undefined : new TextEncoder().encode(serializeModel(model));
    post(
      {
        type: 'done',
        ...(modelFile ? { modelFile } : {}),
        bestIteration,
        fitSeconds,
        thread: threadId,
        fitThreads,
        predictions,
      },
      modelFile ? [modelFile.buffer as ArrayBuffer] : [],
    );
  } catch (err) {
    const e = err as Error;
    post({ type: 'error', name: e.name, message: e.message });
  }
}

parentPort!.on('message', train);
