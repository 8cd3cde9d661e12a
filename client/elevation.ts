import type { Client } from '@temporalio/client';
import type { ElevationTimerInput } from '../schemas/governance';
import { connectClient } from './connection';
import { findServer } from './server';
import { describeServer, type TemporalServer } from './settings';
import { startElevationExpiry } from './workflows';

/**
 * Starts an elevation's expiry timer workflow on the running server (the configured one or `access-perm dev`'s)
 * and says where. Without a server it says so instead of failing: every permission check compares the expiry time.
 */
export async function startElevationTimer(timer: ElevationTimerInput): Promise<string> {
  let server: TemporalServer;
  let client: Client;
  try {
    server = await findServer();
    client = await connectClient(server);
  } catch (e) {
    return `expiry timer not started (${(e as Error).message}): the expiry still holds at every check`;
  }
  try {
    const handle = await startElevationExpiry(client, timer);
    return `expiry timer workflow ${handle.workflowId} started on ${describeServer(server)}`;
  } finally {
    await client.connection.close();
  }
}
