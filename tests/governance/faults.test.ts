import { mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addUser, auditLogPath, governanceDir, listUsers, queryAudit } from '../../lib/governance';
import { settingsPath } from '../../lib/settings';
import { cliInProcess, useTempDataDir } from '../helpers';
import { makeTeam, type Team } from './fixtures';

/** Every file below `dir`, recursively. */
async function filesBelow(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String);
}

describe('an action audited as done is done', () => {
  it('a bad settings.json after the entry is written does not fail the action (the checkpoint waits, with a warning)', async () => {
    await useTempDataDir('gov-faults-settings');
    const team = await makeTeam();
    await writeFile(settingsPath(), JSON.stringify({ audit: { checkpoint_interval_minutes: 'soon' } }));
    await addUser({ token: team.admin }, { userId: 'newcomer', role: 'VIEWER', reason: 'joins the team' });
    expect((await listUsers({ token: team.admin })).map((u) => u.userId)).toContain('newcomer');
    expect((await queryAudit({ action: 'user_added' })).filter((e) => e.resource_id === 'newcomer')).toHaveLength(1);
  });
});

describe('audit entries that tell the truth under faults (an audit log that cannot be written)', () => {
  let team: Team;
  let saved: string;

  beforeAll(async () => {
    await useTempDataDir('gov-faults');
    team = await makeTeam();
  });

  /**
   * The active audit file becomes a link to /dev/full (a full disk, as earlier versions simulated it): the link is now
   * refused before anything is written, the same fault for the action, whose entry cannot be written.
   */
  async function fullDisk(): Promise<void> {
    saved = `${auditLogPath()}.saved`;
    await rename(auditLogPath(), saved);
    await symlink('/dev/full', auditLogPath());
  }
  afterEach(async () => {
    await rm(auditLogPath(), { force: true });
    await rename(saved, auditLogPath());
  });

  it('a change whose audit entry cannot be written is not made, and leaves no temp file', async () => {
    const before = await filesBelow(governanceDir());
    await fullDisk();
    await expect(
      addUser({ token: team.admin }, { userId: 'newcomer', role: 'VIEWER', reason: 'joins the team' }),
    ).rejects.toThrow(/cannot write the audit log .*audit_log\.jsonl is a symbolic link inside the data directory/);
    expect((await listUsers({ token: team.admin }).catch(() => [])).map((u) => u.userId)).not.toContain('newcomer');
    const users = JSON.parse(await readFile(join(governanceDir(), 'users.json'), 'utf8')) as { users: object };
    expect(Object.keys(users.users)).not.toContain('newcomer');
    expect((await filesBelow(governanceDir())).filter((f) => /\.tmp/.test(f))).toEqual([]);
    expect((await filesBelow(governanceDir())).sort()).toEqual([...before, 'audit/audit_log.jsonl.saved'].sort());
  });

  it('from the CLI: one clear line and exit 1; a denial still exits 3, warning that it was not audited', async () => {
    await fullDisk();
    const admin = await cliInProcess(
      { ...process.env, ACCESS_PERM_TOKEN: team.admin },
      ...['users', 'add', '--user', 'newcomer', '--role', 'VIEWER', '--reason', 'joins the team'],
    );
    expect(admin.code).toBe(1);
    expect(admin.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^access-perm: cannot write the audit log .*audit_log\.jsonl: .* is a symbolic link inside the data directory .*: refused .*$/,
      ),
    ]);
    const viewer = await cliInProcess(
      { ...process.env, ACCESS_PERM_TOKEN: team.tokens.VIEWER },
      ...['users', 'add', '--user', 'newcomer', '--role', 'VIEWER', '--reason', 'joins the team'],
    );
    expect(viewer.code).toBe(3);
    expect(viewer.stderr).toMatch(/^access-perm: permission denied: .*manage_users/m);
    expect(viewer.stderr).toMatch(/^access-perm: warning: the denial could not be audited: .*symbolic link/m);
  });

  it('a link planted in place of the log is refused, never written through: nothing is created outside', async () => {
    // The target does not exist yet (a missing ~/.profile): following the link would create it with the entry's text.
    const outside = join(await mkdtemp(join(tmpdir(), 'access-perm-outside-')), 'profile');
    saved = `${auditLogPath()}.saved`;
    await rename(auditLogPath(), saved);
    await symlink(outside, auditLogPath());
    await expect(
      addUser({ token: team.admin }, { userId: 'newcomer', role: 'VIEWER', reason: '$(touch /tmp/pwned) #' }),
    ).rejects.toThrow(
      /^cannot write the audit log .*audit_log\.jsonl: .*audit_log\.jsonl is a symbolic link inside the data directory .*: refused/,
    );
    await expect(readFile(outside)).rejects.toThrow(/ENOENT/);
    // A folder on the way is refused too (the audit folder replaced by a link to an outside folder).
    await rm(auditLogPath());
    await rename(saved, auditLogPath());
    const auditFolder = join(governanceDir(), 'audit');
    const outsideDir = await mkdtemp(join(tmpdir(), 'access-perm-outside-'));
    await rename(auditFolder, `${auditFolder}.saved`);
    await symlink(outsideDir, auditFolder);
    try {
      await expect(
        addUser({ token: team.admin }, { userId: 'newcomer', role: 'VIEWER', reason: 'joins the team' }),
      ).rejects.toThrow(/governance\/audit is a symbolic link inside the data directory .*: refused/);
      expect(await readdir(outsideDir)).toEqual([]);
    } finally {
      await rm(auditFolder);
      await rename(`${auditFolder}.saved`, auditFolder);
      saved = `${auditLogPath()}.saved`;
      await rename(auditLogPath(), saved); // afterEach puts it back
    }
  });
});
