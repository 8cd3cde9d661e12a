import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorize,
  elevateUser,
  expireElevation,
  fileStore,
  PermissionDeniedError,
  queryAudit,
  verifyAudit,
} from '../../lib/governance';
import { PROJECT_ROOT } from '../../lib/paths';
import { elevationWorkflowId, type ElevationExpiryResult } from '../../schemas/governance';
import { TASK_QUEUE } from '../../workflows/definitions';
import {
  connectClient,
  startDevServer,
  startElevationExpiry,
  startLocalWorker,
  type DevServer,
  type LocalWorker,
} from '../../client';
import { serverFromEnv, useTempDataDir } from '../helpers';
import { makeTeam, type Team } from './fixtures';

const exec = promisify(execFile);
let team: Team;
const seconds = (s: number): number => s / 3600;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  await useTempDataDir('gov-elevation');
  team = await makeTeam();
});

describe('temporary elevation (seed-3 §6), without any worker', () => {
  it('applies at once, marks actions temporary, and expires by the clock alone', async () => {
    await expect(
      authorize(team.tokens.ANALYST, 'binning_override', { type: 'binning_table', id: 'r/age', runId: 'r' }),
    ).rejects.toBeInstanceOf(PermissionDeniedError);
    const grant = await elevateUser(
      { token: team.admin },
      {
        userId: 'analyst',
        role: 'MODELER',
        hours: seconds(2.5),
        reason: 'Temporary elevation for feature selection task',
      },
    );
    const who = await authorize(team.tokens.ANALYST, 'binning_override', {
      type: 'binning_table',
      id: 'r/age',
      runId: 'r',
    });
    expect(who).toMatchObject({ userId: 'analyst', role: 'MODELER', baseRole: 'ANALYST', temporaryRole: true });
    expect(who.elevationExpiresAt).toBe(grant.timer.expiresAt);

    const [assignment] = await queryAudit({ action: 'role_assignment', user_id: 'analyst' });
    expect(assignment).toMatchObject({
      old_role: 'ANALYST',
      new_role: 'MODELER',
      assigned_by: 'root',
      expiration: grant.timer.expiresAt,
      temporary_role: true,
      reason: 'Temporary elevation for feature selection task',
    });
    // An action under the elevation carries the temporary_role indicator.
    await authorize(team.tokens.ANALYST, 'lock_run', { type: 'run', id: 'r' }).catch(() => {});
    const [denied] = await queryAudit({ action: 'permission_denied', user_id: 'analyst', run_id: 'r', order: 'desc' });
    expect(denied).toMatchObject({ user_role: 'MODELER', temporary_role: true });

    await sleep(Date.parse(grant.timer.expiresAt) - Date.now() + 50);
    // No worker ran and the store still holds the elevation, yet the base role applies.
    expect((await fileStore.read('users')).users.analyst!.elevation).not.toBeNull();
    await expect(
      authorize(team.tokens.ANALYST, 'binning_override', { type: 'binning_table', id: 'r/age', runId: 'r' }),
    ).rejects.toMatchObject({
      user_role: 'ANALYST',
    });
  });

  it('refuses elevation without ADMIN, without reason, or beyond the limit', async () => {
    await expect(
      elevateUser({ token: team.tokens.MODELER }, { userId: 'analyst', role: 'MODELER', reason: 'please' }),
    ).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(
      elevateUser({ token: team.admin }, { userId: 'analyst', role: 'MODELER', reason: '' }),
    ).rejects.toThrow(/reason/);
    await expect(
      elevateUser({ token: team.admin }, { userId: 'analyst', role: 'MODELER', hours: 1000, reason: 'long' }),
    ).rejects.toThrow(/at most 168/);
  });

  it('expireElevation ends only the named elevation, once, and not before its time', async () => {
    const grant = await elevateUser(
      { token: team.admin },
      { userId: 'viewer', role: 'ANALYST', hours: 1, reason: 'demo prep' },
    );
    const early = await expireElevation({ userId: 'viewer', elevationId: grant.timer.elevationId });
    expect(early.expired).toBe(false);
    expect(early.remainingMs).toBeGreaterThan(3_000_000);
    expect(await expireElevation({ userId: 'viewer', elevationId: 'someone-else' })).toMatchObject({ expired: false });
    const later = Date.parse(grant.timer.expiresAt) + 1;
    expect(await expireElevation({ userId: 'viewer', elevationId: grant.timer.elevationId }, later)).toMatchObject({
      expired: true,
      roleNow: 'VIEWER',
    });
    expect(await expireElevation({ userId: 'viewer', elevationId: grant.timer.elevationId }, later)).toMatchObject({
      expired: false,
    });
    expect(await queryAudit({ action: 'role_elevation_expired', user_id: 'viewer' })).toHaveLength(1);
  });
});

describe('the elevationExpiry timer workflow on a real Temporal dev server', () => {
  let server: DevServer;
  let worker: LocalWorker;
  let client: Client;

  beforeAll(async () => {
    server = await startDevServer({ dbFile: join(process.env.ACCESS_PERM_DATA_DIR!, 'temporal.sqlite') });
    const target = await serverFromEnv(server.address);
    worker = await startLocalWorker(target, { overrides: { shutdownGraceTime: '1s' } });
    client = await connectClient(target);
  });

  afterAll(async () => {
    await client?.connection.close();
    await worker?.stop();
    await server?.stop();
  });

  it('records the expiry in the store and the audit log when the timer fires', async () => {
    const grant = await elevateUser(
      { token: team.admin },
      { userId: 'modeler', role: 'VALIDATOR', hours: seconds(2), reason: 'cover for the validation team' },
    );
    expect((await authorize(team.tokens.MODELER, 'lock_run', { type: 'run', id: 'r7' })).temporaryRole).toBe(true);
    const handle = await startElevationExpiry(client, grant.timer);
    expect(handle.workflowId).toBe(elevationWorkflowId('modeler', grant.timer.elevationId));
    const result = await handle.result();
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(grant.timer.expiresAt));
    expect(result).toEqual({
      expired: true,
      userId: 'modeler',
      elevationId: grant.timer.elevationId,
      roleNow: 'MODELER',
    });
    expect((await fileStore.read('users')).users.modeler!.elevation).toBeNull();
    const [expiry] = await queryAudit({ action: 'role_elevation_expired', user_id: 'modeler' });
    expect(expiry).toMatchObject({
      old_role: 'VALIDATOR',
      new_role: 'MODELER',
      assigned_by: 'system:elevation-timer',
      source: 'workflow',
      before: { role: 'VALIDATOR' },
      after: { role: 'MODELER' },
    });
    await expect(authorize(team.tokens.MODELER, 'lock_run', { type: 'run', id: 'r7' })).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
    // The history shows a durable timer, not a polling loop.
    const history = await handle.fetchHistory();
    expect(history.events?.some((e) => e.timerStartedEventAttributes)).toBe(true);
    expect((await verifyAudit()).ok).toBe(true);
  });

  it('`users elevate` starts the timer on TEMPORAL_ADDRESS, and it fires', async () => {
    const { TEMPORAL_ADDRESS: _a, ACCESS_PERM_TOKEN_FILE: _b, ...rest } = process.env;
    const out = await exec(
      'node',
      [
        'bin/access-perm.mjs',
        'users',
        'elevate',
        '--user',
        'viewer',
        '--role',
        'ANALYST',
        '--hours',
        String(seconds(1)),
        '--reason',
        'quick demo',
      ],
      { cwd: PROJECT_ROOT, env: { ...rest, ACCESS_PERM_TOKEN: team.admin, TEMPORAL_ADDRESS: server.address } },
    );
    const workflowId = /expiry timer workflow (elevation-viewer-\S+) started/.exec(out.stderr)?.[1];
    expect(workflowId, out.stderr).toBeDefined();
    const result = (await client.workflow.getHandle(workflowId!).result()) as ElevationExpiryResult;
    expect(result).toMatchObject({ expired: true, userId: 'viewer', roleNow: 'VIEWER' });
    expect((await fileStore.read('users')).users.viewer!.elevation).toBeNull();
  });

  it('rejects malformed input without retrying', async () => {
    const handle = await client.workflow.start('elevationExpiry', {
      taskQueue: TASK_QUEUE,
      workflowId: 'elevation-bad-input',
      args: [{ userId: 'modeler' }],
    });
    await expect(handle.result()).rejects.toThrow();
    const described = await handle.describe();
    expect(described.status.name).toBe('FAILED');
  });
});
