import { GOVERNANCE_ERROR_TYPES } from './governance';

/** Failure types that retrying cannot fix: activities raise them non-retryable, workflows list them in retry policies. */
export const NON_RETRYABLE_ERROR_TYPES: string[] = [
  'ConfigError',
  'DataValidationError',
  'InputError',
  'ArtifactIntegrityError',
  'RecordSignatureError',
  'KeyringError',
  'AuditIntegrityError',
  'UnknownRunError',
  'PathOutsideError',
  'FolderWriteRefusedError',
  'RunStateError',
  'UnknownConfigError',
  'GbdtParamError',
  'RunLockedError',
  'LockRequirementError',
  'LifecycleStateError',
  'ThreadHeapError',
  ...GOVERNANCE_ERROR_TYPES,
];
