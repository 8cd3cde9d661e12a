export {
  ACTIVE_FILE,
  actorFields,
  appendAudit,
  auditAdoption,
  AuditIntegrityError,
  auditDir,
  auditFiles,
  auditLogPath,
  backupAudit,
  checkAuditEntry,
  checkpointAudit,
  defaultBackupDir,
  DENIED_KEY_FRAGMENTS,
  entryHash,
  IP_OPT_IN_ENV,
  keepAuditCheckpointed,
  type BackupReport,
} from './audit';
export {
  checkEntryProof,
  proveEntry,
  TAMPER,
  verifyAudit,
  type EntryProof,
  type TamperKind,
  type VerifyOptions,
  type VerifyProblem,
  type VerifyReport,
} from './auditVerify';
export { checkpointsPath, keyringCheckpointPath, type Checkpoint } from './checkpoints';
export {
  backupAuditAs,
  checkpointAuditAs,
  exportAuditAs,
  proveEntryAs,
  queryAuditAs,
  verifyAuditAs,
} from './auditAccess';
export { rotateSigningKeyAs } from './keyAdmin';
export { setSystemConfigAs, systemConfigAs } from './systemConfig';
export { CSV_COLUMNS, parseAuditQuery, queryAudit, renderAudit } from './auditQuery';
export {
  authenticate,
  authorize,
  correlationOf,
  effectiveRole,
  identityOf,
  isAllowed,
  permit,
  type Credential,
  type ResourceRef,
} from './authorize';
export {
  authorizeCapability,
  capabilityIdentity,
  DEFAULT_CAPABILITY_TTL_SECONDS,
  issueCapability,
  MAX_CAPABILITY_TTL_SECONDS,
  requestDigest,
  type CapabilityRequest,
  type Claimant,
  type ExpectedUse,
} from './capabilities';
export {
  canApproveDelegated,
  delegateApproval,
  type DelegatedApprovalDecision,
  type DelegationAuditFields,
} from './delegation';
export {
  AUTH_FAILURES,
  AuditWriteError,
  AuthenticationError,
  CallerRefusedError,
  GovernanceError,
  PermissionDeniedError,
  type AuthFailure,
  type PermissionDeniedResponse,
} from './errors';
export {
  allowedRoles,
  CELL,
  cellFor,
  denialMessage,
  MATRIX,
  matrixRow,
  minimumRole,
  permissionsOf,
  ROLE_CHAIN,
  type Cell,
  type MatrixRow,
} from './matrix';
export {
  auditEachRefusal,
  clientLabel,
  RefusalAggregator,
  type RefusalAggregatorOptions,
  type RefusalAudit,
} from './refusals';
export { fileStore, type GovernanceStore } from './store';
export { ensureGovernanceDir, governanceDir, withLock } from './storeDir';
export { DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL_SECONDS, parseTtl, signingSecret, type IssuedToken } from './tokens';
export {
  addUser,
  assignRole,
  bootstrapAdmin,
  DEFAULT_ELEVATION_HOURS,
  ELEVATION_TIMER_ACTOR,
  elevateUser,
  expireElevation,
  issueToken,
  listUsers,
  MAX_ELEVATION_HOURS,
  revokeToken,
  type ElevationGrant,
  type UserView,
} from './users';
