import { appendFile, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  configVersionPath,
  createConfigAs,
  deleteConfigAs,
  editConfigAs,
  listConfigsAs,
  registeredConfigPathAs,
  shareConfigAs,
  showConfigAs,
} from '../lib/configs';
import { keyringDir, RecordSignatureError, signRecord } from '../lib/keys';
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
import { cliInProcess, runCreator, smallConfig, testExecution, useTempDataDir, writeConfig } from './helpers';
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
  // The locked run starts from a registered config, which then cannot be deleted.
  await trainedRun(root, 'del-locked', async (yaml) => {
    await createConfigAs({ token: admin }, { id: 'locked-cfg', document: yaml, visibility: 'team' });
    return configVersionPath('locked-cfg', 1);
  });
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

describe('the config registry (seed-3 config management)', () => {
  const yaml = async () => readFile(join(root, 'del-done.yaml'), 'utf8');
  const withParams = (text: string, params: Record<string, unknown>) => {
    const doc = parse(text) as { model: { catboost: Record<string, unknown> } };
    Object.assign(doc.model.catboost, params);
    return stringify(doc);
  };

  it('a locked run records the registered config it started from; that config cannot be deleted', async () => {
    expect((await readRunInfo(await resolveRunDir('del-locked'))).registeredConfig).toMatchObject({
      id: 'locked-cfg',
      version: 1,
    });
    await expect(deleteConfigAs({ token: tokens.MODELER }, { id: 'locked-cfg', reason: 'tidy' })).rejects.toThrow(
      /config locked-cfg cannot be deleted: del-locked \(locked\) used it/,
    );
  });

  it('creates, versions, shares and deletes with the seed roles; a VIEWER sees only what is shared with everyone', async () => {
    const analyst = { token: tokens.ANALYST };
    await expect(createConfigAs({ token: tokens.VIEWER }, { id: 'x', document: await yaml() })).rejects.toMatchObject({
      required_permission: 'create_config',
    });
    // Choosing features is select_features: an ANALYST may, without review.
    const created = await createConfigAs(analyst, {
      id: 'churn',
      document: withParams(await yaml(), { ignored_features: ['managerId'] }),
      reason: 'first draft',
    });
    expect(created).toMatchObject({ owner: 'analyst', visibility: 'private', versions: [{ version: 1 }] });
    await expect(createConfigAs(analyst, { id: 'churn', document: await yaml() })).rejects.toThrow(/already exists/);
    await expect(createConfigAs(analyst, { id: 'bad', document: 'model: 3' })).rejects.toThrow(
      /^config bad: invalid config — /,
    );
    // Private: invisible to a MODELER, as if it did not exist.
    await expect(showConfigAs({ token: tokens.MODELER }, 'churn')).rejects.toThrow(/^no config "churn"$/);
    // Regularisation stays MODELER's; feature selection is the ANALYST's to change.
    await expect(
      editConfigAs(analyst, {
        id: 'churn',
        document: withParams(await yaml(), { l2_leaf_reg: 30 }),
        reason: 'tighter',
      }),
    ).rejects.toMatchObject({ required_permission: 'adjust_regularization' });
    const v2 = await editConfigAs(analyst, { id: 'churn', document: await yaml(), reason: 'keep every feature' });
    expect(v2.versions.map((v) => v.version)).toEqual([1, 2]);
    await expect(
      shareConfigAs({ token: tokens.MODELER }, { id: 'churn', visibility: 'team', reason: 'review' }),
    ).rejects.toThrow(/^no config/);
    await shareConfigAs(analyst, { id: 'churn', visibility: 'team', reason: 'for review' });
    const v3 = await editConfigAs(
      { token: tokens.MODELER },
      { id: 'churn', document: withParams(await yaml(), { l2_leaf_reg: 30 }), reason: 'tighter' },
    );
    expect(v3.versions.at(-1)).toMatchObject({ version: 3, by: { userId: 'modeler' } });
    expect((await listConfigsAs({ token: tokens.VIEWER })).map((c) => c.id)).toEqual([]);
    // A team config is shared by anyone who may share configs (seed-3: ANALYST, MODELER, ADMIN); never by a VALIDATOR.
    await expect(
      shareConfigAs({ token: tokens.VALIDATOR }, { id: 'churn', visibility: 'everyone', reason: 'all' }),
    ).rejects.toMatchObject({ required_permission: 'share_config' });
    await shareConfigAs({ token: tokens.MODELER }, { id: 'churn', visibility: 'everyone', reason: 'publish' });
    const shown = await showConfigAs({ token: tokens.VIEWER }, 'churn@1');
    expect(shown.version.version).toBe(1);
    expect(shown.document).toContain('managerId');
    await expect(deleteConfigAs(analyst, { id: 'churn', reason: 'x' })).rejects.toMatchObject({
      required_permission: 'delete_config',
    });
    await deleteConfigAs({ token: tokens.MODELER }, { id: 'churn', reason: 'superseded' });
    await expect(registeredConfigPathAs(analyst, 'churn')).rejects.toThrow(/was deleted by modeler/);
    const actions = (await queryAudit({ resource_type: 'config' })).filter((e) => e.resource_id === 'churn');
    expect(actions.map((e) => `${e.action} ${e.user_id}`)).toEqual([
      'config_created analyst',
      'permission_denied analyst', // adjust_regularization
      'config_edited analyst',
      'config_shared analyst',
      'config_edited modeler',
      'permission_denied validator', // share_config
      'config_shared modeler',
      'permission_denied analyst', // delete_config
      'config_deleted modeler',
    ]);
  });

  it('a version file or record changed outside access-perm is refused', async () => {
    await createConfigAs({ token: admin }, { id: 'tampered', document: await yaml(), visibility: 'everyone' });
    await appendFile(configVersionPath('tampered', 1), '# edited\n');
    await expect(showConfigAs({ token: admin }, 'tampered')).rejects.toThrow(
      /config tampered version 1 was changed outside access-perm/,
    );
    const record = join(root, 'configs', 'tampered', 'record.json');
    const doc = JSON.parse(await readFile(record, 'utf8')) as { owner: string };
    await writeFile(record, JSON.stringify({ ...doc, owner: 'viewer' }));
    await expect(showConfigAs({ token: admin }, 'tampered')).rejects.toBeInstanceOf(RecordSignatureError);
  });

  it('an older signed record put back, or the record deleted, is refused: the keyring pins its sequence', async () => {
    const record = join(root, 'configs', 'pinned', 'record.json');
    await createConfigAs({ token: admin }, { id: 'pinned', document: await yaml(), visibility: 'everyone' });
    const shared = await readFile(record, 'utf8');
    await shareConfigAs({ token: admin }, { id: 'pinned', visibility: 'private', reason: 'withdrawn' });
    const withdrawn = await readFile(record, 'utf8');
    await deleteConfigAs({ token: admin }, { id: 'pinned', reason: 'superseded' });
    const deleted = await readFile(record, 'utf8');
    try {
      // Made public again by putting the older record back: refused, not shown to a VIEWER.
      await writeFile(record, shared);
      await expect(showConfigAs({ token: tokens.VIEWER }, 'pinned')).rejects.toThrow(
        /record of config pinned .* is signed but is not the latest one access-perm wrote \(write 1 of 3: an older copy was put back\)/,
      );
      // Undeleted the same way: no run starts from it.
      await writeFile(record, withdrawn);
      await expect(registeredConfigPathAs({ token: admin }, 'pinned')).rejects.toThrow(/write 2 of 3/);
      // Removed: not a config that never existed (it cannot be registered again under the id either).
      await rm(record);
      await expect(showConfigAs({ token: admin }, 'pinned')).rejects.toThrow(
        /record of config pinned .* was deleted after access-perm wrote it \(write 3, which the keyring holds\): refused; restore it from a backup/,
      );
      await expect(createConfigAs({ token: admin }, { id: 'pinned', document: await yaml() })).rejects.toThrow(
        /was deleted after access-perm wrote it/,
      );
    } finally {
      await writeFile(record, deleted);
    }
    await expect(registeredConfigPathAs({ token: admin }, 'pinned')).rejects.toThrow(/was deleted by root/);
  });

  it('a record signed before records were sequenced is adopted once, audited; a copy of it afterwards is refused', async () => {
    await createConfigAs({ token: admin }, { id: 'legacy', document: await yaml(), visibility: 'everyone' });
    const record = join(root, 'configs', 'legacy', 'record.json');
    const {
      signature: _,
      sequence: __,
      ...current
    } = JSON.parse(await readFile(record, 'utf8')) as Record<string, unknown>;
    const legacy = `${JSON.stringify(await signRecord({ ...current, format: 'access-perm/config@1' }), null, 2)}\n`;
    // As an installation from before sequences has it: the record signed, no pin in the keyring.
    await rm(join(keyringDir(), 'pins', 'config-registry', 'legacy.seq'));
    await writeFile(record, legacy);
    await expect(showConfigAs({ token: tokens.VIEWER }, 'legacy')).resolves.toMatchObject({
      record: { format: 'access-perm/config@2', sequence: 1, id: 'legacy' },
    });
    expect(await queryAudit({ action: 'config_adopted' })).toEqual([
      expect.objectContaining({ user_id: 'system', resource_id: 'legacy', status: 'success' }),
    ]);
    await writeFile(record, legacy);
    await expect(showConfigAs({ token: admin }, 'legacy')).rejects.toThrow(
      /written before config records were sequenced, and the keyring holds write 1: an older copy was put back/,
    );
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
    expect(saved).toEqual({ ...report, record_of: expect.stringMatching(/golden/), signature: expect.any(Object) });
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
    // A failed report edited into a pass in the data directory is refused where it is shown, not shown as passed.
    const failed = join(await resolveRunDir('del-done'), 'golden', `${results.golden[1]!.id}.json`);
    const recorded = await readFile(failed, 'utf8');
    await writeFile(failed, recorded.replace('"passed": false', '"passed": true'));
    await expect(validationResultsAs({ token: tokens.VIEWER }, 'del-done')).rejects.toThrow(
      /does not match its signature/,
    );
    await writeFile(failed, recorded);
    const env = { ...process.env, ACCESS_PERM_TOKEN: tokens.VALIDATOR };
    const cli = await cliInProcess(
      env,
      'golden',
      'run',
      'del-done',
      '--against',
      'del-locked',
      '--score-tolerance',
      '0',
    );
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
    // A link in place of the log is refused before anything is written: the entry cannot be written.
    await symlink('/dev/full', auditLogPath());
    try {
      await expect(deleteRunAs({ token: tokens.MODELER }, 'del-done', 'tidy')).rejects.toThrow(
        /cannot write the audit log .* symbolic link inside the data directory/,
      );
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
    const deleted = await cliInProcess(env, 'runs', 'delete', 'del-running', '--reason', 'bad data, never used');
    expect(deleted).toMatchObject({ code: 0, stderr: '' });
    expect(deleted.stdout).toMatch(/^run del-running deleted \(was failed\): \d+ files, \d+ B removed/);
    const show = await cliInProcess(env, 'runs', 'show', 'del-running');
    expect(show.stdout).toMatch(/^deleted +by root \(ADMIN\) at .*: bad data, never used$/m);
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
