import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { clientConnectionOptions, describeServer, workerConnectionOptions, type TemporalServer } from './settings';

/**
 * The only place that opens connections to Temporal (DESIGN "Modules that own one thing"): the client's
 * `Connection` and the worker's `NativeConnection` take the same address, TLS, API key and headers.
 */

/** How long the client waits for a configured server to answer (the SDK's default, 10 s, is long for a typo). */
const CONNECT_TIMEOUT = '5s';

/** True when a local, plaintext Temporal frontend answers its health check at `address` within `timeoutMs`. */
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

/** A client of the server's namespace; close it with `client.connection.close()`. Fails naming the server. */
export async function connectClient(server: TemporalServer): Promise<Client> {
  const options = { ...clientConnectionOptions(server), connectTimeout: CONNECT_TIMEOUT };
  const connection = await Connection.connect(options).catch((e: unknown) => {
    throw unreachable(server, e);
  });
  return new Client({ connection, namespace: server.namespace });
}

/** The worker's connection to the server (its namespace goes to `Worker.create`). Fails naming the server. */
export async function connectWorker(server: TemporalServer): Promise<NativeConnection> {
  return NativeConnection.connect(workerConnectionOptions(server)).catch((e: unknown) => {
    throw unreachable(server, e);
  });
}

/** Runs `fn` with a client of the server and closes it afterwards. */
export async function withClient<T>(server: TemporalServer, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(server);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

function unreachable(server: TemporalServer, cause: unknown): Error {
  const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
  return new Error(`cannot connect to Temporal at ${describeServer(server)}: ${reason}`, { cause });
}
