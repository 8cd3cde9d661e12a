/**
 * Thread side of {@link runStepInThread}: runs the one step named in `workerData` and posts its result or its error
 * (name and message, so the caller fails with the same type), then the thread ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { evaluateRun } from './evaluate';

/** The steps that may run on a thread of their own, by name. */
export const THREAD_STEPS = { evaluate: evaluateRun };
export type ThreadStep = keyof typeof THREAD_STEPS;

export type StepThreadMessage =
  { type: 'done'; result: unknown } | { type: 'error'; name: string; message: string; stack?: string };

if (parentPort) {
  const { step, args } = workerData as { step: ThreadStep; args: Parameters<(typeof THREAD_STEPS)[ThreadStep]> };
  const post = (m: StepThreadMessage): void => parentPort!.postMessage(m);
  try {
    post({ type: 'done', result: await THREAD_STEPS[step](...args) });
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    post({ type: 'error', name: e.name, message: e.message, stack: e.stack });
  }
}
