import { randomUUID } from 'node:crypto';
import {
  roleSchema,
  userIdSchema,
  type ElevationExpiryResult,
  type ElevationTimerInput,
  type ResolvedIdentity,
  type Role,
  type UserRecord,
} from '../../schemas/governance';
import { appendAudit } from './audit';
import { authenticate, authorize, effectiveRole, type Credential } from './authorize';
import { GovernanceError } from './errors';
import { fileStore } from './store';
import { inspectOwnToken, parseTtl, revokeTokenId, signToken, DEFAULT_TOKEN_TTL, type IssuedToken } from './tokens';

/** Default length of a temporary elevation (seed-3 §6). */
export const DEFAULT_ELEVATION_HOURS = 24;
/** Longest elevation `users elevate` grants. */
export const MAX_ELEVATION_HOURS = 24 * 7;
/** The user id the elevation timer writes its audit entries as. */
export const ELEVATION_TIMER_ACTOR = 'system:elevation-timer';

function requireReason(reason: string | undefined): string {
  const r = reason?.trim();
  if (!r) throw new GovernanceError('a reason is required (--reason "...")');
  return r;
}

function parseUserId(userId: string): string {
  const parsed = userIdSchema.safeParse(userId);
  if (!parsed.success)
    throw new GovernanceError(
      `invalid user id ${JSON.stringify(userId.slice(0, 70))}: ${parsed.error.issues[0]?.message}`,
    );
  return parsed.data;
}

function parseRole(role: string): Role {
  const parsed = roleSchema.safeParse(role.toUpperCase());
  if (!parsed.success) throw new GovernanceError(`unknown role ${role}: one of ${roleSchema.options.join(', ')}`);
  return parsed.data;
}

const nowIso = (): string => new Date().toISOString();

/**
 * Creates the first ADMIN and returns a token for it. Allowed only while the store has no users at all: after
 * that, users are added by an ADMIN with a token. Audited as `user_added`.
 */
export async function bootstrapAdmin(userId: string, ttl = DEFAULT_TOKEN_TTL): Promise<IssuedToken> {
  const id = parseUserId(userId);
  const ttlSeconds = parseTtl(ttl);
  await fileStore.mutate(
    'users',
    (doc) => {
      if (Object.keys(doc.users).length > 0)
        throw new GovernanceError('users already exist: ask an ADMIN for a token (access-perm auth issue --user <id>)');
      const at = nowIso();
      doc.users[id] = {
        userId: id,
        role: 'ADMIN',
        createdAt: at,
        createdBy: 'bootstrap',
        updatedAt: at,
        elevation: null,
      };
    },
    async () => {
      await appendAudit({
        user_id: id,
        user_role: 'ADMIN',
        action: 'user_added',
        resource_type: 'user',
        resource_id: id,
        status: 'success',
        old_role: null,
        new_role: 'ADMIN',
        assigned_by: 'bootstrap',
        reason: 'bootstrap of the first administrator',
        result: 'completed',
      });
    },
  );
  const issued = await signToken(id, ttlSeconds, id);
  await auditTokenIssued({ userId: id, role: 'ADMIN', baseRole: 'ADMIN' }, issued, 'cli');
  return issued;
}

async function auditTokenIssued(actor: ResolvedIdentity, issued: IssuedToken, source: Credential['source']) {
  await appendAudit({
    user_id: actor.userId,
    user_role: actor.role,
    action: 'token_issued',
    resource_type: 'token',
    resource_id: issued.jti,
    status: 'success',
    source: source ?? 'cli',
    result: 'completed',
    temporary_role: actor.temporaryRole ?? false,
    details: { subject: issued.userId, expires_at: issued.expiresAt },
  });
}

/** Adds a user with a role (ADMIN: manage_users). Audited as `user_added` with the new role and who added it. */
export async function addUser(
  credential: Credential,
  input: { userId: string; role: string; reason: string },
): Promise<UserRecord> {
  const id = parseUserId(input.userId);
  const role = parseRole(input.role);
  const reason = requireReason(input.reason);
  const actor = await authorize(credential, 'manage_users', { type: 'user', id });
  return fileStore.mutate(
    'users',
    (doc) => {
      if (doc.users[id])
        throw new GovernanceError(`user ${id} already exists (use users assign-role to change the role)`);
      const at = nowIso();
      const user: UserRecord = {
        userId: id,
        role,
        createdAt: at,
        createdBy: actor.userId,
        updatedAt: at,
        elevation: null,
      };
      doc.users[id] = user;
      return user;
    },
    async () => {
      await appendAudit({
        user_id: id,
        user_role: role,
        action: 'user_added',
        resource_type: 'user',
        resource_id: id,
        status: 'success',
        old_role: null,
        new_role: role,
        assigned_by: actor.userId,
        reason,
        source: credential.source ?? 'cli',
        result: 'completed',
        details: { assigned_by_temporary_role: actor.temporaryRole ?? false },
      });
    },
  );
}

/**
 * Changes a user's permanent role (ADMIN: assign_roles); ends any elevation. Audited as `role_assignment` in the
 * seed-3 §6 shape: user_id is the user whose role changed, assigned_by the ADMIN, old_role/new_role, reason.
 */
export async function assignRole(
  credential: Credential,
  input: { userId: string; role: string; reason: string },
): Promise<UserRecord> {
  const id = parseUserId(input.userId);
  const role = parseRole(input.role);
  const reason = requireReason(input.reason);
  const actor = await authorize(credential, 'assign_roles', { type: 'user', id });
  const { after } = await fileStore.mutate(
    'users',
    (doc) => {
      const user = doc.users[id];
      if (!user) throw new GovernanceError(`unknown user ${id}`);
      const otherAdmins = Object.values(doc.users).filter((u) => u.userId !== id && u.role === 'ADMIN');
      if (user.role === 'ADMIN' && role !== 'ADMIN' && otherAdmins.length === 0)
        throw new GovernanceError(`${id} is the last ADMIN: make another user ADMIN first`);
      const snapshot = { role: user.role, elevation: user.elevation };
      user.role = role;
      user.elevation = null;
      user.updatedAt = nowIso();
      return { before: snapshot, after: { ...user } };
    },
    async ({ before }) => {
      await appendAudit({
        user_id: id,
        user_role: role,
        action: 'role_assignment',
        resource_type: 'user',
        resource_id: id,
        status: 'success',
        old_role: before.role,
        new_role: role,
        assigned_by: actor.userId,
        expiration: null,
        before: { role: before.role, elevated_role: before.elevation?.role ?? null },
        after: { role },
        reason,
        source: credential.source ?? 'cli',
        result: 'completed',
      });
    },
  );
  return after;
}

export interface ElevationGrant {
  user: UserRecord;
  timer: ElevationTimerInput;
}

/**
 * Grants a temporary role (ADMIN: assign_roles) for `hours` (default 24). It applies at once and ends by itself:
 * every check compares the clock, and the `elevationExpiry` workflow (started by the caller with `timer`) records
 * the expiry. Audited as `role_assignment` with `expiration` and temporary_role: true.
 */
export async function elevateUser(
  credential: Credential,
  input: { userId: string; role: string; hours?: number; reason: string },
): Promise<ElevationGrant> {
  const id = parseUserId(input.userId);
  const role = parseRole(input.role);
  const reason = requireReason(input.reason);
  const hours = input.hours ?? DEFAULT_ELEVATION_HOURS;
  if (!(hours > 0) || hours > MAX_ELEVATION_HOURS)
    throw new GovernanceError(`--hours must be more than 0 and at most ${MAX_ELEVATION_HOURS}, got ${hours}`);
  const actor = await authorize(credential, 'assign_roles', { type: 'user', id });
  const grantedAt = new Date();
  const expiresAt = new Date(grantedAt.getTime() + Math.round(hours * 3600_000)).toISOString();
  const elevationId = randomUUID().slice(0, 8);
  const { user } = await fileStore.mutate(
    'users',
    (doc) => {
      const u = doc.users[id];
      if (!u) throw new GovernanceError(`unknown user ${id}`);
      if (u.role === role) throw new GovernanceError(`${id} already has the role ${role}`);
      const previous = effectiveRole(u, grantedAt.getTime()).role;
      u.elevation = {
        id: elevationId,
        role,
        grantedBy: actor.userId,
        grantedAt: grantedAt.toISOString(),
        expiresAt,
        reason,
      };
      u.updatedAt = grantedAt.toISOString();
      return { before: previous, user: { ...u } };
    },
    async ({ before, user: u }) => {
      await appendAudit({
        user_id: id,
        user_role: role,
        action: 'role_assignment',
        resource_type: 'user',
        resource_id: id,
        status: 'success',
        old_role: before,
        new_role: role,
        assigned_by: actor.userId,
        expiration: expiresAt,
        before: { role: before },
        after: { role, base_role: u.role, expires_at: expiresAt },
        reason,
        source: credential.source ?? 'cli',
        result: 'completed',
        temporary_role: true,
        details: { elevation_id: elevationId },
      });
    },
  );
  return { user, timer: { userId: id, elevationId, role, expiresAt } };
}

/**
 * Ends elevation `elevationId` of `userId` once its time has come (called by the elevation timer workflow).
 * Idempotent: a replaced or already-ended elevation is left alone. Audited as `role_elevation_expired`.
 */
export async function expireElevation(
  input: { userId: string; elevationId: string },
  now = Date.now(),
): Promise<ElevationExpiryResult & { remainingMs: number }> {
  const outcome = await fileStore.mutate(
    'users',
    (doc) => {
      const user = doc.users[input.userId];
      if (!user) return { expired: false, roleNow: null, remainingMs: 0, elevated: null };
      const e = user.elevation;
      if (!e || e.id !== input.elevationId)
        return { expired: false, roleNow: user.role, remainingMs: 0, elevated: null };
      const remainingMs = Date.parse(e.expiresAt) - now;
      if (remainingMs > 0) return { expired: false, roleNow: e.role, remainingMs, elevated: null };
      user.elevation = null;
      user.updatedAt = new Date(now).toISOString();
      return { expired: true, roleNow: user.role, remainingMs: 0, elevated: e };
    },
    async ({ elevated, roleNow }) => {
      if (!elevated || !roleNow) return;
      await appendAudit({
        user_id: input.userId,
        user_role: roleNow,
        action: 'role_elevation_expired',
        resource_type: 'user',
        resource_id: input.userId,
        status: 'success',
        old_role: elevated.role,
        new_role: roleNow,
        assigned_by: ELEVATION_TIMER_ACTOR,
        expiration: elevated.expiresAt,
        before: { role: elevated.role },
        after: { role: roleNow },
        reason: 'temporary elevation expired',
        source: 'workflow',
        result: 'completed',
        details: { elevation_id: elevated.id },
      });
    },
  );
  return {
    expired: outcome.expired,
    userId: input.userId,
    elevationId: input.elevationId,
    roleNow: outcome.roleNow,
    remainingMs: outcome.remainingMs,
  };
}

export interface UserView extends UserRecord {
  /** The role in force now. */
  effectiveRole: Role;
  /** The elevation is recorded but its time has passed (the timer has not run yet). */
  elevationExpired: boolean;
}

/** Lists users with the role in force now (ADMIN: manage_users). */
export async function listUsers(credential: Credential): Promise<UserView[]> {
  await authorize(credential, 'manage_users', { type: 'user' });
  const doc = await fileStore.read('users');
  const now = Date.now();
  return Object.values(doc.users)
    .sort((a, b) => a.userId.localeCompare(b.userId))
    .map((u) => ({
      ...u,
      effectiveRole: effectiveRole(u, now).role,
      elevationExpired: u.elevation !== null && Date.parse(u.elevation.expiresAt) <= now,
    }));
}

/** Issues a token for an existing user (ADMIN: manage_users). The token is returned once and stored nowhere. */
export async function issueToken(
  credential: Credential,
  input: { userId: string; ttl?: string },
): Promise<IssuedToken> {
  const id = parseUserId(input.userId);
  const ttlSeconds = parseTtl(input.ttl ?? DEFAULT_TOKEN_TTL);
  const actor = await authorize(credential, 'manage_users', { type: 'token' });
  const users = await fileStore.read('users');
  if (!users.users[id]) throw new GovernanceError(`unknown user ${id}: add it first (access-perm users add)`);
  const issued = await signToken(id, ttlSeconds, actor.userId);
  await auditTokenIssued(actor, issued, credential.source);
  return issued;
}

/**
 * Revokes a token by id or by the token itself. Anyone may revoke their own token (log out); revoking another
 * user's token needs manage_users. Audited as `token_revoked` (the id only, never the token).
 */
export async function revokeToken(
  credential: Credential,
  target: { jti?: string; token?: string; reason?: string },
): Promise<{ jti: string; subject: string | null }> {
  let jti = target.jti;
  let subject: string | null = null;
  if (target.token) ({ jti, sub: subject } = await inspectOwnToken(target.token));
  if (!jti) throw new GovernanceError('name the token to revoke: --jti <id> or --token-file <file>');
  if (subject === null) subject = (await fileStore.read('tokens')).issued[jti]?.sub ?? null;
  const me = await authenticate(credential, { permission: 'manage_users', resource: { type: 'token', id: jti } });
  const actor = subject === me.userId ? me : await authorize(credential, 'manage_users', { type: 'token', id: jti });
  await revokeTokenId(jti, actor.userId);
  await appendAudit({
    user_id: actor.userId,
    user_role: actor.role,
    action: 'token_revoked',
    resource_type: 'token',
    resource_id: jti,
    status: 'success',
    reason:
      target.reason?.trim() || (subject === actor.userId ? 'revoked by its owner' : 'revoked by an administrator'),
    source: credential.source ?? 'cli',
    result: 'completed',
    temporary_role: actor.temporaryRole ?? false,
    ...(subject ? { details: { subject } } : {}),
  });
  return { jti, subject };
}
