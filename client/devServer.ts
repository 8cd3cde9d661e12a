import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { isReachable } from './connection';
import { findTemporalCli } from './temporalCli';

/** Search attributes the dev server registers (run status for `temporal workflow list --query`). */
export const SEARCH_ATTRIBUTES = ['RunStatus=Keyword'];

export interface DevServer {
  address: string;
  uiUrl: string | null;
  /** `default` and the namespaces registered at start. */
  namespaces: string[];
  pid: number;
  stop(): Promise<void>;
}

/** A port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/**
 * `count` distinct ports on 127.0.0.1 that were free a moment ago. Every listener stays open until all are picked,
 * so the OS cannot hand out the same port twice (picking them one at a time, it sometimes does).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const srv = createServer();
          srv.unref();
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((srv) => {
    const addr = srv.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  });
  await Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  return ports;
}

/** True when nothing listens on 127.0.0.1:port. */
export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export interface DevServerOptions {
  /** SQLite file keeping workflow history across restarts. */
  dbFile: string;
  /** Serve the Temporal UI too (off for tests). */
  ui?: boolean;
  /** Namespaces to register besides `default`. */
  namespaces?: string[];
  port?: number;
  uiPort?: number;
  /** Receives the server's own log lines. */
  onLog?: (line: string) => void;
}

/** How many times a server that exits before answering is started again on fresh ports. */
const START_ATTEMPTS = 3;

/**
 * Starts `temporal server start-dev` on 127.0.0.1 with free ports and waits until it serves. A port picked free can be
 * taken by another process before the server binds it (parallel test files start servers too), and the CLI then
 * exits (sometimes with a Go panic), so a server that exits before answering is started again on fresh ports.
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  await mkdir(dirname(options.dbFile), { recursive: true });
  const failures: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchDevServer(options);
    } catch (e) {
      if (!(e instanceof EarlyExit) || attempt === START_ATTEMPTS) {
        const earlier = failures.length ? ` (earlier attempts: ${failures.join('; ')})` : '';
        throw new Error(`${(e as Error).message}${earlier}`, { cause: e });
      }
      failures.push(e.message);
    }
  }
}

/** The dev server process ended before it answered. */
class EarlyExit extends Error {}

async function launchDevServer(options: DevServerOptions): Promise<DevServer> {
  const cli = findTemporalCli();
  const [freeFrontend, freeUi, httpPort, metricsPort] = await freePorts(4);
  const port = options.port ?? freeFrontend!;
  const uiPort = options.uiPort ?? freeUi!;
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    options.dbFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTES.flatMap((sa) => ['--search-attribute', sa]),
    ...(options.namespaces ?? []).flatMap((namespace) => ['--namespace', namespace]),
    ...(options.ui ? ['--ui-port', String(uiPort), '--ui-ip', '127.0.0.1'] : ['--headless']),
  ];
  const child: ChildProcess = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  /** The first lines that say what went wrong (a panic's message comes before its long stack). */
  const firstErrors: string[] = [];
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      if (firstErrors.length < 3 && /panic|error|fatal/i.test(line)) firstErrors.push(line.slice(0, 300));
      options.onLog?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? -1));

  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  const said = (): string => (firstErrors.length ? firstErrors : recent.slice(-5)).join(' | ');
  while (!(await isReachable(address, 1000))) {
    if (exited !== null) throw new EarlyExit(`temporal dev server exited with code ${exited}: ${said()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`temporal dev server did not answer at ${address} within 60 s: ${said()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    address,
    uiUrl: options.ui ? `http://127.0.0.1:${uiPort}` : null,
    namespaces: ['default', ...(options.namespaces ?? [])],
    pid: child.pid ?? -1,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited !== null) return resolve();
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(killer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
