import { ROLES, type Permission, type Role } from '../../schemas/governance';

/** A cell of the matrix: allowed, denied, or allowed only on the user's own resource. */
export const CELL = { yes: 'yes', no: 'no', own: 'own' } as const;
export type Cell = (typeof CELL)[keyof typeof CELL];

export interface MatrixRow {
  permission: Permission;
  category: string;
  /** The operation as seed-3 §2 names it. */
  operation: string;
  /** What the denial message says the user tried to do. */
  verb: string;
  cells: Record<Role, Cell>;
}

const Y = CELL.yes;
const N = CELL.no;
const O = CELL.own;

type Raw = [Permission, string, string, Cell, Cell, Cell, Cell, Cell];

/**
 * seed-3 §2, transcribed once: operation → cells for VIEWER, ANALYST, MODELER, VALIDATOR, ADMIN.
 * This table is the only place that says who may do what; tests/governance/matrix.test.ts checks it against the
 * seed's text cell by cell.
 */
// prettier-ignore
const TABLE: Record<string, Raw[]> = {
  'CONFIG MANAGEMENT': [
    ['view_config',            'View config',                      'view configs',                  Y, Y, Y, Y, Y],
    ['create_config',          'Create new config',                'create configs',                N, Y, Y, N, Y],
    ['edit_config',            'Edit config',                      'edit configs',                  N, Y, Y, N, Y],
    ['delete_config',          'Delete config',                    'delete configs',                N, N, Y, N, Y],
    ['share_config',           'Share config (change visibility)', 'share configs',                 N, Y, Y, N, Y],
  ],
  'RUN EXECUTION': [
    ['view_runs',              'View completed runs',              'view runs',                     Y, Y, Y, Y, Y],
    ['create_run',             'Create and run scorecard',         'create runs',                   N, Y, Y, N, Y],
    ['cancel_run',             'Cancel running job',               'cancel runs',                   N, O, Y, N, Y],
    ['delete_run_artifacts',   'Delete run artifacts',             'delete run artifacts',          N, N, Y, N, Y],
    ['export_run',             'Export run for deployment',        'export runs for deployment',    N, N, Y, Y, Y],
  ],
  'BINNING & MANUAL OVERRIDES': [
    ['view_binning',           'View binning tables',              'view binning tables',           Y, Y, Y, Y, Y],
    ['auto_generate_bins',     'Auto-generate bins',               'auto-generate bins',            N, Y, Y, N, Y],
    ['binning_override',       'Manual bin override',              'perform manual overrides',      N, N, Y, N, Y],
    ['enforce_monotonicity',   'Enforce monotonicity',             'enforce monotonicity',          N, Y, Y, N, Y],
    ['merge_bins',             'Merge bins',                       'merge bins',                    N, N, Y, N, Y],
    ['view_override_audit',    'View override audit trail',        'view the override audit trail', Y, Y, Y, Y, Y],
  ],
  'MODEL BUILDING': [
    ['view_model_performance', 'View model performance',           'view model performance',        Y, Y, Y, Y, Y],
    ['select_features',        'Select features',                  'select features',               N, Y, Y, N, Y],
    ['train_model',            'Train/retrain model',              'train models',                  N, Y, Y, N, Y],
    ['adjust_regularization',  'Adjust regularization parameters', 'adjust regularization',         N, N, Y, N, Y],
    ['compare_models',         'Compare two models',               'compare models',                Y, Y, Y, Y, Y],
  ],
  'VALIDATION & APPROVAL': [
    ['view_reproducibility',   'View reproducibility results',     'view reproducibility results',  Y, Y, Y, Y, Y],
    ['run_reproducibility',    'Run reproducibility tests',        'run reproducibility tests',     N, N, Y, Y, Y],
    ['golden_comparison',      'Compare runs (golden comparison)', 'run golden comparisons',        N, N, Y, Y, Y],
    ['lock_run',               'Lock run (immutable)',             'lock runs',                     N, N, N, Y, Y],
    ['approve_deployment',     'Approve for deployment',           'approve deployments',           N, N, N, Y, Y],
  ],
  'REPORTING & EXPORT': [
    ['view_reports',           'View reports',                     'view reports',                  Y, Y, Y, Y, Y],
    ['generate_report',        'Generate report',                  'generate reports',              N, Y, Y, N, Y],
    ['export_scoring_spec',    'Export scoring spec (JSON)',       'export scoring specs',          N, Y, Y, Y, Y],
    ['export_model_card',      'Export model card',                'export model cards',            Y, Y, Y, Y, Y],
    ['download_artifacts',     'Download artifacts',               'download artifacts',            Y, Y, Y, Y, Y],
  ],
  'MONITORING & MAINTENANCE': [
    ['view_monitoring',        'View monitoring dashboards',       'view monitoring dashboards',    Y, Y, Y, Y, Y],
    ['configure_monitoring',   'Configure monitoring',             'configure monitoring',          N, N, N, N, Y],
    ['view_audit_logs',        'View audit logs',                  'view audit logs',               N, Y, Y, Y, Y],
    ['export_audit_logs',      'Export audit logs',                'export audit logs',             N, N, N, Y, Y],
  ],
  'SYSTEM ADMINISTRATION': [
    ['manage_users',           'Manage users',                     'manage users',                  N, N, N, N, Y],
    ['assign_roles',           'Assign roles',                     'assign roles',                  N, N, N, N, Y],
    ['system_configuration',   'Configure system settings',        'configure system settings',     N, N, N, N, Y],
    ['view_system_health',     'View system health',               'view system health',            N, N, N, N, Y],
    ['manage_backups',         'Manage storage/backups',           'manage storage and backups',    N, N, N, N, Y],
  ],
};

/** Every row of the matrix, in seed order. */
export const MATRIX: readonly MatrixRow[] = Object.entries(TABLE).flatMap(([category, rows]) =>
  rows.map(([permission, operation, verb, ...cells]) => ({
    permission,
    category,
    operation,
    verb,
    cells: Object.fromEntries(ROLES.map((role, i) => [role, cells[i]!])) as Record<Role, Cell>,
  })),
);

const BY_PERMISSION = new Map(MATRIX.map((row) => [row.permission, row]));

export function matrixRow(permission: Permission): MatrixRow {
  const row = BY_PERMISSION.get(permission);
  if (!row) throw new Error(`permission ${permission} is not in the matrix`);
  return row;
}

/** The cell for (role, permission). */
export function cellFor(role: Role, permission: Permission): Cell {
  return matrixRow(permission).cells[role];
}

/** Roles with the permission (own-only counts), in ROLES order. */
export function allowedRoles(permission: Permission): Role[] {
  const row = matrixRow(permission);
  return ROLES.filter((role) => row.cells[role] !== CELL.no);
}

/** The chain of roles where each has at least the permissions of the one before (VALIDATOR is a separate branch). */
export const ROLE_CHAIN: readonly Role[] = ['VIEWER', 'ANALYST', 'MODELER'];

/**
 * `minimum_role` of a denial: the lowest role on the VIEWER < ANALYST < MODELER chain that has the permission;
 * otherwise the other roles that have it (ADMIN has everything, so it is named only when it alone has it).
 */
export function minimumRole(permission: Permission): string {
  const allowed = allowedRoles(permission);
  const onChain = ROLE_CHAIN.find((role) => allowed.includes(role));
  if (onChain) return onChain;
  const others = allowed.filter((role) => role !== 'ADMIN');
  return others.length > 0 ? others.join(' or ') : 'ADMIN';
}

/** Permissions the role has (fully or on own resources). */
export function permissionsOf(role: Role): Permission[] {
  return MATRIX.filter((row) => row.cells[role] !== CELL.no).map((row) => row.permission);
}

const ASK_ADMIN = 'Ask an ADMIN to assign the role, or a temporary elevation (access-perm users elevate).';

/** The message of a denial, telling the user what to do (seed-3 §8). */
export function denialMessage(role: Role, permission: Permission): string {
  const row = matrixRow(permission);
  const minimum = minimumRole(permission);
  if (role === 'VIEWER') {
    return `Viewers have read-only access: ${row.verb} needs ${minimum}${ROLE_CHAIN.includes(minimum as Role) ? ' or higher' : ''}. ${ASK_ADMIN}`;
  }
  if (minimum === 'ADMIN') return `Only ADMIN can ${row.verb}. Ask a platform administrator to do it for you.`;
  if (ROLE_CHAIN.includes(minimum as Role)) {
    return `Only users with ${minimum} or higher role can ${row.verb} (your role: ${role}). ${ASK_ADMIN}`;
  }
  return `Only ${minimum} or ADMIN can ${row.verb} (your role: ${role}). Ask the model validation team.`;
}

/** The message when an own-only cell applies to someone else's resource. */
export function ownershipMessage(role: Role, permission: Permission, resourceId: string | undefined, owner?: string) {
  const row = matrixRow(permission);
  const what = resourceId ? `${resourceId}` : 'this resource';
  const by = owner ? ` belongs to ${owner}` : ' has no recorded owner';
  return `${role} can ${row.verb} only for their own runs; ${what}${by}. Ask its owner or a MODELER.`;
}
