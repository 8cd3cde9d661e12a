/**
 * The one Temporal client of access-perm: connection settings (the standard TEMPORAL_* variables and config-file
 * profiles), server discovery, the worker's connection, typed workflow starts, schedules, polling, and the runs the
 * CLI waits for. Nothing else opens a connection to Temporal.
 */
export { connectClient, connectWorker } from './connection';
export { freePort, freePorts, isPortFree, startDevServer, type DevServer, type DevServerOptions } from './devServer';
export { startElevationTimer } from './elevation';
export {
  LIFECYCLE_UPDATES,
  lifecycleStateOn,
  lifecycleUpdateOn,
  sendLifecycleUpdate,
  verdictError,
  withLifecycle,
  withRecords,
  type LifecycleHandle,
  type LifecycleUpdate,
} from './lifecycle';
export { startLocalWorker, type LocalWorker } from './localWorker';
export { lifecycleSettled, pollEvery, untilSettled, type ModelProgress } from './poll';
export {
  cancelRun,
  cancelRunOn,
  monitorWindowOn,
  runMonitoring,
  runPipeline,
  runProgressOn,
  startRun,
  withLocalServerStatus,
  withServerStatus,
  type CancelledRun,
  type RunProgress,
  type CancelRunOptions,
  type RunMonitoringOptions,
  type RunPipelineOptions,
} from './runs';
export {
  configureMonitoringSchedule,
  configureMonitoringScheduleOn,
  DEFAULT_MONITORING_CRON,
  monitoringScheduleStatus,
  monitoringScheduleStatusOn,
  type ConfigureMonitoringOptions,
  type MonitoringScheduleStatus,
} from './schedules';
export {
  clearServerState,
  devDbFile,
  devNamespaces,
  findServer,
  localServer,
  writeServerState,
  type FindServerOptions,
  type ServerState,
} from './server';
export {
  clientConnectionOptions,
  describeServer,
  loadTemporalSettings,
  workerConnectionOptions,
  type LoadSettingsOptions,
  type ServerSource,
  type TemporalServer,
  type TemporalSettings,
} from './settings';
export { findTemporalCli } from './temporalCli';
export {
  lifecycleHandle,
  startElevationExpiry,
  startMonitoring,
  startTrainingPipeline,
  type WorkflowName,
} from './workflows';
