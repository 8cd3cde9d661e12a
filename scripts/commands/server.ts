import type { Command } from 'commander';
import {
  clearServerState,
  describeServer,
  devDbFile,
  devNamespaces,
  findServer,
  isPortFree,
  loadTemporalSettings,
  localServer,
  startDevServer,
  startLocalWorker,
  writeServerState,
  type LocalWorker,
} from '../../client';
import { dataDir } from '../../lib/paths';
import { TASK_QUEUE } from '../../workflows/definitions';
import { installWorkerLogging } from '../../worker/worker';
import { err, positiveInt } from './output';

/** Runs a started worker in the foreground until Ctrl-C or SIGTERM, which drain it. */
async function runUntilStopped(local: LocalWorker): Promise<void> {
  const stop = (): void => local.worker.shutdown();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await local.done;
  } finally {
    await local.stop();
  }
}

/** `dev` (embedded server + worker) and `worker` (worker only, for an existing server). */
export function registerServerCommands(program: Command): void {
  program
    .command('dev')
    .description(
      'run an embedded Temporal dev server (with UI; it serves TEMPORAL_NAMESPACE too) and a worker in the foreground; Ctrl-C stops both',
    )
    .option('--port <port>', "gRPC port of the server (the temporal CLI's default)", positiveInt('--port'), 7233)
    .option('--ui-port <port>', 'port of the Temporal UI', positiveInt('--ui-port'), 8233)
    .action(async (opts: { port: number; uiPort: number }) => {
      installWorkerLogging('INFO');
      const settings = loadTemporalSettings();
      for (const port of [opts.port, opts.uiPort]) {
        if (!(await isPortFree(port)))
          throw new Error(`port ${port} on 127.0.0.1 is in use: choose others with --port/--ui-port`);
      }
      const dev = await startDevServer({
        dbFile: devDbFile(),
        ui: true,
        port: opts.port,
        uiPort: opts.uiPort,
        namespaces: devNamespaces(settings),
      });
      try {
        await writeServerState({ address: dev.address, uiUrl: dev.uiUrl, pid: dev.pid, namespaces: dev.namespaces });
        const local = await startLocalWorker(localServer(settings, dev, 'access-perm dev'), { log: err });
        const cliEnv = `TEMPORAL_ADDRESS=${dev.address} TEMPORAL_NAMESPACE=${settings.namespace}`;
        err(
          `Temporal server  ${dev.address}, namespace ${settings.namespace}   (export ${cliEnv} for the temporal CLI)`,
        );
        err(`Temporal UI      ${dev.uiUrl}`);
        err(
          `worker           polling task queue ${TASK_QUEUE} in namespace ${settings.namespace}; data directory ${dataDir()}`,
        );
        await runUntilStopped(local);
      } finally {
        await dev.stop();
        await clearServerState();
      }
    });

  program
    .command('worker')
    .description(
      'run a worker against the configured Temporal server (TEMPORAL_ADDRESS or a config-file profile, with namespace, TLS and API key; else a running `access-perm dev`), e.g. in docker-compose',
    )
    .action(async () => {
      installWorkerLogging('INFO');
      const server = await findServer();
      const local = await startLocalWorker(server, { log: err });
      err(`worker polling task queue ${TASK_QUEUE} on ${describeServer(server)}; data directory ${dataDir()}`);
      await runUntilStopped(local);
    });
}
