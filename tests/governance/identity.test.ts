import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  assignRole,
  authenticate,
  AuthenticationError,
  authorize,
  bootstrapAdmin,
  canApproveDelegated,
  delegateApproval,
  fileStore,
  governanceDir,
  issueToken,
  PermissionDeniedError,
  queryAudit,
  revokeToken,
  signingSecret,
  verifyAudit,
  type AuthFailure,
} from '../../lib/governance';
import { pinnedSequence, signRecord, tokenSecretPath } from '../../lib/keys';
import { useTempDataDir } from '../helpers';
import { auditLines, makeTeam, type Team } from './fixtures';

let team: Team;

beforeAll(async () => {
  await useTempDataDir('gov-identity');
  team = await makeTeam();
});

async function signWith(key: Uint8Array, claims: { sub: string; exp: number; iat?: number }): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setJti(`jti-${randomBytes(6).toString('hex')}`)
    .setIssuedAt(claims.iat ?? Math.floor(Date.now() / 1000) - 10)
    .setExpirationTime(claims.exp)
    .sign(key);
}

const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');

/** Expects authorize to refuse `token` with `failure`, and the refusal to be audited without the token. */
async function expectRefused(token: string | null, failure: AuthFailure, auditedUser: string): Promise<void> {
  const before = (await auditLines()).length;
  const e = await authorize({ token, source: 'api' }, 'view_runs').catch((x: unknown) => x);
  expect(e).toBeInstanceOf(AuthenticationError);
  expect((e as AuthenticationError).failure).toBe(failure);
  const entries = await auditLines();
  expect(entries).toHaveLength(before + 1);
  const entry = entries[entries.length - 1]!;
  expect(entry).toMatchObject({
    action: 'authentication_failed',
    status: 'denied',
    user_id: auditedUser,
    user_role: 'NONE',
    attempted_action: 'view_runs',
    source: 'api',
  });
  if (token) expect(JSON.stringify(entry)).not.toContain(token.split('.')[1]!);
}

describe('tokens', () => {
  it('a valid token resolves to the user and the role in the store', async () => {
    await expect(authorize(team.tokens.MODELER, 'train_model')).resolves.toMatchObject({
      userId: 'modeler',
      role: 'MODELER',
      baseRole: 'MODELER',
    });
  });

  it('refuses a forged token (payload changed, signature kept) and audits the claimed id only as a claim', async () => {
    const [header, , signature] = team.tokens.VIEWER.split('.');
    const payload = JSON.parse(Buffer.from(team.tokens.VIEWER.split('.')[1]!, 'base64url').toString()) as object;
    const forged = `${header}.${b64({ ...payload, sub: 'root' })}.${signature}`;
    await expectRefused(forged, 'signature', 'anonymous');
    const entries = await auditLines();
    expect(entries[entries.length - 1]!.claimed_user_id).toBe('root');
  });

  it('refuses a token signed with another secret', async () => {
    const other = await signWith(randomBytes(32), { sub: 'root', exp: Math.floor(Date.now() / 1000) + 3600 });
    await expectRefused(other, 'signature', 'anonymous');
  });

  it('refuses a token signed with a secret planted in the data directory (where earlier versions kept it)', async () => {
    const planted = randomBytes(32);
    const legacy = join(governanceDir(), 'secret.key');
    await writeFile(legacy, `${planted.toString('base64url')}\n`, { mode: 0o600 });
    const minted = await signWith(planted, { sub: 'root', exp: Math.floor(Date.now() / 1000) + 3600 });
    await expectRefused(minted, 'signature', 'anonymous');
    // The keyring had a secret already: the planted one was set aside, not adopted.
    await expect(stat(legacy)).rejects.toThrow(/ENOENT/);
    await expect(authorize(team.tokens.VIEWER, 'view_runs')).resolves.toMatchObject({ userId: 'viewer' });
  });

  it('refuses an edited user store: a role raised by hand is not obeyed', async () => {
    const path = join(governanceDir(), 'users.json');
    const original = await readFile(path, 'utf8');
    const doc = JSON.parse(original) as { users: Record<string, { role: string }>; signature?: unknown };
    doc.users.viewer!.role = 'ADMIN';
    try {
      await writeFile(path, JSON.stringify(doc));
      await expect(authorize(team.tokens.VIEWER, 'manage_users')).rejects.toThrow(
        /users\.json does not match its signature: it was changed outside access-perm/,
      );
      delete doc.signature;
      await writeFile(path, JSON.stringify(doc));
      await expect(authorize(team.tokens.VIEWER, 'manage_users')).rejects.toThrow(/users\.json is not signed: refused/);
    } finally {
      await writeFile(path, original);
    }
    await expect(authorize(team.tokens.VIEWER, 'view_runs')).resolves.toMatchObject({ role: 'VIEWER' });
  });

  it('refuses an unsigned (alg: none) token', async () => {
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'root', jti: 'jti-none-0001', iat: 1, exp: 9999999999 })}.`;
    await expectRefused(none, 'malformed', 'anonymous');
  });

  it('refuses an expired token signed by us, auditing the verified user', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await signWith(await signingSecret(), { sub: 'analyst', iat: now - 7200, exp: now - 60 });
    await expectRefused(expired, 'expired', 'analyst');
  });

  it('refuses a revoked token; the owner may revoke their own token, others need ADMIN', async () => {
    const issued = await issueToken({ token: team.admin }, { userId: 'analyst' });
    await expect(authorize(issued.token, 'view_runs')).resolves.toMatchObject({ userId: 'analyst' });
    // Another non-admin may not revoke it.
    await expect(revokeToken({ token: team.tokens.MODELER }, { jti: issued.jti })).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
    // The owner may (log out).
    await expect(revokeToken({ token: issued.token }, { token: issued.token })).resolves.toEqual({
      jti: issued.jti,
      subject: 'analyst',
    });
    await expectRefused(issued.token, 'revoked', 'analyst');
    const [revocation] = await queryAudit({ action: 'token_revoked', user_id: 'analyst' });
    expect(revocation).toMatchObject({ resource_id: issued.jti, reason: 'revoked by its owner' });
    // An ADMIN revokes by id.
    const second = await issueToken({ token: team.admin }, { userId: 'viewer' });
    await revokeToken({ token: team.admin }, { jti: second.jti, reason: 'laptop lost' });
    await expectRefused(second.token, 'revoked', 'viewer');
  });

  it('a token accepted once is still refused after it expires, and after the signing secret changes', async () => {
    const now = Math.floor(Date.now() / 1000);
    const shortLived = await signWith(await signingSecret(), { sub: 'analyst', exp: now + 60 });
    await expect(authorize(shortLived, 'view_runs')).resolves.toMatchObject({ userId: 'analyst' });
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime((now + 61) * 1000);
      await expectRefused(shortLived, 'expired', 'analyst');
    } finally {
      vi.useRealTimers();
    }
    // The secret is rotated: tokens signed with the old one no longer verify, even those accepted before.
    await expect(authorize(team.tokens.VIEWER, 'view_runs')).resolves.toMatchObject({ userId: 'viewer' });
    const old = await readFile(tokenSecretPath(), 'utf8');
    await writeFile(tokenSecretPath(), `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    try {
      await expectRefused(team.tokens.VIEWER, 'signature', 'anonymous');
    } finally {
      await writeFile(tokenSecretPath(), old, { mode: 0o600 });
    }
    await expect(authorize(team.tokens.VIEWER, 'view_runs')).resolves.toMatchObject({ userId: 'viewer' });
  });

  it('refuses missing and malformed tokens', async () => {
    await expectRefused(null, 'missing', 'anonymous');
    await expectRefused('not-a-jwt', 'malformed', 'anonymous');
  });

  it('refuses a valid signature for a user the store does not know', async () => {
    const ghost = await signWith(await signingSecret(), { sub: 'ghost', exp: Math.floor(Date.now() / 1000) + 600 });
    await expectRefused(ghost, 'unknownUser', 'ghost');
  });

  it('never writes a token into the audit log or the store', async () => {
    const log = await readFile(join(governanceDir(), 'audit', 'audit_log.jsonl'), 'utf8');
    const store =
      (await readFile(join(governanceDir(), 'tokens.json'), 'utf8')) +
      (await readFile(join(governanceDir(), 'users.json'), 'utf8'));
    for (const token of [team.admin, ...Object.values(team.tokens)]) {
      expect(log).not.toContain(token);
      expect(store).not.toContain(token);
    }
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
    expect((await verifyAudit()).ok).toBe(true);
  });

  it('keeps the signing secret at mode 0600 and refuses it once others can read it', async () => {
    expect((await stat(tokenSecretPath())).mode & 0o777).toBe(0o600);
    await chmod(tokenSecretPath(), 0o644);
    await expect(authenticate(team.tokens.VIEWER)).rejects.toThrow(/readable by others.*chmod 600/);
    await chmod(tokenSecretPath(), 0o600);
    await expect(authenticate(team.tokens.VIEWER)).resolves.toMatchObject({ userId: 'viewer' });
  });
});

describe('bootstrap', () => {
  it('creates the first ADMIN only while the store has no users', async () => {
    await expect(bootstrapAdmin('mallory')).rejects.toThrow(/users already exist/);
    const [first] = await queryAudit({ action: 'user_added', user_id: 'root' });
    expect(first).toMatchObject({ user_role: 'ADMIN', new_role: 'ADMIN', assigned_by: 'bootstrap' });
    expect(await queryAudit({ user_id: 'mallory' })).toEqual([]);
  });
});

describe('roles are looked up at check time', () => {
  it('a role change applies to an already-issued token at once, audited with old/new role and assigned_by', async () => {
    const token = (await issueToken({ token: team.admin }, { userId: 'viewer' })).token;
    await expect(authorize(token, 'create_run')).rejects.toBeInstanceOf(PermissionDeniedError);
    await assignRole({ token: team.admin }, { userId: 'viewer', role: 'ANALYST', reason: 'joined the analytics team' });
    await expect(authorize(token, 'create_run')).resolves.toMatchObject({ role: 'ANALYST', baseRole: 'ANALYST' });
    const [change] = await queryAudit({ action: 'role_assignment', user_id: 'viewer' });
    expect(change).toMatchObject({
      user_id: 'viewer',
      old_role: 'VIEWER',
      new_role: 'ANALYST',
      assigned_by: 'root',
      expiration: null,
      reason: 'joined the analytics team',
      before: { role: 'VIEWER' },
      after: { role: 'ANALYST' },
    });
    await assignRole({ token: team.admin }, { userId: 'viewer', role: 'VIEWER', reason: 'back to read-only' });
    await expect(authorize(token, 'create_run')).rejects.toBeInstanceOf(PermissionDeniedError);
  });

  it('makes no role change whose audit entry cannot be written', async () => {
    const log = join(governanceDir(), 'audit', 'audit_log.jsonl');
    const intact = await readFile(log, 'utf8');
    await writeFile(log, `${intact}{"torn":`);
    try {
      await expect(
        assignRole({ token: team.admin }, { userId: 'viewer', role: 'ADMIN', reason: 'while the log is broken' }),
      ).rejects.toThrow(/partial line/);
    } finally {
      await writeFile(log, intact);
    }
    await expect(authorize(team.tokens.VIEWER, 'create_run')).rejects.toMatchObject({ user_role: 'VIEWER' });
  });

  it('never demotes the last ADMIN', async () => {
    const admin = { token: team.admin };
    await assignRole(admin, { userId: 'admin', role: 'VALIDATOR', reason: 'second admin steps down' });
    await expect(assignRole(admin, { userId: 'root', role: 'VIEWER', reason: 'oops' })).rejects.toThrow(
      /root is the last ADMIN: make another user ADMIN first/,
    );
    await expect(authorize(team.admin, 'manage_users')).resolves.toMatchObject({ role: 'ADMIN' });
    await assignRole(admin, { userId: 'admin', role: 'ADMIN', reason: 'back' });
  });

  it('refuses a run-scoped resource without its run id (the audit correlation id) before checking anything', async () => {
    await expect(
      authorize(team.tokens.MODELER, 'binning_override', { type: 'binning_table', id: 'age' }),
    ).rejects.toThrow(/binning_table resource must carry its runId/);
  });

  it('requires a reason and ADMIN to assign roles', async () => {
    await expect(
      assignRole({ token: team.admin }, { userId: 'viewer', role: 'ANALYST', reason: '  ' }),
    ).rejects.toThrow(/reason is required/);
    await expect(
      assignRole({ token: team.tokens.VALIDATOR }, { userId: 'viewer', role: 'ADMIN', reason: 'promote myself' }),
    ).rejects.toBeInstanceOf(PermissionDeniedError);
  });
});

describe('holds against someone who writes the data directory (the keyring pins each store write)', () => {
  const file = (name: string) => join(governanceDir(), name);
  const admin = () => ({ token: team.admin });
  const save = async (name: string) => readFile(file(name), 'utf8');
  const sequenceOf = (text: string) => (JSON.parse(text) as { sequence: number }).sequence;

  it('an older signed users.json put back after a demotion is refused, and the demoted user is not let in', async () => {
    const token = (await issueToken(admin(), { userId: 'admin' })).token;
    await expect(authorize(token, 'manage_users')).resolves.toMatchObject({ userId: 'admin', role: 'ADMIN' });
    const before = await save('users.json');
    await assignRole(admin(), { userId: 'admin', role: 'VIEWER', reason: 'left the team' });
    const after = await save('users.json');
    await expect(authorize(token, 'manage_users')).rejects.toBeInstanceOf(PermissionDeniedError);
    try {
      await writeFile(file('users.json'), before);
      const refusal = new RegExp(
        `users\\.json is signed but is not the latest one access-perm wrote \\(write ${sequenceOf(before)} of ${sequenceOf(after)}: an older copy was put back\\)`,
      );
      await expect(authorize(token, 'manage_users')).rejects.toThrow(refusal);
      await expect(authorize(token, 'view_runs')).rejects.toThrow(refusal);
      // Deleted: not an empty store (where the first ADMIN could be bootstrapped again), a refusal.
      await rm(file('users.json'));
      await expect(authorize(token, 'manage_users')).rejects.toThrow(
        /users\.json was deleted after access-perm wrote it \(write \d+, which the keyring holds\): refused; restore it from a backup/,
      );
      await expect(bootstrapAdmin('mallory')).rejects.toThrow(/users\.json was deleted/);
    } finally {
      await writeFile(file('users.json'), after);
    }
    await expect(authorize(token, 'manage_users')).rejects.toMatchObject({ user_role: 'VIEWER' });
    await assignRole(admin(), { userId: 'admin', role: 'ADMIN', reason: 'back for the next tests' });
  });

  it('tokens.json deleted, or an older copy put back, after a revocation is refused: the revoked token stays out', async () => {
    const issued = await issueToken(admin(), { userId: 'admin' });
    const before = await save('tokens.json');
    await revokeToken(admin(), { jti: issued.jti, reason: 'left the team' });
    const after = await save('tokens.json');
    await expectRefused(issued.token, 'revoked', 'admin');
    try {
      await rm(file('tokens.json'));
      await expect(authorize(issued.token, 'manage_users')).rejects.toThrow(
        /tokens\.json was deleted after access-perm wrote it .*restore it from a backup/,
      );
      await writeFile(file('tokens.json'), before);
      await expect(authorize(issued.token, 'manage_users')).rejects.toThrow(
        new RegExp(
          `tokens\\.json is signed but is not the latest .*write ${sequenceOf(before)} of ${sequenceOf(after)}`,
        ),
      );
    } finally {
      await writeFile(file('tokens.json'), after);
    }
    await expectRefused(issued.token, 'revoked', 'admin');
  });

  it('an older delegations.json put back is refused, and so is a deleted one', async () => {
    const delegate = (overrideId: string) =>
      delegateApproval(
        { token: team.tokens.MODELER },
        { overrideId, runId: 'run-pin', delegateTo: 'analyst', reason: 'routine split' },
      );
    await delegate('ovr-a');
    const before = await save('delegations.json');
    await delegate('ovr-b');
    const after = await save('delegations.json');
    const analyst = await authenticate(team.tokens.ANALYST);
    await expect(canApproveDelegated(analyst, 'run-pin', 'ovr-b')).resolves.toMatchObject({ allowed: true });
    try {
      await writeFile(file('delegations.json'), before);
      await expect(canApproveDelegated(analyst, 'run-pin', 'ovr-a')).rejects.toThrow(
        /delegations\.json is signed but is not the latest one access-perm wrote \(write \d+ of \d+/,
      );
      await rm(file('delegations.json'));
      await expect(canApproveDelegated(analyst, 'run-pin', 'ovr-a')).rejects.toThrow(/delegations\.json was deleted/);
    } finally {
      await writeFile(file('delegations.json'), after);
    }
    await expect(canApproveDelegated(analyst, 'run-pin', 'ovr-a')).resolves.toMatchObject({ allowed: true });
  });

  it('concurrent writers: each write takes the next sequence, and the keyring pins the one in the file', async () => {
    const first = sequenceOf(await save('tokens.json'));
    await Promise.all(Array.from({ length: 6 }, () => issueToken(admin(), { userId: 'viewer' })));
    const last = sequenceOf(await save('tokens.json'));
    expect(last).toBe(first + 6);
    expect(await pinnedSequence('governance-store', 'tokens')).toBe(last);
  });

  it('a store signed before sequences is adopted once, audited; afterwards a copy of it is refused', async () => {
    const saved = process.env.ACCESS_PERM_DATA_DIR;
    try {
      await useTempDataDir('gov-adopt');
      await mkdir(governanceDir(), { recursive: true });
      const at = new Date().toISOString();
      const legacy = {
        version: 1,
        users: {
          old: { userId: 'old', role: 'ADMIN', createdAt: at, createdBy: 'bootstrap', updatedAt: at, elevation: null },
        },
      };
      const legacyText = `${JSON.stringify(await signRecord(legacy), null, 2)}\n`;
      await writeFile(file('users.json'), legacyText);
      expect(await pinnedSequence('governance-store', 'users')).toBeNull();
      await expect(fileStore.read('users')).resolves.toMatchObject({ version: 2, sequence: 1, users: legacy.users });
      expect(await pinnedSequence('governance-store', 'users')).toBe(1);
      expect(await queryAudit({ action: 'governance_store_adopted' })).toEqual([
        expect.objectContaining({ user_id: 'system', resource_id: 'users.json', status: 'success' }),
      ]);
      await writeFile(file('users.json'), legacyText);
      await expect(fileStore.read('users')).rejects.toThrow(
        /users\.json is signed but was written before this store was sequenced, and the keyring holds write 1: an older copy was put back: refused/,
      );
    } finally {
      process.env.ACCESS_PERM_DATA_DIR = saved;
    }
  });
});
