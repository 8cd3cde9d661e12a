import { existsSync } from 'node:fs';
import type { ConnectionOptions, TLSConfig } from '@temporalio/client';
import { loadClientConnectConfig, type ConfigDataSource } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

/**
 * The standard Temporal client settings (the ones the `temporal` CLI and every SDK read), resolved once for the
 * client's `Connection` and the worker's `NativeConnection` alike.
 */
export interface TemporalSettings {
  /** host:port of the frontend; undefined when nothing sets one (then a local server is looked for). */
  address: string | undefined;
  namespace: string;
  /** TLS / mTLS: `true` for TLS with system roots, an object for a server CA, client cert/key or server name. */
  tls: TLSConfig | boolean | undefined;
  apiKey: string | undefined;
  /** gRPC headers sent with every request (TEMPORAL_GRPC_META_*, a profile's `grpc_meta`). */
  metadata: NativeConnectionOptions['metadata'];
  /** Where the address came from, for messages: `TEMPORAL_ADDRESS` or `profile 'prod' (/etc/temporal.toml)`. */
  origin: string | null;
}

export interface LoadSettingsOptions {
  /** The environment to read TEMPORAL_* from (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** A profile name; default TEMPORAL_PROFILE, else `default`. */
  profile?: string;
  /** The TOML config itself (path or content); default TEMPORAL_CONFIG_FILE, else the user's temporal.toml. */
  configSource?: ConfigDataSource;
}

/** Namespace used when neither TEMPORAL_NAMESPACE nor the profile names one. */
export const DEFAULT_NAMESPACE = 'default';

/**
 * Reads the standard Temporal client settings with `@temporalio/envconfig`: the profile (TEMPORAL_PROFILE, default
 * `default`) of the TOML config file (TEMPORAL_CONFIG_FILE, default `~/.config/temporalio/temporal.toml`), overridden
 * by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_* and TEMPORAL_GRPC_META_*.
 *
 * @example
 * const settings = loadTemporalSettings({ env: { TEMPORAL_ADDRESS: 'temporal:7233', TEMPORAL_NAMESPACE: 'prod' } });
 */
export function loadTemporalSettings(options: LoadSettingsOptions = {}): TemporalSettings {
  const env = definedValues(options.env ?? process.env);
  const configFile =
    options.configSource && 'path' in options.configSource ? options.configSource.path : env.TEMPORAL_CONFIG_FILE;
  // envconfig treats a missing file as "no file"; a file named on purpose that is not there is a mistake.
  if (configFile && !existsSync(configFile)) throw new Error(`Temporal config file ${configFile} does not exist`);
  const profile = options.profile ?? env.TEMPORAL_PROFILE ?? 'default';
  let loaded: ReturnType<typeof loadClientConnectConfig>;
  try {
    loaded = loadClientConnectConfig({
      profile: options.profile,
      configSource: options.configSource,
      overrideEnvVars: env,
    });
  } catch (e) {
    throw new Error(`Temporal settings: ${(e as Error).message}${configFile ? ` (${configFile})` : ''}`, { cause: e });
  }
  const { address, tls, apiKey, metadata } = loaded.connectionOptions;
  let origin: string | null = null;
  if (env.TEMPORAL_ADDRESS) origin = 'TEMPORAL_ADDRESS';
  else if (address) origin = `profile '${profile}' (${configFile ?? 'temporal.toml'})`;
  return {
    address,
    namespace: loaded.namespace ?? DEFAULT_NAMESPACE,
    tls: tls ?? undefined,
    apiKey: typeof apiKey === 'string' ? apiKey : undefined,
    metadata,
    origin,
  };
}

/** Where a server's address came from: the settings (env or profile), a running `access-perm dev`, or started here. */
export type ServerSource = 'env' | 'profile' | 'access-perm dev' | 'embedded';

/** A Temporal server to connect to: the settings with the address in use and where it came from. */
export interface TemporalServer extends TemporalSettings {
  address: string;
  source: ServerSource;
  origin: string;
  /** The Temporal UI of a local dev server, when it serves one. */
  uiUrl: string | null;
  /** Stops the server if this process started it; a no-op otherwise. */
  release(): Promise<void>;
}

/** `127.0.0.1:7233 (access-perm dev), namespace default`: which server, from where, and which namespace. */
export function describeServer(server: Pick<TemporalServer, 'address' | 'origin' | 'namespace'>): string {
  return `${server.address} (${server.origin}), namespace ${server.namespace}`;
}

/** What both kinds of connection take from the settings; the address is the server actually used. */
type ConnectionSettings = Pick<TemporalSettings, 'tls' | 'apiKey' | 'metadata'> & { address: string };

/** Options of the client's `Connection.connect`, from the settings. */
export function clientConnectionOptions(settings: ConnectionSettings): ConnectionOptions {
  return sharedOptions(settings);
}

/** Options of the worker's `NativeConnection.connect`: the same address, TLS, API key and headers as the client's. */
export function workerConnectionOptions(settings: ConnectionSettings): NativeConnectionOptions {
  return sharedOptions(settings);
}

function sharedOptions(settings: ConnectionSettings): ConnectionOptions & NativeConnectionOptions {
  return {
    address: settings.address,
    ...(settings.tls !== undefined ? { tls: settings.tls } : {}),
    ...(settings.apiKey !== undefined ? { apiKey: settings.apiKey } : {}),
    ...(settings.metadata !== undefined ? { metadata: settings.metadata } : {}),
  };
}

/** envconfig wants string values only. */
function definedValues(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
