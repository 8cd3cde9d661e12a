import { readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RecordSignatureError } from '../lib/keys';
import { UnknownRunError } from '../lib/errors';
import { addUser, auditLogPath, issueToken, PermissionDeniedError, queryAudit } from '../lib/governance';
import { lockRun } from '../lib/lifecycle/lock';
import { registerSchedule } from '../lib/monitor/store';
import { exportGoldenReferenceAs, goldenComparisonAs, validationResultsAs } from '../lib/lifecycle/golden';
import { deleteRunAs } from '../lib/pipeline/deleteRun';
import { prepareRun } from '../lib/pipeline/prepare';
import { recordRunEnd } from '../lib/pipeline/runEnd';
import { listRuns, readRunInfo, resolveRunDir, showRun, TOMBSTONE_FILE } from '../lib/run';
import type { Role } from '../schemas/governance';
import { runCli, runCreator, smallConfig, testExecution, useTempDataDir, writeConfig } from './helpers';
import { trainedRun } from './scoringRun';

let root: string;
let admin: string;
const tokens = {} as Record<Exclude<Role, 'ADMIN'>, string>;
const state = async (runId: string) => (await listRuns()).find((r) => r.runId === runId)?.state;

beforeAll(async () => {
  root = await useTempDataDir('run-operations');
  admin = (await runCreator()).token;
  for (const role of ['VIEWER', 'ANALYST', 'MODELER', 'VALIDATOR'] as const) {
    await addUser({ token: admin }, { userId: role.toLowerCase(), role, reason: 'delete tests' });
    tokens[role] = (await issueToken({ token: admin }, { userId: role.toLowerCase() })).token;
  }
  await trainedRun(root, 'del-done');
  await trainedRun(root, 'del-locked');
  await registerSchedule({
    runId: 'del-locked',
    scheduleId: 'monitor-del-locked',
    cron: '0 3 * * *',
    current: join(root, 'data', 'interactions.csv'),
    configuredBy: 'root',
    configuredAt: new Date().toISOString(),
  });
  await lockRun({
    runId: 'del-locked',
    runDir: await resolveRunDir('del-locked'),
    version: 1,
    reproducibilityPassed: true,
    actor: { userId: 'validator', role: 'VALIDATOR' },
    reason: 'ready',
    claim: 'test:1',
  });
});

describe('golden comparison (golden_comparison: MODELER, VALIDATOR, ADMIN; results readable by every role)', () => {
  it('passes a run trained again on the same inputs against the locked one, byte-identical model required', async () => {
    const report = await goldenComparisonAs(
      { token: tokens.VALIDATOR },
      { runId: 'del-done', against: { runId: 'del-locked' }, tolerances: { same_model: true, score: 0, metric: 0 } },
    );
    expect(report.passed).toBe(true);
    expect(report.reference).toMatchObject({ kind: 'run', runId: 'del-locked', version: 1 });
    expect(report.checks.map((c) => c.name)).toEqual([
      'model_sha256',
      'metric:rocAuc',
      'metric:prAuc',
      'metric:logloss',
      'metric:brier',
      'metric:accuracy',
      'predictions:rows',
      'predictions:max_abs_diff',
    ]);
    const saved = JSON.parse(
      await readFile(join(await resolveRunDir('del-done'), 'golden', `${report.id}.json`), 'utf8'),
    );
    expect(saved).toEqual(report);
    expect(await queryAudit({ action: 'golden_comparison', run_id: 'del-done' })).toEqual([
      expect.objectContaining({ user_id: 'validator', status: 'success', result: 'passed' }),
    ]);
  });

  it('fails, naming the check, against a reference file whose prediction moved; an unlocked run is no reference', async () => {
    const reference = await exportGoldenReferenceAs({ token: tokens.MODELER }, 'del-locked');
    const [key, score] = reference.predictions[7]!;
    reference.predictions[7] = [key, score > 0.5 ? score - 0.3 : score + 0.3];
    const report = await goldenComparisonAs(
      { token: tokens.MODELER },
      { runId: 'del-done', against: { reference, name: 'moved.json' } },
    );
    expect(report.passed).toBe(false);
    expect(report.checks.filter((c) => !c.passed).map((c) => c.name)).toEqual(['predictions:max_abs_diff']);
    expect(report.checks.find((c) => c.name === 'predictions:max_abs_diff')!.detail).toContain(key.split('\u001f')[0]!);
    expect(report.reference).toMatchObject({ kind: 'file', runId: 'del-locked' });
    expect(await queryAudit({ action: 'golden_comparison', status: 'failure' })).toHaveLength(1);
    await expect(
      goldenComparisonAs({ token: tokens.MODELER }, { runId: 'del-locked', against: { runId: 'del-done' } }),
    ).rejects.toThrow(/run del-done is not locked: a golden reference must be a locked run/);
    await expect(
      goldenComparisonAs(
        { token: tokens.MODELER },
        { runId: 'del-done', against: { reference: { format: 'x' }, name: 'bad.json' } },
      ),
    ).rejects.toThrow(/^bad\.json is not a golden reference: format: /);
  });

  it('is denied to VIEWER and ANALYST before anything is read; every role reads the results', async () => {
    for (const role of ['VIEWER', 'ANALYST'] as const)
      await expect(
        goldenComparisonAs({ token: tokens[role] }, { runId: 'no-such-run', against: { runId: 'del-locked' } }),
      ).rejects.toMatchObject({ required_permission: 'golden_comparison', user_role: role });
    const results = await validationResultsAs({ token: tokens.VIEWER }, 'del-done');
    expect(results.golden.map((g) => g.passed)).toEqual([true, false]);
    const env = { ...process.env, ACCESS_PERM_TOKEN: tokens.VALIDATOR };
    const cli = await runCli(env, 'golden', 'run', 'del-done', '--against', 'del-locked', '--score-tolerance', '0');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^ok   predictions:max_abs_diff +largest \|Δ probability\| 0\.000e\+0/m);
    expect(cli.stdout).toMatch(/golden comparison g-\S+ of del-done v1: passed\n$/);
  });
});

describe('runs delete (delete_run_artifacts: MODELER, ADMIN)', () => {
  it('is denied to VIEWER, ANALYST and VALIDATOR before the run is looked up', async () => {
    for (const role of ['VIEWER', 'ANALYST', 'VALIDATOR'] as const) {
      const e = await deleteRunAs({ token: tokens[role] }, 'no-such-run', 'tidy').catch((x: unknown) => x);
      expect(e, role).toBeInstanceOf(PermissionDeniedError);
      expect(e).toMatchObject({ required_permission: 'delete_run_artifacts', user_role: role });
    }
    await expect(deleteRunAs({ token: tokens.MODELER }, 'no-such-run', 'tidy')).rejects.toBeInstanceOf(UnknownRunError);
  });

  it('refuses a locked run, and a running one, naming why; nothing is removed or audited', async () => {
    const lockedDir = await resolveRunDir('del-locked');
    await expect(deleteRunAs({ token: tokens.MODELER }, 'del-locked', 'tidy')).rejects.toThrow(
      /run del-locked cannot be deleted: a locked run is immutable/,
    );
    const config = await writeConfig(root, 'running.yaml', smallConfig(join(root, 'data')));
    await prepareRun('del-running', config, (await runCreator()).identity, testExecution('del-running'));
    expect(await state('del-running')).toBe('running');
    await expect(deleteRunAs({ token: admin }, 'del-running', 'tidy')).rejects.toThrow(
      /run del-running cannot be deleted: it is still running: cancel it first/,
    );
    expect(await queryAudit({ action: 'run_deleted' })).toEqual([]);
    expect((await readdir(lockedDir)).length).toBeGreaterThan(10);
  });

  it('a deletion that cannot be audited removes nothing and leaves no tombstone or temp file', async () => {
    const dir = await resolveRunDir('del-done');
    const before = (await readdir(dir)).sort();
    const saved = `${auditLogPath()}.saved`;
    await rename(auditLogPath(), saved);
    await symlink('/dev/full', auditLogPath());
    try {
      await expect(deleteRunAs({ token: tokens.MODELER }, 'del-done', 'tidy')).rejects.toThrow(/disk is full/);
    } finally {
      await rm(auditLogPath(), { force: true });
      await rename(saved, auditLogPath());
    }
    expect((await readdir(dir)).sort()).toEqual(before);
    expect(await state('del-done')).toBe('completed');
  });

  it('removes the artifacts of a completed run, keeping a signed tombstone with the manifest; audited with the before state', async () => {
    const dir = await resolveRunDir('del-done');
    const manifest = (await showRun('del-done')).manifest!;
    const { tombstone } = await deleteRunAs({ token: tokens.MODELER }, 'del-done', 'superseded by del-2');
    expect(await readdir(dir)).toEqual([TOMBSTONE_FILE]);
    expect(tombstone).toMatchObject({
      runId: 'del-done',
      deleted_by: { userId: 'modeler', role: 'MODELER' },
      reason: 'superseded by del-2',
      state_before: 'completed',
      info: { createdBy: { userId: 'root' } },
      manifest,
    });
    expect(tombstone.removed.files).toBeGreaterThan(manifest.artifacts.length);
    expect(await state('del-done')).toBe('deleted');
    expect(await showRun('del-done')).toMatchObject({ state: 'deleted', tombstone, manifest, metrics: null });
    await expect(readRunInfo(dir)).rejects.toThrow(/^run del-done was deleted by modeler at .*: superseded by del-2$/);
    expect(await queryAudit({ action: 'run_deleted' })).toEqual([
      expect.objectContaining({
        user_id: 'modeler',
        resource_id: 'del-done',
        correlation_id: 'del-done',
        before: {
          state: 'completed',
          files: tombstone.removed.files,
          bytes: tombstone.removed.bytes,
          artifacts: manifest.artifacts.length,
        },
        after: { state: 'deleted' },
        reason: 'superseded by del-2',
      }),
    ]);
    await expect(deleteRunAs({ token: admin }, 'del-done', 'again')).rejects.toThrow(
      /run del-done was already deleted by modeler/,
    );
  });

  it('a failed run can be deleted; from the CLI, runs show names who deleted it', async () => {
    await recordRunEnd(
      'del-running',
      { state: 'failed', step: 'validate', error: 'bad data' },
      testExecution('del-running'),
    );
    expect(await state('del-running')).toBe('failed');
    const env = { ...process.env, ACCESS_PERM_TOKEN: admin };
    const deleted = await runCli(env, 'runs', 'delete', 'del-running', '--reason', 'bad data, never used');
    expect(deleted).toMatchObject({ code: 0, stderr: '' });
    expect(deleted.stdout).toMatch(/^run del-running deleted \(was failed\): \d+ files, \d+ B removed/);
    const show = await runCli(env, 'runs', 'show', 'del-running');
    expect(show.stdout).toMatch(/^deleted +by root \(ADMIN\) at .*: bad data, never used$/m);
    const viewer = await runCli(
      { ...process.env, ACCESS_PERM_TOKEN: tokens.VIEWER },
      ...['runs', 'delete', 'del-locked', '--reason', 'tidy'],
    );
    expect(viewer.code).toBe(3);
  });

  it('a tombstone written by hand is refused: the run is unreadable, not deleted', async () => {
    const dir = await resolveRunDir('del-locked');
    const real = JSON.parse(await readFile(join(await resolveRunDir('del-done'), TOMBSTONE_FILE), 'utf8')) as object;
    await writeFile(join(dir, TOMBSTONE_FILE), JSON.stringify({ ...real, runId: 'del-locked', signature: undefined }));
    expect(await state('del-locked')).toBe('unreadable');
    await expect(showRun('del-locked')).rejects.toBeInstanceOf(RecordSignatureError);
    await expect(deleteRunAs({ token: admin }, 'del-locked', 'tidy')).rejects.toBeInstanceOf(RecordSignatureError);
    await rm(join(dir, TOMBSTONE_FILE));
    expect(await state('del-locked')).toBe('locked');
  });
});
