import { InvalidArgumentError, type Command } from 'commander';
import { buildService, ServedModel } from '../../lib/serve';
import { assertRunId } from '../../lib/paths';
import { err, positiveInt } from './output';

interface ServeOpts {
  run?: string;
  port: number;
  host: string;
  logWindow: number;
  bodyLimit: number;
  log?: boolean;
}

const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError(`--port must be 0..65535, got ${value}`);
  return n;
};

export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('HTTP scoring service: /health, /predict, /explain, /runs, /audit-logs, /openapi.json (bearer tokens)')
    .option(
      '--run <id>',
      'serve this run (for testing); default: the deployed run, reloaded when the deployment changes',
    )
    .option('--port <n>', 'port (0: any free port)', port, 8000)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--log-window <seconds>', 'inference log window', positiveInt('--log-window'), 60)
    .option('--body-limit <bytes>', 'largest request body', positiveInt('--body-limit'), 2 * 1024 * 1024)
    .option('--log', 'log every request (method, url, status, time; never headers or bodies)')
    .action(async (opts: ServeOpts) => {
      const served = new ServedModel(opts.run ? assertRunId(opts.run) : undefined);
      await served.start();
      const app = await buildService({
        served,
        logWindowMs: opts.logWindow * 1000,
        bodyLimit: opts.bodyLimit,
        logger: opts.log === true,
      });
      const address = await app.listen({ port: opts.port, host: opts.host });
      const s = served.status();
      err(
        `access-perm: serving ${s.runId ?? 'no model yet (nothing deployed)'} on ${address}` +
          (s.lastError ? ` — ${s.lastError}` : ''),
      );
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        err(`access-perm: ${signal}: finishing requests in flight and stopping`);
        void app
          .close()
          .then(() => served.close())
          .then(() => process.exit(0));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
