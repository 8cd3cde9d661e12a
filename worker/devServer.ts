import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { findTemporalCli } from './temporalCli';

/** Search attributes the dev server registers (run status for `temporal workflow list --query`). */
export const SEARCH_ATTRIBUTES = ['RunStatus=Keyword'];

export interface DevServer {
  address: string;
  uiUrl: string | null;
  pid: number;
  stop(): Promise<void>;
}

/** A port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on 127.0.0.1:port. */
export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** True when a Temporal frontend answers at `address` within `timeoutMs`. */
export async function isReachable(address: string, timeoutMs = 3000): Promise<boolean> {
  try {
    const conn = await Connection.connect({ address, connectTimeout: timeoutMs });
    try {
      await conn.healthService.check({});
      return true;
    } finally {
      await conn.close();
    }
  } catch {
    return false;
  }
}

export interface DevServerOptions {
  /** SQLite file keeping workflow history across restarts. */
  dbFile: string;
  /** Serve the Temporal UI too (off for tests). */
  ui?: boolean;
  port?: number;
  uiPort?: number;
  /** Receives the server's own log lines. */
  onLog?: (line: string) => void;
}

/** Starts `temporal server start-dev` on 127.0.0.1 with free ports and waits until it serves. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const cli = findTemporalCli();
  await mkdir(dirname(options.dbFile), { recursive: true });
  const port = options.port ?? (await freePort());
  const uiPort = options.uiPort ?? (await freePort());
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
    String(await freePort()),
    '--metrics-port',
    String(await freePort()),
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTES.flatMap((sa) => ['--search-attribute', sa]),
    ...(options.ui ? ['--ui-port', String(uiPort), '--ui-ip', '127.0.0.1'] : ['--headless']),
  ];
  const child: ChildProcess = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      recent.push(line);
      if (recent.length > 20) recent.shift();
      options.onLog?.(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? -1));

  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (!(await isReachable(address, 1000))) {
    if (exited !== null)
      throw new Error(`temporal dev server exited with code ${exited}: ${recent.slice(-5).join(' | ')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`temporal dev server did not answer at ${address} within 60 s: ${recent.slice(-5).join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    address,
    uiUrl: options.ui ? `http://127.0.0.1:${uiPort}` : null,
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
