import { InvalidArgumentError, type Command } from 'commander';
import { buildService, ServedModel, type ServedModelStatus } from '../../lib/serve';
import { assertRunId } from '../../lib/run';
import { err, positiveInt } from './output';

interface ServeOpts {
  run?: string;
  version?: number;
  liveMetadata?: boolean;
  port: number;
  host: string;
  logWindow: number;
  bodyLimit: number;
  authFailureLimit: number;
  refusalWindow: number;
  log?: boolean;
}

/** What is served, for the start-up line and reloads: run, model version, ONNX sha256, threshold, where it came from. */
export function describeServed(s: ServedModelStatus): string {
  if (!s.loaded) return 'no model yet (nothing deployed)';
  const from = s.source === 'deployment' ? 'the deployed run' : 'run';
  const lock = s.lock ? `locked at v${s.lock.version}` : 'unlocked';
  return `${from} ${s.runId} v${s.version} (${lock}, model sha256 ${s.modelSha256}, threshold ${s.threshold?.toFixed(4)})`;
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
    .option(
      '--version <n>',
      "with --run: the run's model version to serve (default: the locked version, else the newest approved, else 1)",
      positiveInt('--version'),
    )
    .option(
      '--live-metadata',
      'a locked run: join the current users/apps tables instead of the snapshot frozen with its lock',
    )
    .option('--port <n>', 'port (0: any free port)', port, 8000)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--log-window <seconds>', 'inference log window', positiveInt('--log-window'), 60)
    .option('--body-limit <bytes>', 'largest request body', positiveInt('--body-limit'), 2 * 1024 * 1024)
    .option(
      '--auth-failure-limit <n>',
      'refused tokens a client may send per interval before it is answered 429 unchecked',
      positiveInt('--auth-failure-limit'),
      20,
    )
    .option(
      '--refusal-window <seconds>',
      'the interval of --auth-failure-limit, and over which repeated refusals are summarised in the audit log',
      positiveInt('--refusal-window'),
      60,
    )
    .option('--log', 'log every request (method, url, status, time; never headers or bodies)')
    .action(async (opts: ServeOpts) => {
      if (opts.version !== undefined && !opts.run) {
        throw new InvalidArgumentError('--version needs --run <id>: the deployed run is served at its locked version');
      }
      let listening = false;
      const served = new ServedModel(opts.run ? assertRunId(opts.run) : undefined, 1000, {
        ...(opts.version !== undefined ? { version: opts.version } : {}),
        ...(opts.liveMetadata ? { liveMetadata: true } : {}),
        onReload: (s) => {
          if (!listening) return;
          err(
            s.lastError
              ? `access-perm: reload failed, still serving ${describeServed(s)}: ${s.lastError}`
              : `access-perm: reloaded: now serving ${describeServed(s)}`,
          );
        },
      });
      await served.start();
      const app = await buildService({
        served,
        logWindowMs: opts.logWindow * 1000,
        bodyLimit: opts.bodyLimit,
        logger: opts.log === true,
        authFailureLimit: opts.authFailureLimit,
        refusalWindowMs: opts.refusalWindow * 1000,
      });
      const address = await app.listen({ port: opts.port, host: opts.host });
      listening = true;
      const s = served.status();
      err(`access-perm: serving ${describeServed(s)} on ${address}` + (s.lastError ? ` — ${s.lastError}` : ''));
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

  program
    .command('api')
    .description(
      'control-plane HTTP API: every governed operation (runs, exports, system config, audit, users, tokens) behind bearer tokens; /openapi.json, /docs, and the web console at /console/',
    )
    .option('--port <n>', 'port (0: any free port)', port, 8090)
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--body-limit <bytes>', 'largest request body', positiveInt('--body-limit'), 1024 * 1024)
    .option(
      '--auth-failure-limit <n>',
      'refused tokens a client may send per interval before it is answered 429 unchecked',
      positiveInt('--auth-failure-limit'),
      20,
    )
    .option('--log', 'log every request (method, url, status, time; never headers or bodies)')
    .action(
      async (opts: { port: number; host: string; bodyLimit: number; authFailureLimit: number; log?: boolean }) => {
        const { buildControlPlane } = await import('../../api/server');
        const app = await buildControlPlane({
          bodyLimit: opts.bodyLimit,
          authFailureLimit: opts.authFailureLimit,
          logger: opts.log === true,
        });
        const address = await app.listen({ port: opts.port, host: opts.host });
        err(
          `access-perm: control-plane API on ${address} (console: ${address}/console/, docs: ${address}/docs, OpenAPI: ${address}/openapi.json)`,
        );
        let stopping = false;
        const stop = (signal: string): void => {
          if (stopping) return;
          stopping = true;
          err(`access-perm: ${signal}: finishing requests in flight and stopping`);
          void app.close().then(() => process.exit(0));
        };
        process.on('SIGINT', () => stop('SIGINT'));
        process.on('SIGTERM', () => stop('SIGTERM'));
      },
    );
}
