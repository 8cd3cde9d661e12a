import { defineQuery } from '@temporalio/workflow';
import type { MonitoringProgress } from '../schemas/monitoring';
import type { PipelineProgress } from '../schemas/run';

/** Task queue of the access-perm worker. */
export const TASK_QUEUE = 'access-perm';

/** Current step, fold progress and status of a training run. */
export const progressQuery = defineQuery<PipelineProgress>('progress');

/** Current step and status of a monitoring window (same query name, so `temporal workflow query --name progress` works). */
export const monitoringProgressQuery = defineQuery<MonitoringProgress>('progress');

/**
 * The evaluation step heartbeats between its phases, but on large inputs some phases compute for minutes without
 * yielding (at ten million rows: the metrics, the calibration, the final model's importance), so there a silent
 * minute does not mean a dead worker.
 */
export const EVALUATION_HEARTBEAT_TIMEOUT = '10 minutes';
