export { trainingPipeline } from './trainingPipeline';
export { elevationExpiry } from './elevation';
export { monitoringWorkflow } from './monitoring';
export { runLifecycle } from './lifecycle';
export { modelVersionPipeline, reproduceRun } from './versionPipelines';
