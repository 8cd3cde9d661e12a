import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/artifacts';
import { dataDir } from '../lib/paths';
import { isReachable } from './connection';
import { startDevServer } from './devServer';
import { DEFAULT_NAMESPACE, loadTemporalSettings, type TemporalServer, type TemporalSettings } from './settings';

/** Written by `access-perm dev` so other commands find its server. */
export const serverStateFile = (): string => join(dataDir(), 'temporal', 'dev-server.json');
export const devDbFile = (): string => join(dataDir(), 'temporal', 'dev.sqlite');

export interface ServerState {
  address: string;
  uiUrl: string | null;
  pid: number;
  /** Namespaces the server serves (older state files lack it: `default` only). */
  namespaces?: string[];
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

/** The namespaces a local dev server must serve for these settings (`default` always exists). */
export function devNamespaces(settings: Pick<TemporalSettings, 'namespace'>): string[] {
  return settings.namespace === DEFAULT_NAMESPACE ? [] : [settings.namespace];
}

/** A local dev server (plaintext, no API key or headers) serving the settings' namespace, as a server to use. */
export function localServer(
  settings: TemporalSettings,
  local: { address: string; uiUrl: string | null },
  source: 'access-perm dev' | 'embedded',
  release: () => Promise<void> = async () => {},
): TemporalServer {
  return {
    ...settings,
    tls: undefined,
    apiKey: undefined,
    metadata: undefined,
    address: local.address,
    source,
    origin: source,
    uiUrl: local.uiUrl,
    release,
  };
}

export interface FindServerOptions {
  /** Start an embedded dev server when no other is found (commands that wait for their run); default false. */
  embedded?: boolean;
  /** The client settings; default {@link loadTemporalSettings} of this process's environment. */
  settings?: TemporalSettings;
  log?: (line: string) => void;
}

/**
 * Finds the Temporal server to use: the configured address (TEMPORAL_ADDRESS or a profile, with its TLS, API key
 * and headers), else the server of a running `access-perm dev`, else, when `embedded`, a dev server started for
 * this process and stopped by `release`. Local servers are plaintext and serve the configured namespace.
 *
 * @example
 * const server = await findServer({ embedded: true, log: console.error });
 * try { await withClient(server, (client) => …) } finally { await server.release() }
 */
export async function findServer(options: FindServerOptions = {}): Promise<TemporalServer> {
  const settings = options.settings ?? loadTemporalSettings();
  if (settings.address) {
    const source = settings.origin === 'TEMPORAL_ADDRESS' ? 'env' : 'profile';
    return {
      ...settings,
      address: settings.address,
      source,
      origin: settings.origin ?? source,
      uiUrl: null,
      release: async () => {},
    };
  }
  const state = await readServerState();
  if (state && (await isReachable(state.address, 1500))) {
    const served = state.namespaces ?? [DEFAULT_NAMESPACE];
    if (!served.includes(settings.namespace))
      throw new Error(
        `access-perm dev at ${state.address} serves namespace ${served.join(', ')}, not ${settings.namespace}: restart it with TEMPORAL_NAMESPACE=${settings.namespace}`,
      );
    return localServer(settings, state, 'access-perm dev');
  }
  if (!options.embedded)
    throw new Error(
      'no Temporal server: set TEMPORAL_ADDRESS (or a profile: TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE) or start `access-perm dev`',
    );
  options.log?.(`starting an embedded Temporal dev server (namespace ${settings.namespace})…`);
  // The same SQLite file as `access-perm dev`, so runs stay visible in its UI later.
  const server = await startDevServer({ dbFile: devDbFile(), namespaces: devNamespaces(settings) });
  return localServer(settings, server, 'embedded', () => server.stop());
}
