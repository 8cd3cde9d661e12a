import { beforeAll, describe, expect, it } from 'vitest';
import {
  addUser,
  assignRole,
  authorize,
  canApproveDelegated,
  delegateApproval,
  issueToken,
  PermissionDeniedError,
  queryAudit,
} from '../../lib/governance';
import { useTempDataDir } from '../helpers';
import { makeTeam, type Team } from './fixtures';

let team: Team;
let analyst2: string;

beforeAll(async () => {
  await useTempDataDir('gov-delegation');
  team = await makeTeam();
  await addUser({ token: team.admin }, { userId: 'analyst2', role: 'ANALYST', reason: 'second analyst' });
  analyst2 = (await issueToken({ token: team.admin }, { userId: 'analyst2' })).token;
});

const delegate = (token: string, patch: Partial<{ overrideId: string; delegateTo: string; reason: string }> = {}) =>
  delegateApproval(
    { token },
    {
      overrideId: 'ovr-1',
      runId: 'run-7',
      delegateTo: 'analyst',
      reason: 'routine age split, analyst knows the data',
      ...patch,
    },
  );

describe('delegated override approval (seed-3 §6)', () => {
  it('a MODELER delegates to a named ANALYST; the audit entry records both people', async () => {
    const d = await delegate(team.tokens.MODELER);
    expect(d).toMatchObject({
      overrideId: 'ovr-1',
      runId: 'run-7',
      delegatedBy: 'modeler',
      delegatedTo: 'analyst',
      status: 'active',
    });
    const [entry] = await queryAudit({ action: 'delegation_created', run_id: 'run-7' });
    expect(entry).toMatchObject({
      user_id: 'modeler',
      user_role: 'MODELER',
      delegated_by: 'modeler',
      delegated_to: 'analyst',
      delegation_id: d.id,
      resource_type: 'override',
      resource_id: 'ovr-1',
      correlation_id: 'run-7',
      reason: 'routine age split, analyst knows the data',
    });
  });

  it('only the named ANALYST may approve, and gets the fields for the approval entry', async () => {
    const me = await authorize(team.tokens.ANALYST, 'view_binning', { type: 'override', id: 'ovr-1', runId: 'run-7' });
    const yes = await canApproveDelegated(me, 'run-7', 'ovr-1');
    expect(yes).toMatchObject({ allowed: true, audit: { delegated_by: 'modeler', delegated_to: 'analyst' } });
    // Every run has an ovr-1: the delegation is for run-7's only.
    expect(await canApproveDelegated(me, 'run-8', 'ovr-1')).toMatchObject({ allowed: false });
    const other = await canApproveDelegated(await authorize(analyst2, 'view_binning'), 'run-7', 'ovr-1');
    expect(other).toEqual({ allowed: false, reason: 'override ovr-1 is delegated to analyst, not to you' });
    expect(await canApproveDelegated(me, 'run-7', 'ovr-unknown')).toMatchObject({ allowed: false });
  });

  it('is refused to those who may not override, to non-ANALYST delegates, to oneself and twice', async () => {
    await expect(delegate(team.tokens.ANALYST, { overrideId: 'ovr-2' })).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(delegate(team.tokens.VALIDATOR, { overrideId: 'ovr-2' })).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
    await expect(delegate(team.tokens.MODELER, { overrideId: 'ovr-2', delegateTo: 'viewer' })).rejects.toThrow(
      /delegated to an ANALYST; viewer is VIEWER/,
    );
    await expect(delegate(team.tokens.MODELER, { overrideId: 'ovr-2', delegateTo: 'modeler' })).rejects.toThrow(
      /oneself|ANALYST/,
    );
    await expect(delegate(team.tokens.MODELER, { overrideId: 'ovr-2', reason: ' ' })).rejects.toThrow(/reason/);
    await expect(delegate(team.tokens.MODELER)).rejects.toThrow(/already delegated to analyst/);
  });

  it('lapses when the delegate is no longer an ANALYST or the modeler may no longer override', async () => {
    await delegate(team.tokens.MODELER, { overrideId: 'ovr-3', delegateTo: 'analyst2' });
    await assignRole({ token: team.admin }, { userId: 'modeler', role: 'ANALYST', reason: 'moved teams' });
    const decision = await canApproveDelegated(await authorize(analyst2, 'view_binning'), 'run-7', 'ovr-3');
    expect(decision).toMatchObject({
      allowed: false,
      reason: expect.stringMatching(/modeler, who delegated it, may no longer make overrides/),
    });
    await assignRole({ token: team.admin }, { userId: 'modeler', role: 'MODELER', reason: 'back' });
    expect(await canApproveDelegated(await authorize(analyst2, 'view_binning'), 'run-7', 'ovr-3')).toMatchObject({
      allowed: true,
    });
    await assignRole({ token: team.admin }, { userId: 'analyst2', role: 'VIEWER', reason: 'left the team' });
    expect(await canApproveDelegated(await authorize(analyst2, 'view_binning'), 'run-7', 'ovr-3')).toMatchObject({
      allowed: false,
      reason: expect.stringMatching(/your role is now VIEWER/),
    });
  });
});
