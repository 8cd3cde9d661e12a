import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/artifacts';
import { dataDir } from '../lib/paths';
import { isReachable, startDevServer, type DevServer } from './devServer';

/** Written by `access-perm dev` so other commands find its server. */
export const serverStateFile = (): string => join(dataDir(), 'temporal', 'dev-server.json');
export const devDbFile = (): string => join(dataDir(), 'temporal', 'dev.sqlite');

export interface ServerState {
  address: string;
  uiUrl: string | null;
  pid: number;
}

export async function writeServerState(state: ServerState): Promise<void> {
  await writeFileAtomic(serverStateFile(), `${JSON.stringify(state, null, 2)}\n`);
}

export async function clearServerState(): Promise<void> {
  await rm(serverStateFile(), { force: true });
}

async function readServerState(): Promise<ServerState | null> {
  try {
    return JSON.parse(await readFile(serverStateFile(), 'utf8')) as ServerState;
  } catch {
    return null;
  }
}

export interface ResolvedServer {
  address: string;
  /** Where the address came from, for messages. */
  source: 'TEMPORAL_ADDRESS' | 'access-perm dev' | 'embedded';
  uiUrl: string | null;
  /** Stops the server if this process started it; a no-op otherwise. */
  release(): Promise<void>;
}

/** A server that is up already: TEMPORAL_ADDRESS when it answers, else a running `access-perm dev`'s; or null. */
export async function runningServer(): Promise<Omit<ResolvedServer, 'release'> | null> {
  const fromEnv = process.env.TEMPORAL_ADDRESS;
  if (fromEnv)
    return (await isReachable(fromEnv)) ? { address: fromEnv, source: 'TEMPORAL_ADDRESS', uiUrl: null } : null;
  const state = await readServerState();
  if (state && (await isReachable(state.address, 1500))) {
    return { address: state.address, source: 'access-perm dev', uiUrl: state.uiUrl };
  }
  return null;
}

/**
 * Finds a Temporal server: TEMPORAL_ADDRESS when set (it must answer), else the server of a running
 * `access-perm dev`, else an embedded dev server started for this process and stopped by `release`.
 */
export async function resolveServer(log: (line: string) => void = () => {}): Promise<ResolvedServer> {
  const fromEnv = process.env.TEMPORAL_ADDRESS;
  if (fromEnv) {
    if (!(await isReachable(fromEnv)))
      throw new Error(`TEMPORAL_ADDRESS=${fromEnv} does not answer (is the server running?)`);
    return { address: fromEnv, source: 'TEMPORAL_ADDRESS', uiUrl: null, release: async () => {} };
  }
  const state = await readServerState();
  if (state && (await isReachable(state.address, 1500))) {
    return { address: state.address, source: 'access-perm dev', uiUrl: state.uiUrl, release: async () => {} };
  }
  log('starting an embedded Temporal dev server…');
  // The same SQLite file as `access-perm dev`, so runs stay visible in its UI later.
  const server: DevServer = await startDevServer({ dbFile: devDbFile() });
  return { address: server.address, source: 'embedded', uiUrl: null, release: () => server.stop() };
}
