import { readdir, readFile, rename, rm, symlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogPath, PermissionDeniedError, setSystemConfigAs, systemConfigAs } from '../../lib/governance';
import { keyringDir } from '../../lib/keys';
import { raiseAlerts } from '../../lib/monitor/alerts';
import { readOutbox } from '../../lib/notify';
import { readSettings, settingKeys, settingsPath } from '../../lib/settings';
import { settingsSchema } from '../../schemas/settings';
import { cliInProcess, useTempDataDir } from '../helpers';
import { auditLines, makeTeam, type Team } from './fixtures';

let team: Team;
const settingsText = (): Promise<string | null> => readFile(settingsPath(), 'utf8').catch(() => null);

beforeAll(async () => {
  await useTempDataDir('gov-system-config');
  team = await makeTeam();
});

describe('system configuration (system_configuration: ADMIN only)', () => {
  it('seed-3 §8 scenario 2: a MODELER setting spark_partitions is denied before the key is looked at, and audited', async () => {
    const before = await auditLines();
    const e = await setSystemConfigAs({ token: team.tokens.MODELER }, 'spark_partitions', 4, 'more parallelism').catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(PermissionDeniedError);
    // The seed's body: the key is unknown, yet the answer is the denial, not "no such setting".
    expect((e as PermissionDeniedError).toResponse()).toMatchObject({
      error: 'Permission denied',
      required_permission: 'system_configuration',
      minimum_role: 'ADMIN',
      user_role: 'MODELER',
    });
    const added = (await auditLines()).slice(before.length);
    expect(added).toEqual([
      expect.objectContaining({
        action: 'permission_denied',
        user_id: 'modeler',
        attempted_action: 'system_configuration',
        status: 'denied',
        resource_type: 'system_config',
      }),
    ]);
    expect(await settingsText()).toBeNull();
    for (const role of ['VIEWER', 'ANALYST', 'VALIDATOR'] as const)
      await expect(systemConfigAs({ token: team.tokens[role] })).rejects.toBeInstanceOf(PermissionDeniedError);
  });

  it('lists every key of the schema with its default, and the value in force', async () => {
    const { keys } = await systemConfigAs({ token: team.admin });
    expect(keys.map((k) => k.key)).toEqual([
      'read_roots',
      'audit.checkpoint_interval_minutes',
      'alerts.recipient_roles',
      'alerts.recipient_users',
      'alerts.webhook_url',
      'worker.max_concurrent_activities',
    ]);
    for (const k of keys) {
      expect(k.description.length, k.key).toBeGreaterThan(20);
      expect(k.value).toEqual(k.default);
    }
    expect(settingKeys().find((k) => k.key === 'worker.max_concurrent_activities')!.default).toBe(8);
  });

  it('an unknown key or an invalid value is refused by name: nothing written, nothing audited', async () => {
    const before = (await auditLines()).length;
    await expect(setSystemConfigAs({ token: team.admin }, 'spark_partitions', 4, 'tune')).rejects.toThrow(
      /no system setting "spark_partitions"; the settings are: read_roots, audit\.checkpoint_interval_minutes, /,
    );
    await expect(setSystemConfigAs({ token: team.admin }, 'audit', {}, 'tune')).rejects.toThrow(/no system setting/);
    await expect(
      setSystemConfigAs({ token: team.admin }, 'alerts.recipient_roles', ['ADMIN', 'BOSS'], 'tune'),
    ).rejects.toThrow(/^alerts\.recipient_roles = \["ADMIN","BOSS"\]: Invalid option/);
    await expect(setSystemConfigAs({ token: team.admin }, 'alerts.webhook_url', 'ftp://hook', 'tune')).rejects.toThrow(
      /^alerts\.webhook_url = "ftp:\/\/hook": /,
    );
    await expect(
      setSystemConfigAs({ token: team.admin }, 'audit.checkpoint_interval_minutes', 0, 'tune'),
    ).rejects.toThrow(/^audit\.checkpoint_interval_minutes = 0: /);
    expect((await auditLines()).length).toBe(before);
    expect(await settingsText()).toBeNull();
  });

  it('a change is audited with before and after, then written owner-only to the keyring; the same value is a no-op', async () => {
    const result = await setSystemConfigAs(
      { token: team.admin },
      'audit.checkpoint_interval_minutes',
      30,
      'fewer checkpoints at night',
    );
    expect(result).toEqual({ key: 'audit.checkpoint_interval_minutes', before: 15, after: 30, changed: true });
    expect((await readSettings()).audit.checkpoint_interval_minutes).toBe(30);
    expect(settingsPath().startsWith(keyringDir())).toBe(true);
    expect(settingsSchema.parse(JSON.parse((await settingsText())!))).toEqual(await readSettings());
    const entry = (await auditLines()).at(-1)!;
    expect(entry).toMatchObject({
      action: 'system_config_changed',
      user_id: 'root',
      resource_type: 'system_config',
      resource_id: 'audit.checkpoint_interval_minutes',
      status: 'success',
      before: { 'audit.checkpoint_interval_minutes': 15 },
      after: { 'audit.checkpoint_interval_minutes': 30 },
      reason: 'fewer checkpoints at night',
    });
    const count = (await auditLines()).length;
    const again = await setSystemConfigAs({ token: team.admin }, 'audit.checkpoint_interval_minutes', 30, 'again');
    expect(again.changed).toBe(false);
    expect((await auditLines()).length).toBe(count);
  });

  it('a change that cannot be audited does not take effect and leaves no temp file in the keyring', async () => {
    const saved = `${auditLogPath()}.saved`;
    await rename(auditLogPath(), saved);
    // A link in place of the log is refused before anything is written: the entry cannot be written.
    await symlink('/dev/full', auditLogPath());
    try {
      await expect(
        setSystemConfigAs({ token: team.admin }, 'worker.max_concurrent_activities', 2, 'small machine'),
      ).rejects.toThrow(/cannot write the audit log .* symbolic link inside the data directory/);
    } finally {
      await rm(auditLogPath(), { force: true });
      await rename(saved, auditLogPath());
    }
    expect((await readSettings()).worker.max_concurrent_activities).toBe(8);
    expect((await readdir(keyringDir())).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  describe('the alert settings are what monitoring reads', () => {
    let server: Server;
    const received: unknown[] = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        let text = '';
        req.on('data', (c: Buffer) => (text += c.toString()));
        req.on('end', () => {
          received.push(JSON.parse(text));
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    it('recipients and the webhook set by an ADMIN address the next alert', async () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
      const admin = { token: team.admin };
      await setSystemConfigAs(admin, 'alerts.recipient_roles', ['ADMIN'], 'validators read the weekly digest');
      await setSystemConfigAs(admin, 'alerts.recipient_users', ['analyst'], 'on call this month');
      await setSystemConfigAs(admin, 'alerts.webhook_url', url, 'the chat channel');
      const ref = { runId: 'run-settings', windowId: 'w-1', runDir: '/nowhere', windowDir: '/nowhere/w-1' };
      await raiseAlerts(ref, [{ kind: 'drift_alert', subject: 'drift in w-1' }], '/nowhere/report.html');
      const [sent] = await readOutbox({ runId: 'run-settings' });
      expect(sent).toMatchObject({ kind: 'drift_alert', to: { roles: ['ADMIN'], users: ['analyst'] } });
      expect(sent!.webhook.status).toBe('delivered');
      expect(received).toEqual([expect.objectContaining({ notification_id: sent!.notification_id })]);
    });
  });

  it('from the CLI: show and set for an ADMIN; a MODELER gets exit 3 with the seed fields', async () => {
    const env = (token: string) => ({ ...process.env, ACCESS_PERM_TOKEN: token });
    const set = await cliInProcess(
      env(team.admin),
      ...['system', 'config', 'set', 'read_roots', `["${join(keyringDir(), 'inputs')}"]`, '--reason', 'shared inputs'],
    );
    expect(set.code).toBe(0);
    expect(set.stdout).toBe(`read_roots: [] -> ["${join(keyringDir(), 'inputs')}"]\n`);
    const show = await cliInProcess(env(team.admin), 'system', 'config', 'show', 'worker.max_concurrent_activities');
    expect(show).toMatchObject({ code: 0, stdout: '8\n' });
    const denied = await cliInProcess(
      env(team.tokens.MODELER),
      ...['system', 'config', 'set', 'spark_partitions', '4', '--reason', 'more parallelism', '--json'],
    );
    expect(denied.code).toBe(3);
    expect(JSON.parse(denied.stdout)).toMatchObject({
      error: 'Permission denied',
      required_permission: 'system_configuration',
      minimum_role: 'ADMIN',
    });
  });
});
