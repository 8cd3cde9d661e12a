import type { Command } from 'commander';
import { dataDir } from '../../lib/paths';
import { TASK_QUEUE } from '../../workflows/definitions';
import { isPortFree, startDevServer } from '../../worker/devServer';
import { clearServerState, devDbFile, writeServerState } from '../../worker/environment';
import { createPipelineWorker, installWorkerLogging } from '../../worker/worker';
import { err, positiveInt } from './output';

/** `dev` (embedded server + worker) and `worker` (worker only, for an existing server). */
export function registerServerCommands(program: Command): void {
  program
    .command('dev')
    .description('run an embedded Temporal dev server (with UI) and a worker in the foreground; Ctrl-C stops both')
    .option('--port <port>', "gRPC port of the server (the temporal CLI's default)", positiveInt('--port'), 7233)
    .option('--ui-port <port>', 'port of the Temporal UI', positiveInt('--ui-port'), 8233)
    .action(async (opts: { port: number; uiPort: number }) => {
      installWorkerLogging('INFO');
      for (const port of [opts.port, opts.uiPort]) {
        if (!(await isPortFree(port)))
          throw new Error(`port ${port} on 127.0.0.1 is in use: choose others with --port/--ui-port`);
      }
      const server = await startDevServer({ dbFile: devDbFile(), ui: true, port: opts.port, uiPort: opts.uiPort });
      await writeServerState({ address: server.address, uiUrl: server.uiUrl, pid: server.pid });
      const { worker, connection } = await createPipelineWorker({ address: server.address });
      err(`Temporal server  ${server.address}   (export TEMPORAL_ADDRESS=${server.address} for the temporal CLI)`);
      err(`Temporal UI      ${server.uiUrl}`);
      err(`worker           polling task queue ${TASK_QUEUE}; data directory ${dataDir()}`);
      const stop = (): void => worker.shutdown();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await worker.run();
      } finally {
        await connection.close();
        await server.stop();
        await clearServerState();
      }
    });

  program
    .command('worker')
    .description('run a worker against TEMPORAL_ADDRESS (e.g. in docker-compose)')
    .action(async () => {
      const address = process.env.TEMPORAL_ADDRESS;
      if (!address) throw new Error('TEMPORAL_ADDRESS is not set (host:port of the Temporal frontend)');
      installWorkerLogging('INFO');
      const { worker, connection } = await createPipelineWorker({ address });
      err(`worker polling ${TASK_QUEUE} on ${address}; data directory ${dataDir()}`);
      process.once('SIGINT', () => worker.shutdown());
      process.once('SIGTERM', () => worker.shutdown());
      try {
        await worker.run();
      } finally {
        await connection.close();
      }
    });
}
