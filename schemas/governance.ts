import { z } from 'zod';

/**
 * Governance schemas shared by lib/governance, activities, workflows and the CLI (seed-3 §1, §2, §4, §6).
 * Pure zod, no Node imports: the elevation workflow imports this file inside Temporal's sandbox.
 */

/** Roles of seed-3 §1. VIEWER < ANALYST < MODELER is a chain; VALIDATOR is a separate branch; ADMIN can do everything. */
export const ROLES = ['VIEWER', 'ANALYST', 'MODELER', 'VALIDATOR', 'ADMIN'] as const;
export type Role = (typeof ROLES)[number];
export const roleSchema = z.enum(ROLES);

/** Stable permission names, one per operation row of seed-3 §2, in the seed's order. */
export const PERMISSIONS = [
  'view_config',
  'create_config',
  'edit_config',
  'delete_config',
  'share_config',
  'view_runs',
  'create_run',
  'cancel_run',
  'delete_run_artifacts',
  'export_run',
  'view_binning',
  'auto_generate_bins',
  'binning_override',
  'enforce_monotonicity',
  'merge_bins',
  'view_override_audit',
  'view_model_performance',
  'select_features',
  'train_model',
  'adjust_regularization',
  'compare_models',
  'view_reproducibility',
  'run_reproducibility',
  'golden_comparison',
  'lock_run',
  'approve_deployment',
  'view_reports',
  'generate_report',
  'export_scoring_spec',
  'export_model_card',
  'download_artifacts',
  'view_monitoring',
  'configure_monitoring',
  'view_audit_logs',
  'export_audit_logs',
  'manage_users',
  'assign_roles',
  'system_configuration',
  'view_system_health',
  'manage_backups',
] as const;
export type Permission = (typeof PERMISSIONS)[number];
export const permissionSchema = z.enum(PERMISSIONS);

/** Error `name`s of lib/governance that retrying cannot fix (activities raise them non-retryable). */
export const GOVERNANCE_ERROR_TYPES = [
  'PermissionDeniedError',
  'AuthenticationError',
  'GovernanceError',
  'AuditWriteError',
  'CallerRefusedError',
] as const;

/** Ids of users: what `--user` accepts. Short, no spaces, no '@' (an id, not an e-mail address). */
export const userIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "user ids use letters, digits, '.', '_' or '-' (at most 64, no '@')");

const isoUtc = z.iso.datetime({ offset: false }).refine((s) => s.endsWith('Z'), 'timestamps are UTC (end in Z)');

/** A temporary role (seed-3 §6): applies until `expiresAt`, then the base role applies again. */
export const elevationSchema = z.strictObject({
  id: z.string().min(1),
  role: roleSchema,
  grantedBy: z.string().min(1),
  grantedAt: isoUtc,
  expiresAt: isoUtc,
  reason: z.string().min(1),
});
export type Elevation = z.infer<typeof elevationSchema>;

export const userRecordSchema = z.strictObject({
  userId: userIdSchema,
  /** The permanent role. */
  role: roleSchema,
  createdAt: isoUtc,
  createdBy: z.string().min(1),
  updatedAt: isoUtc,
  elevation: elevationSchema.nullable(),
});
export type UserRecord = z.infer<typeof userRecordSchema>;

/**
 * Each write of a governance store document adds one to its `sequence`, which the keyring pins (lib/governance/store):
 * an older signed copy put back is refused. Version 1 documents (before sequences) are adopted once.
 */
const storeSequence = z.number().int().nonnegative();

export const usersDocSchema = z.strictObject({
  version: z.literal(2),
  sequence: storeSequence,
  users: z.record(z.string(), userRecordSchema),
});
export type UsersDoc = z.infer<typeof usersDocSchema>;

/** Issued tokens are recorded by id only (never the token itself), so they can be listed and revoked. */
export const tokensDocSchema = z.strictObject({
  version: z.literal(2),
  sequence: storeSequence,
  issued: z.record(
    z.string(),
    z.strictObject({ sub: z.string(), iat: z.number().int(), exp: z.number().int(), issuedBy: z.string() }),
  ),
  revoked: z.record(
    z.string(),
    z.strictObject({ revokedAt: isoUtc, revokedBy: z.string(), exp: z.number().int().nullable() }),
  ),
});
export type TokensDoc = z.infer<typeof tokensDocSchema>;

/** Claims of an access-perm token (HS256 JWT). */
export const tokenClaimsSchema = z.object({
  sub: userIdSchema,
  jti: z.string().min(8).max(64),
  iat: z.number().int(),
  exp: z.number().int(),
});
export type TokenClaims = z.infer<typeof tokenClaimsSchema>;

/** A MODELER's override approval delegated to a named ANALYST (seed-3 §6); the modeler stays accountable. */
export const delegationSchema = z.strictObject({
  id: z.string().min(1),
  overrideId: z.string().min(1),
  runId: z.string().min(1),
  delegatedBy: z.string().min(1),
  delegatedTo: z.string().min(1),
  createdAt: isoUtc,
  reason: z.string().min(1),
  status: z.enum(['active', 'revoked']),
});
export type Delegation = z.infer<typeof delegationSchema>;

export const delegationsDocSchema = z.strictObject({
  version: z.literal(2),
  sequence: storeSequence,
  delegations: z.record(z.string(), delegationSchema),
});
export type DelegationsDoc = z.infer<typeof delegationsDocSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Audit log (seed-3 §4)

/** Roles an audit entry can carry: the five roles, SYSTEM for timers/jobs, NONE when no identity was proven. */
export const AUDIT_ROLES = [...ROLES, 'SYSTEM', 'NONE'] as const;
export const AUDIT_STATUSES = ['success', 'failure', 'denied'] as const;
export const AUDIT_SOURCES = ['cli', 'api', 'worker', 'workflow', 'system'] as const;
export type AuditSource = (typeof AUDIT_SOURCES)[number];

/** Actions a person takes by hand: the entry must carry a non-empty reason (seed-3 §4 invariant). */
export const MANUAL_ACTIONS = [
  'user_added',
  'role_assignment',
  'token_revoked',
  'delegation_created',
  'delegation_revoked',
  'bin_override',
  'auto_bins_generated',
  'merge_bins',
  'enforce_monotonicity',
  'feature_selection_override',
  'regularization_override',
  'score_scaling_override',
  'override_approved',
  'override_rejected',
  'run_locked',
  'deployment_approved',
  'system_config_changed',
  'run_cancel_requested',
  'run_deleted',
  'config_edited',
  'config_shared',
  'config_deleted',
] as const;

/** Mutations: the entry must capture before and after values (seed-3 §4 invariant). */
export const MUTATION_ACTIONS = [
  'role_assignment',
  'role_elevation_expired',
  'bin_override',
  'auto_bins_generated',
  'merge_bins',
  'enforce_monotonicity',
  'feature_selection_override',
  'regularization_override',
  'score_scaling_override',
  'system_config_changed',
  'run_deleted',
  'config_edited',
  'config_shared',
  'config_deleted',
] as const;

/** Resource types that belong to a run: their entries must carry the run id as correlation_id. */
export const RUN_SCOPED_RESOURCES = ['run', 'binning_table', 'model', 'override', 'report', 'artifact'] as const;

export const GENESIS_HASH = '0'.repeat(64);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** `audit_<YYYYMMDD>_<sequence of the day>_<writer>`, like the seed's `audit_20260115_001_12345`. */
export const AUDIT_ID = /^audit_(\d{8})_(\d{3,})_(\d{5})$/;

/**
 * One line of audit_log.jsonl: the exact fields of seed-3 §4 (ip_address only with explicit opt-in), then the
 * fields of §6 / §8 where they apply, then the hash chain. Unknown top-level keys are rejected.
 */
export const auditEntrySchema = z.strictObject({
  timestamp: isoUtc,
  audit_id: z.string().regex(AUDIT_ID),
  correlation_id: z.string().min(1).nullable(),
  user_id: z.string().min(1, 'user_id is never null or empty'),
  user_role: z.enum(AUDIT_ROLES),
  action: z.string().regex(/^[a-z][a-z0-9_]*$/, 'actions are snake_case'),
  resource_type: z.string().min(1).nullable(),
  resource_id: z.string().min(1).nullable(),
  status: z.enum(AUDIT_STATUSES),
  before: z.unknown().nullable(),
  after: z.unknown().nullable(),
  reason: z.string().nullable(),
  ip_address: z.string().optional(),
  source: z.enum(AUDIT_SOURCES),
  duration_ms: z.number().nonnegative().nullable(),
  result: z.string().nullable(),
  /** True when the acting user's role came from a temporary elevation (seed-3 §6). */
  temporary_role: z.boolean(),
  /** permission_denied (§8): the permission that was refused. */
  attempted_action: z.string().optional(),
  /** role_assignment (§6). */
  old_role: roleSchema.nullable().optional(),
  new_role: roleSchema.optional(),
  assigned_by: z.string().optional(),
  expiration: isoUtc.nullable().optional(),
  /** Delegated approvals (§6): who delegated (accountable) and who acts. */
  delegated_by: z.string().optional(),
  delegated_to: z.string().optional(),
  delegation_id: z.string().optional(),
  /** authentication_failed: the user id an unverifiable token claimed (never the token). */
  claimed_user_id: z.string().max(64).optional(),
  /** Small extra context; scanned by the same denylist. */
  details: z.record(z.string(), z.unknown()).optional(),
  prev_hash: hex64,
  hash: hex64,
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** What callers hand to the audit writer: the writer stamps timestamp, audit_id and the chain. */
export type AuditInput = Omit<
  AuditEntry,
  | 'timestamp'
  | 'audit_id'
  | 'prev_hash'
  | 'hash'
  | 'correlation_id'
  | 'resource_type'
  | 'resource_id'
  | 'before'
  | 'after'
  | 'reason'
  | 'duration_ms'
  | 'result'
  | 'temporary_role'
  | 'source'
> &
  Partial<
    Pick<
      AuditEntry,
      | 'correlation_id'
      | 'resource_type'
      | 'resource_id'
      | 'before'
      | 'after'
      | 'reason'
      | 'duration_ms'
      | 'result'
      | 'temporary_role'
      | 'source'
    >
  >;

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a day is YYYY-MM-DD');
const dayOrInstant = z.union([day, z.iso.datetime({ offset: true })]);

/**
 * Filters of an audit query (seed-3 §4 "Queryable Audit Log"); the same names as the HTTP query parameters.
 * `run_id` matches correlation_id; `date_range` is one UTC day; end_date given as a day includes that day.
 */
export const auditQuerySchema = z.strictObject({
  user_id: z.string().min(1).optional(),
  run_id: z.string().min(1).optional(),
  action: z.string().min(1).optional(),
  resource_type: z.string().min(1).optional(),
  status: z.enum(AUDIT_STATUSES).optional(),
  start_date: dayOrInstant.optional(),
  end_date: dayOrInstant.optional(),
  date_range: day.optional(),
  limit: z.coerce.number().int().positive().max(100_000).optional(),
  /** asc: oldest first (default); desc: newest first. `limit` keeps the first rows of that order. */
  order: z.enum(['asc', 'desc']).optional(),
});
export type AuditQuery = z.infer<typeof auditQuerySchema>;

// ---------------------------------------------------------------------------------------------------------------
// Workflows

/** Input of the `elevationExpiry` workflow: one workflow per elevation, id `elevation-<userId>-<elevationId>`. */
export const elevationTimerInputSchema = z.strictObject({
  userId: userIdSchema,
  elevationId: z.string().min(1),
  role: roleSchema,
  expiresAt: isoUtc,
});
export type ElevationTimerInput = z.infer<typeof elevationTimerInputSchema>;

/** Workflow id of the timer of one elevation. */
export const elevationWorkflowId = (userId: string, elevationId: string): string =>
  `elevation-${userId}-${elevationId}`;

export interface ElevationExpiryResult {
  /** True when this timer ended the elevation; false when it was already gone or replaced. */
  expired: boolean;
  userId: string;
  elevationId: string;
  /** The role that applies after expiry (the base role), when the user still exists. */
  roleNow: Role | null;
}

/** Who is acting, as resolved by `authorize` from a verified token and the store at check time. */
export interface ResolvedIdentity {
  userId: string;
  /** The role in force now (the elevated role while an elevation lasts). */
  role: Role;
  /** The permanent role. */
  baseRole: Role;
  /** True while a temporary elevation is in force. */
  temporaryRole?: boolean;
  /** When the elevation in force ends. */
  elevationExpiresAt?: string;
  /** Token id (jti), for revocation. */
  tokenId?: string;
  /** Token expiry, ISO UTC. */
  tokenExpiresAt?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Capabilities: what crosses Temporal instead of a token

/** Operations a capability may be issued for: each a workflow start, signal or update. */
export const CAPABILITY_OPERATIONS = [
  'createRun',
  'fileOverride',
  'reviewOverride',
  'runReproducibility',
  'lockRun',
  'approveDeployment',
  'monitorWindow',
] as const;
export type CapabilityOperation = (typeof CAPABILITY_OPERATIONS)[number];

/**
 * A short-lived, single-use capability: user, operation, run and the sha256 of the exact request it allows, signed
 * (HMAC-SHA256 with a key derived from the token secret) by an access-perm process that verified the user's token.
 * Temporal payloads carry this, never a token; a copy read from a history is useless once used or expired.
 */
export const capabilitySchema = z.strictObject({
  v: z.literal(1),
  id: z.string().regex(/^[0-9a-f]{32}$/, 'a capability id'),
  user: z.string().min(1).max(100),
  op: z.enum(CAPABILITY_OPERATIONS),
  run: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a run id'),
  /** sha256 of the canonical JSON of the request without its capability. */
  req: z.string().regex(/^[0-9a-f]{64}$/),
  exp: isoUtc,
  mac: z.string().regex(/^[0-9a-f]{64}$/),
});
export type Capability = z.infer<typeof capabilitySchema>;
