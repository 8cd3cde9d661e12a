import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  assignRole,
  AuthenticationError,
  authorizeCapability,
  issueCapability,
  PermissionDeniedError,
  queryAudit,
} from '../../lib/governance';
import { useTempDataDir } from '../helpers';
import { makeTeam, type Team } from './fixtures';

let root: string;
let team: Team;
const request = { reason: 'validated for release' };
const execution = { workflowId: 'lifecycle-cap-run', workflowRunId: 'exec-1' };

beforeAll(async () => {
  root = await useTempDataDir('capabilities');
  team = await makeTeam();
});

const lockCapability = (
  token: string,
  runId = 'cap-run',
  body: Record<string, unknown> = request,
  ttlSeconds?: number,
) =>
  issueCapability(
    { token, source: 'cli' },
    { op: 'lockRun', runId, request: body, ...(ttlSeconds ? { ttlSeconds } : {}) },
  );
const use = (capability: unknown, step: string, body: Record<string, unknown> = request, runId = 'cap-run') =>
  authorizeCapability(capability, { op: 'lockRun', runId, request: body }, { ...execution, step }, 'lock_run', {
    type: 'run',
    id: runId,
    runId,
  });
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as AuthenticationError,
  );

describe('capabilities: what crosses Temporal instead of a token', () => {
  it('carries no token and works once, for the step that claimed it (a retried step may present it again)', async () => {
    const cap = await lockCapability(team.tokens.VALIDATOR);
    expect(JSON.stringify(cap)).not.toContain(team.tokens.VALIDATOR);
    expect(cap).toMatchObject({ v: 1, user: 'validator', op: 'lockRun', run: 'cap-run' });
    await expect(use(cap, '1')).resolves.toMatchObject({ userId: 'validator', role: 'VALIDATOR' });
    await expect(use(cap, '1')).resolves.toMatchObject({ userId: 'validator' });
    const again = await refusal(use(cap, '2'));
    expect(again).toBeInstanceOf(AuthenticationError);
    expect(again!.failure).toBe('capabilityUsed');
    const elsewhere = await refusal(
      authorizeCapability(
        cap,
        { op: 'lockRun', runId: 'cap-run', request },
        { workflowId: 'x', workflowRunId: 'y', step: '1' },
        'lock_run',
        { type: 'run', id: 'cap-run' },
      ),
    );
    expect(elsewhere!.failure).toBe('capabilityUsed');
    expect(await readdir(join(`${root}.keyring`, 'capability-claims'))).toContain(`${cap.id}.json`);
  });

  it('is refused for another run, operation or request, and when forged, edited, expired or missing; each audited', async () => {
    const cap = await lockCapability(team.tokens.VALIDATOR);
    expect((await refusal(use(cap, '1', request, 'other-run')))!.failure).toBe('capabilityMismatch');
    expect((await refusal(use(cap, '1', { reason: 'something else' })))!.failure).toBe('capabilityMismatch');
    const asDeploy = await refusal(
      authorizeCapability(
        cap,
        { op: 'approveDeployment', runId: 'cap-run', request },
        { ...execution, step: '9' },
        'approve_deployment',
        { type: 'run', id: 'cap-run' },
      ),
    );
    expect(asDeploy!.failure).toBe('capabilityMismatch');
    expect((await refusal(use({ ...cap, user: 'root' }, '1')))!.failure).toBe('signature');
    expect((await refusal(use({ ...cap, mac: '0'.repeat(64) }, '1')))!.failure).toBe('signature');
    expect((await refusal(use({ ...cap, extra: 1 }, '1')))!.failure).toBe('malformed');
    expect((await refusal(use(undefined, '1')))!.failure).toBe('missing');
    const short = await lockCapability(team.tokens.VALIDATOR, 'cap-run', request, 1);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await refusal(use(short, '1')))!.failure).toBe('expired');
    const audited = await queryAudit({ action: 'authentication_failed', run_id: 'cap-run' });
    expect(audited.length).toBeGreaterThanOrEqual(7);
    expect(JSON.stringify(audited)).not.toContain(cap.mac);
  });

  it('checks the role in force when it is used, not when it was issued, and needs a valid token to be issued', async () => {
    const cap = await lockCapability(team.tokens.MODELER);
    await expect(use(cap, '1')).rejects.toBeInstanceOf(PermissionDeniedError);
    const promoted = await lockCapability(team.tokens.ANALYST);
    await assignRole({ token: team.admin }, { userId: 'analyst', role: 'VALIDATOR', reason: 'joined validation' });
    await expect(use(promoted, '1')).resolves.toMatchObject({ userId: 'analyst', role: 'VALIDATOR' });
    await expect(lockCapability('not-a-token')).rejects.toBeInstanceOf(AuthenticationError);
    await expect(lockCapability(team.tokens.VALIDATOR, 'cap-run', request, 7200)).rejects.toThrow(
      /must be 1 to 3600 seconds/,
    );
  });
});
