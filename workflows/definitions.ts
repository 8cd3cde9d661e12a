import { defineQuery, type ActivityOptions } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../schemas/errors';
import type { MonitoringProgress } from '../schemas/monitoring';
import type { PipelineProgress } from '../schemas/run';

/** Task queue of the access-perm worker. */
export const TASK_QUEUE = 'access-perm';

/** Current step, fold progress and status of a training run. */
export const progressQuery = defineQuery<PipelineProgress>('progress');

/** Current step and status of a monitoring window (same query name, so `temporal workflow query --name progress` works). */
export const monitoringProgressQuery = defineQuery<MonitoringProgress>('progress');

/**
 * The training activities (`trainFold`, `trainFinalModel`), in the training pipeline and the version pipelines.
 * - The limit counts from when a worker takes the activity, including its wait in the worker's training pool: at ten
 *   million rows the folds train one at a time (~40 min each), so the last waits hours before its fit starts.
 * - Training heartbeats every 2 s; a silent minute means the worker died, so the fit is retried elsewhere.
 * - Each worker that dies (a restart, a deploy, a machine going down) costs every training activity it held one
 *   attempt, the ones waiting in its pool too, so a run of many hours needs more attempts than the other steps.
 */
export const TRAINING_STEP_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '1 minute',
  retry: {
    maximumAttempts: 10,
    initialInterval: '5s',
    maximumInterval: '2 minutes',
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
};
