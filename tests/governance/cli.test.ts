import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, auditLogPath, issueToken } from '../../lib/governance';
import { PROJECT_ROOT } from '../../lib/paths';
import { cliInProcess, envWithoutTemporal, useTempDataDir, type CliResult } from '../helpers';

const exec = promisify(execFile);
let root: string;
let env: NodeJS.ProcessEnv;
let adminTok: string;
let anaTok: string;

/** Runs the CLI in this process with this file's data directory, no token but `extraEnv`'s. */
const cli = (args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> =>
  cliInProcess({ ACCESS_PERM_TOKEN: undefined, ACCESS_PERM_TOKEN_FILE: undefined, ...extraEnv }, ...args);

const asAdmin = (): Record<string, string> => ({ ACCESS_PERM_TOKEN_FILE: adminTok });

beforeAll(async () => {
  root = await useTempDataDir('gov-cli');
  const { ACCESS_PERM_TOKEN: _b, ACCESS_PERM_TOKEN_FILE: _c, ...rest } = envWithoutTemporal();
  env = { ...rest, ACCESS_PERM_DATA_DIR: root };
  adminTok = join(root, 'admin.token');
  anaTok = join(root, 'ana.token');
});

describe('access-perm users / auth / audit', () => {
  it('bootstraps the first ADMIN once, without a token; the token file is private', async () => {
    const first = await cli(['users', 'bootstrap-admin', '--user', 'root', '--out', adminTok]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/ADMIN root created/);
    expect((await stat(adminTok)).mode & 0o777).toBe(0o600);
    expect((await readFile(adminTok, 'utf8')).trim()).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  it('adds a user and refuses what the role does not allow (exit 3) or a missing token (exit 4)', async () => {
    const add = await cli(['users', 'add', '--user', 'ana', '--role', 'analyst', '--reason', 'new hire'], asAdmin());
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/added ana as ANALYST/);
    // Token issuing through the CLI is covered by bootstrap-admin's --out; here the library issues ana's token.
    const issued = await issueToken({ token: (await readFile(adminTok, 'utf8')).trim() }, { userId: 'ana', ttl: '2h' });
    await writeFile(anaTok, `${issued.token}\n`, { mode: 0o600 });
    const denied = await cli(['users', 'list', '--token-file', anaTok]);
    const anonymous = await cli(['audit', 'query']);
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(
      /^access-perm: permission denied: Only ADMIN can manage users.*\[required_permission manage_users, your role ANALYST, minimum_role ADMIN\]\n$/,
    );
    expect(anonymous.code).toBe(4);
    expect(anonymous.stderr).toMatch(
      /missing token: set ACCESS_PERM_TOKEN or ACCESS_PERM_TOKEN_FILE, or pass --token-file/,
    );
  });

  it('elevates without a server (the check compares the clock); whoami and audit query show it', async () => {
    const up = await cli(
      ['users', 'elevate', '--user', 'ana', '--role', 'MODELER', '--hours', '24', '--reason', 'feature selection task'],
      asAdmin(),
    );
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/ana is MODELER until .*Z, then ANALYST again/);
    expect(up.stderr).toMatch(
      /expiry timer not started \(no Temporal server: .*\): the expiry still holds at every check/,
    );
    const who = await cli(['auth', 'whoami', '--json'], { ACCESS_PERM_TOKEN: (await readFile(anaTok, 'utf8')).trim() });
    const query = await cli(['audit', 'query', '--action', 'role_assignment', '--user-id', 'ana', '--json'], asAdmin());
    expect(JSON.parse(who.stdout)).toMatchObject({
      userId: 'ana',
      role: 'MODELER',
      baseRole: 'ANALYST',
      temporaryRole: true,
    });
    expect(query.code, query.stderr).toBe(0);
    expect(JSON.parse(query.stdout)).toEqual([
      expect.objectContaining({
        user_id: 'ana',
        old_role: 'ANALYST',
        new_role: 'MODELER',
        assigned_by: 'root',
        temporary_role: true,
      }),
    ]);
  });

  it('audit verify names an edited entry and exits 1', async () => {
    const original = await readFile(auditLogPath(), 'utf8');
    await writeFile(auditLogPath(), original.replace('"reason":"new hire"', '"reason":"promoted"'));
    const bad = await cli(['audit', 'verify'], asAdmin());
    await writeFile(auditLogPath(), original);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /^access-perm: audit verify FAILED \(edited\): audit_log\.jsonl line 3 \(audit_\d{8}_003_\d{5}\) was edited/,
    );
  });

  it('refuses a blank --reason before anything runs, naming why', async () => {
    const r = await cli(['review', 'run-x', 'ovr-1', '--decision', 'approve', '--reason', '  '], asAdmin());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--reason .* is invalid\. a reason is required: manual actions record why/);
  });

  it('stops quietly when the reader of its output stops early (| head)', async () => {
    for (let i = 0; i < 300; i++)
      await appendAudit({ user_id: 'root', user_role: 'ADMIN', action: 'report_viewed', status: 'success' });
    const errFile = join(root, 'epipe.err');
    const { stdout } = await exec(
      'sh',
      [
        '-c',
        `node bin/access-perm.mjs audit export --format jsonl 2>${errFile} | head -c 100 >/dev/null; echo finished`,
      ],
      { cwd: PROJECT_ROOT, env: { ...env, ...asAdmin() } },
    );
    expect(stdout.trim()).toBe('finished');
    expect(await readFile(errFile, 'utf8')).not.toMatch(/EPIPE|Error|at /);
  });

  it('revokes a token by itself (log out); it is refused afterwards', async () => {
    const out = await cli(['auth', 'revoke', '--token-file', anaTok, '--reason', 'end of shift']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/revoked token [\w-]+ of ana/);
    const after = await cli(['auth', 'whoami', '--token-file', anaTok]);
    expect(after.code).toBe(4);
    expect(after.stderr).toMatch(/token revoked: ask an ADMIN for a new token/);
  });
});
