import {
  RUN_SCOPED_RESOURCES,
  type AuditSource,
  type Permission,
  type ResolvedIdentity,
  type Role,
  type UserRecord,
} from '../../schemas/governance';
import { AUTH_FAILURES, AuthenticationError, GovernanceError, PermissionDeniedError } from './errors';
import { auditEachRefusal, type RefusalAudit } from './refusals';
import { allowedRoles, CELL, cellFor, denialMessage, minimumRole, ownershipMessage } from './matrix';
import { fileStore } from './store';
import { TokenRejection, verifyToken } from './tokens';

/** What a caller presents: a token (from ACCESS_PERM_TOKEN, a bearer header, a signal's input) and where it came from. */
export interface Credential {
  token: string | null | undefined;
  source?: AuditSource;
  /**
   * How refusals are audited: servers pass their RefusalAggregator and the client they count refused tokens by;
   * without it every refusal is its own entry.
   */
  refusals?: { audit: RefusalAudit; client: string };
}

/** The resource a permission is checked on; `ownerId` drives own-only cells, `runId` becomes the correlation id. */
export interface ResourceRef {
  type: string;
  id?: string;
  runId?: string;
  ownerId?: string;
}

/** The role in force at `now`: the elevated role until its expiry, the base role otherwise (no worker needed). */
export function effectiveRole(user: UserRecord, now = Date.now()): { role: Role; elevation: UserRecord['elevation'] } {
  const e = user.elevation;
  if (e && Date.parse(e.expiresAt) > now) return { role: e.role, elevation: e };
  return { role: user.role, elevation: null };
}

const asCredential = (c: Credential | string): Credential => (typeof c === 'string' ? { token: c } : c);

/** The run a resource belongs to (a run is its own); run-scoped resources must name it, for the audit trail. */
export function correlationOf(resource: ResourceRef | undefined): string | null {
  if (!resource) return null;
  const runId = resource.runId ?? (resource.type === 'run' ? resource.id : undefined);
  if (!runId && (RUN_SCOPED_RESOURCES as readonly string[]).includes(resource.type))
    throw new GovernanceError(`a ${resource.type} resource must carry its runId (the audit correlation id)`);
  return runId ?? null;
}

/** Waits for a refusal's audit write; why it failed, or undefined: a refusal stands even when it cannot be audited. */
async function unaudited(write: Promise<void>): Promise<string | undefined> {
  try {
    await write;
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export async function auditAuthFailure(
  err: TokenRejection | AuthenticationError,
  source: AuditSource,
  permission: Permission | undefined,
  resource: ResourceRef | undefined,
  verifiedSub: string | null,
  refusals?: Credential['refusals'],
): Promise<void> {
  const claimed = err instanceof TokenRejection ? err.claimedSub : null;
  const audit = refusals?.audit ?? auditEachRefusal;
  await audit(
    {
      user_id: verifiedSub ?? 'anonymous',
      user_role: 'NONE',
      action: 'authentication_failed',
      status: 'denied',
      reason: AUTH_FAILURES[err.failure],
      source,
      result: 'refused',
      resource_type: resource?.type ?? null,
      resource_id: resource?.id ?? null,
      correlation_id: correlationOf(resource),
      ...(permission ? { attempted_action: permission } : {}),
      ...(claimed ? { claimed_user_id: claimed } : {}),
    },
    refusals?.client ?? 'local',
  );
}

/**
 * Proves who the caller is: verifies the token (signature, expiry, revocation) and looks the user up in the store
 * now, so role changes and elevations apply at once. Refusals are audited as `authentication_failed`.
 */
export async function authenticate(
  credential: Credential | string,
  context: { permission?: Permission; resource?: ResourceRef } = {},
): Promise<ResolvedIdentity> {
  const cred = asCredential(credential);
  const source = cred.source ?? 'cli';
  let claims;
  try {
    claims = await verifyToken(cred.token);
  } catch (e) {
    if (e instanceof TokenRejection) {
      const refused = new AuthenticationError(e.message, e.failure);
      refused.auditFailure = await unaudited(
        auditAuthFailure(e, source, context.permission, context.resource, e.verifiedSub, cred.refusals),
      );
      throw refused;
    }
    throw e;
  }
  return {
    ...(await identityOf(claims.sub, { source, ...context })),
    tokenId: claims.jti,
    tokenExpiresAt: new Date(claims.exp * 1000).toISOString(),
  };
}

/** Whether `identity` may use `permission` on `resource`, by the matrix and the ownership rule; no I/O. */
export function isAllowed(
  identity: Pick<ResolvedIdentity, 'userId' | 'role'>,
  permission: Permission,
  resource?: ResourceRef,
) {
  const cell = cellFor(identity.role, permission);
  if (cell === CELL.yes) return { allowed: true as const };
  if (cell === CELL.own && resource?.ownerId !== undefined && resource.ownerId === identity.userId)
    return { allowed: true as const };
  return { allowed: false as const, ownership: cell === CELL.own };
}

/**
 * The one permission choke point (CLI, HTTP, activities, workflow handlers via an activity): verifies the token,
 * resolves the caller's current role, checks the seed-3 §2 matrix and the ownership rule. A denial is audited as
 * `permission_denied` (seed-3 §8) and thrown as PermissionDeniedError; a bad token as AuthenticationError.
 *
 * @example const who = await authorize({ token, source: 'api' }, 'cancel_run', { type: 'run', id: runId, runId, ownerId })
 */
export async function authorize(
  credential: Credential | string,
  permission: Permission,
  resource?: ResourceRef,
): Promise<ResolvedIdentity> {
  const cred = asCredential(credential);
  correlationOf(resource);
  const identity = await authenticate(cred, { permission, resource });
  return permit(identity, permission, resource, cred.source ?? 'cli', cred.refusals?.audit);
}

/**
 * The current identity of a user proven some other way (a verified capability): looked up in the store now, so role
 * changes and elevations apply at once. An unknown user is refused and audited like a token naming one.
 */
export async function identityOf(
  userId: string,
  context: { source: AuditSource; permission?: Permission; resource?: ResourceRef },
): Promise<ResolvedIdentity> {
  const user = (await fileStore.read('users')).users[userId];
  if (!user) {
    const e = new AuthenticationError(`authentication failed: ${AUTH_FAILURES.unknownUser}`, 'unknownUser');
    await auditAuthFailure(e, context.source, context.permission, context.resource, userId);
    throw e;
  }
  const { role, elevation } = effectiveRole(user);
  return {
    userId: user.userId,
    role,
    baseRole: user.role,
    ...(elevation ? { temporaryRole: true, elevationExpiresAt: elevation.expiresAt } : {}),
  };
}

/** The matrix and ownership check of {@link authorize} for an already proven identity; audits and throws a denial. */
export async function permit(
  identity: ResolvedIdentity,
  permission: Permission,
  resource: ResourceRef | undefined,
  source: AuditSource,
  audit: RefusalAudit = auditEachRefusal,
): Promise<ResolvedIdentity> {
  const decision = isAllowed(identity, permission, resource);
  if (decision.allowed) return identity;
  const message = decision.ownership
    ? ownershipMessage(identity.role, permission, resource?.id, resource?.ownerId)
    : denialMessage(identity.role, permission);
  // Repeated denials are counted by user (a server's aggregator writes the first and a summary).
  const auditFailure = await unaudited(
    audit(
      {
        user_id: identity.userId,
        user_role: identity.role,
        action: 'permission_denied',
        attempted_action: permission,
        status: 'denied',
        reason: decision.ownership ? 'Not the owner of the resource' : 'Insufficient role',
        resource_type: resource?.type ?? null,
        resource_id: resource?.id ?? null,
        correlation_id: correlationOf(resource),
        source,
        result: 'refused',
        temporary_role: identity.temporaryRole ?? false,
      },
      `user:${identity.userId}`,
    ),
  );
  const denial = new PermissionDeniedError(
    message,
    permission,
    identity.role,
    minimumRole(permission),
    allowedRoles(permission),
    identity.userId,
  );
  denial.auditFailure = auditFailure;
  throw denial;
}
