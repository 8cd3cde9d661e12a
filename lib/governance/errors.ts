import type { Permission, Role } from '../../schemas/governance';

/** Errors of the governance layer. Activities raise them as non-retryable failures by `name`. */

/** The JSON body of a denial (seed-3 §8): what an HTTP 403, a CLI error and a workflow failure carry. */
export interface PermissionDeniedResponse {
  error: 'Permission denied';
  required_permission: Permission;
  user_role: Role;
  minimum_role: string;
  allowed_roles: Role[];
  message: string;
}

/** Thrown by `authorize` when the caller's current role (or ownership) does not allow the permission. Audited. */
export class PermissionDeniedError extends Error {
  override name = 'PermissionDeniedError';
  constructor(
    message: string,
    readonly required_permission: Permission,
    readonly user_role: Role,
    readonly minimum_role: string,
    readonly allowed_roles: Role[],
    /** Who was refused (not part of the §8 body; workflows keep it in their state). */
    readonly userId?: string,
  ) {
    super(message);
  }

  /** Why the denial could not be audited (a full disk, a read-only folder); the denial stands regardless. */
  auditFailure?: string;

  toResponse(): PermissionDeniedResponse {
    return {
      error: 'Permission denied',
      required_permission: this.required_permission,
      user_role: this.user_role,
      minimum_role: this.minimum_role,
      allowed_roles: this.allowed_roles,
      message: this.message,
    };
  }
}

/** Why a token was refused; also the `reason` of the audit entry. */
export const AUTH_FAILURES = {
  missing: 'missing token',
  malformed: 'malformed token',
  signature: 'invalid signature (forged, or signed with another secret)',
  expired: 'token expired',
  revoked: 'token revoked',
  unknownUser: 'unknown user',
  capabilityUsed: 'capability already used (capabilities are single-use)',
  capabilityMismatch: 'capability issued for another operation, run or request',
} as const;
export type AuthFailure = keyof typeof AUTH_FAILURES;

/**
 * Thrown when a token or capability is missing, malformed, forged, signed with another secret, expired, revoked or
 * names no user; or when a capability was used already or names another operation, run or request. Audited.
 */
export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
  constructor(
    message: string,
    readonly failure: AuthFailure,
  ) {
    super(message);
  }

  /** Why the refusal could not be audited (a full disk, a read-only folder); the refusal stands regardless. */
  auditFailure?: string;
}

/** Thrown for invalid governance requests: unknown user, duplicate user, bootstrap when users exist, bad input. */
export class GovernanceError extends Error {
  override name = 'GovernanceError';
}

/** Thrown when an audit entry breaks an invariant (schema, denylisted key, token-looking value, missing reason). */
export class AuditWriteError extends Error {
  override name = 'AuditWriteError';
}

/**
 * Thrown when an activity is run by anything but the workflows it belongs to: a standalone activity start, or a
 * workflow of another type or for another run. Audited as `permission_denied`.
 */
export class CallerRefusedError extends Error {
  override name = 'CallerRefusedError';
}
