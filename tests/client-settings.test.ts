import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  clientConnectionOptions,
  describeServer,
  findServer,
  loadTemporalSettings,
  localServer,
  workerConnectionOptions,
  type TemporalServer,
} from '../client';
import { useTempDataDir } from './helpers';

// The standard Temporal client settings, read by client/ and passed to the client's Connection and the worker's
// NativeConnection alike. No server: these tests look at the option objects the helpers build.

let dir: string;
/** Certificate files; their content is opaque to the settings (only a TLS handshake would read it). */
const pem = (what: string): string => `-----BEGIN ${what}-----\n${what.toLowerCase()}\n-----END ${what}-----\n`;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
let caPath: string;
let certPath: string;
let keyPath: string;
let configFile: string;

beforeAll(async () => {
  dir = await useTempDataDir('client-settings');
  caPath = join(dir, 'ca.pem');
  certPath = join(dir, 'client.pem');
  keyPath = join(dir, 'client.key');
  await writeFile(caPath, pem('CA'));
  await writeFile(certPath, pem('CERTIFICATE'));
  await writeFile(keyPath, pem('PRIVATE KEY'));
  configFile = join(dir, 'temporal.toml');
  await writeFile(
    configFile,
    [
      '[profile.default]',
      'address = "localhost:7233"',
      '',
      '[profile.staging]',
      'address = "staging.example.com:7233"',
      'namespace = "second"',
      'api_key = "staging-key"',
      '[profile.staging.tls]',
      'server_name = "frontend.staging"',
      `server_ca_cert_path = "${caPath}"`,
      `client_cert_data = """${pem('CERTIFICATE')}"""`,
      `client_key_data = """${pem('PRIVATE KEY')}"""`,
      '[profile.staging.grpc_meta]',
      'tenant_id = "acme"',
      '',
      '[profile.plain]',
      'address = "10.0.0.5:7233"',
      'namespace = "third"',
      '[profile.plain.tls]',
      'disabled = true',
    ].join('\n'),
  );
});

/** The server the settings name (as every command resolves it), and the options both connections get. */
async function optionsOf(env: NodeJS.ProcessEnv, profile?: string) {
  const server = await findServer({ settings: loadTemporalSettings({ env, ...(profile ? { profile } : {}) }) });
  const client = clientConnectionOptions(server);
  expect(workerConnectionOptions(server)).toEqual(client);
  return { server, options: client };
}

describe('Temporal settings from TEMPORAL_* environment variables', () => {
  it('pass address, namespace, API key (TLS on) and gRPC headers to the client and the worker', async () => {
    const { server, options } = await optionsOf({
      TEMPORAL_ADDRESS: 'prod.example.com:7233',
      TEMPORAL_NAMESPACE: 'prod',
      TEMPORAL_API_KEY: 'secret-key',
      TEMPORAL_GRPC_META_X_TENANT: 'acme',
    });
    expect(options).toEqual({
      address: 'prod.example.com:7233',
      apiKey: 'secret-key',
      tls: true,
      metadata: { 'x-tenant': 'acme' },
    });
    expect(server).toMatchObject({ namespace: 'prod', source: 'env', origin: 'TEMPORAL_ADDRESS' });
    expect(describeServer(server)).toBe('prod.example.com:7233 (TEMPORAL_ADDRESS), namespace prod');
  });

  it('pass mTLS: server CA, client certificate and key, server name', async () => {
    const { options } = await optionsOf({
      TEMPORAL_ADDRESS: 'mtls.example.com:7233',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: caPath,
      TEMPORAL_TLS_CLIENT_CERT_PATH: certPath,
      TEMPORAL_TLS_CLIENT_KEY_PATH: keyPath,
      TEMPORAL_TLS_SERVER_NAME: 'frontend.internal',
    });
    expect(options).toEqual({
      address: 'mtls.example.com:7233',
      tls: {
        serverNameOverride: 'frontend.internal',
        serverRootCACertificate: bytes(pem('CA')),
        clientCertPair: { crt: bytes(pem('CERTIFICATE')), key: bytes(pem('PRIVATE KEY')) },
      },
    });
  });

  it('TEMPORAL_TLS turns TLS on with system roots, or off even with an API key', async () => {
    expect((await optionsOf({ TEMPORAL_ADDRESS: 'a:7233', TEMPORAL_TLS: 'true' })).options.tls).toEqual({});
    const off = await optionsOf({ TEMPORAL_ADDRESS: 'a:7233', TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' });
    expect(off.options).toEqual({ address: 'a:7233', tls: false, apiKey: 'k' });
  });

  it('without settings: no address, namespace default, plaintext', () => {
    expect(loadTemporalSettings({ env: {} })).toEqual({
      address: undefined,
      namespace: 'default',
      tls: undefined,
      apiKey: undefined,
      metadata: undefined,
      origin: null,
    });
  });
});

describe('Temporal settings from a profile of the TOML config file', () => {
  it('selects the profile named by TEMPORAL_PROFILE: address, namespace, API key, TLS and headers', async () => {
    const { server, options } = await optionsOf({ TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'staging' });
    expect(options).toEqual({
      address: 'staging.example.com:7233',
      apiKey: 'staging-key',
      tls: {
        serverNameOverride: 'frontend.staging',
        serverRootCACertificate: bytes(pem('CA')),
        clientCertPair: { crt: bytes(pem('CERTIFICATE')), key: bytes(pem('PRIVATE KEY')) },
      },
      metadata: { 'tenant-id': 'acme' },
    });
    expect(server).toMatchObject({ namespace: 'second', source: 'profile' });
    expect(describeServer(server)).toBe(
      `staging.example.com:7233 (profile 'staging' (${configFile})), namespace second`,
    );
  });

  it('selects a profile by option, a disabled TLS stays off, and `default` is used when none is named', async () => {
    const plain = await optionsOf({ TEMPORAL_CONFIG_FILE: configFile }, 'plain');
    expect(plain.options).toEqual({ address: '10.0.0.5:7233', tls: false });
    expect(plain.server.namespace).toBe('third');
    const fallback = await optionsOf({ TEMPORAL_CONFIG_FILE: configFile });
    expect(fallback.options).toEqual({ address: 'localhost:7233' });
    expect(fallback.server).toMatchObject({ namespace: 'default', origin: `profile 'default' (${configFile})` });
  });

  it('TEMPORAL_* variables override the profile', async () => {
    const { server, options } = await optionsOf({
      TEMPORAL_CONFIG_FILE: configFile,
      TEMPORAL_PROFILE: 'staging',
      TEMPORAL_ADDRESS: 'other.example.com:7233',
      TEMPORAL_NAMESPACE: 'fourth',
      TEMPORAL_TLS_SERVER_NAME: 'frontend.other',
      TEMPORAL_GRPC_META_TENANT_ID: '',
    });
    expect(options).toMatchObject({ address: 'other.example.com:7233', apiKey: 'staging-key', metadata: {} });
    expect((options.tls as { serverNameOverride: string }).serverNameOverride).toBe('frontend.other');
    expect(server).toMatchObject({ namespace: 'fourth', source: 'env', origin: 'TEMPORAL_ADDRESS' });
  });

  it('names an unknown profile or a missing config file', () => {
    expect(() => loadTemporalSettings({ env: { TEMPORAL_CONFIG_FILE: configFile, TEMPORAL_PROFILE: 'nope' } })).toThrow(
      `Temporal settings: Profile 'nope' not found in config data (${configFile})`,
    );
    expect(() => loadTemporalSettings({ env: { TEMPORAL_CONFIG_FILE: join(dir, 'missing.toml') } })).toThrow(
      /Temporal config file .*missing\.toml does not exist/,
    );
  });
});

describe('servers found without a configured address', () => {
  it('local dev servers are plaintext and serve the configured namespace', () => {
    const settings = loadTemporalSettings({ env: { TEMPORAL_NAMESPACE: 'second', TEMPORAL_API_KEY: 'cloud-only' } });
    const server: TemporalServer = localServer(settings, { address: '127.0.0.1:7233', uiUrl: null }, 'embedded');
    expect(clientConnectionOptions(server)).toEqual({ address: '127.0.0.1:7233' });
    expect(workerConnectionOptions(server)).toEqual({ address: '127.0.0.1:7233' });
    expect(describeServer(server)).toBe('127.0.0.1:7233 (embedded), namespace second');
  });

  it('without `access-perm dev` and without an embedded server, say how to configure one', async () => {
    await expect(findServer({ settings: loadTemporalSettings({ env: {} }) })).rejects.toThrow(
      /no Temporal server: set TEMPORAL_ADDRESS \(or a profile: TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE\) or start `access-perm dev`/,
    );
  });
});
