import { defineQuery } from '@temporalio/workflow';
import type { PipelineProgress } from '../schemas/run';

/** Task queue of the access-perm worker. */
export const TASK_QUEUE = 'access-perm';

/** Current step, fold progress and status of a training run. */
export const progressQuery = defineQuery<PipelineProgress>('progress');
