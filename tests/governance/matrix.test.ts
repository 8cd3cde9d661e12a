import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  allowedRoles,
  authorize,
  MATRIX,
  matrixRow,
  minimumRole,
  PermissionDeniedError,
  queryAudit,
} from '../../lib/governance';
import { PROJECT_ROOT } from '../../lib/paths';
import { PERMISSIONS, ROLES, type Permission, type Role } from '../../schemas/governance';
import { useTempDataDir } from '../helpers';
import { makeTeam, type Team } from './fixtures';

/**
 * seed-3 §2, verbatim (checked against ../shared/seeds when that folder is present). The test parses these boxes
 * and compares every cell with lib/governance/matrix.ts, so the code and the seed cannot drift apart.
 */
const SEED_SECTION_2 = `
CONFIG MANAGEMENT
╔═════════════════════════════════╦═══════╦════════╦═════════╦════════════╦═══════╗
║ Operation                        ║ Viewer║ Analyst║ Modeler ║ Validator  ║ Admin ║
╠═════════════════════════════════╬═══════╬════════╬═════════╬════════════╬═══════╣
║ View config                      ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
║ Create new config                ║   ✗   ║   ✓    ║    ✓    ║     ✗      ║   ✓   ║
║ Edit config                      ║   ✗   ║   ✓    ║    ✓    ║     ✗      ║   ✓   ║
║ Delete config                    ║   ✗   ║   ✗    ║    ✓    ║     ✗      ║   ✓   ║
║ Share config (change visibility) ║   ✗   ║   ✓    ║    ✓    ║     ✗      ║   ✓   ║
╚═════════════════════════════════╩═══════╩════════╩═════════╩════════════╩═══════╝

RUN EXECUTION
╔═════════════════════════════════╦═══════╦════════╦═════════╦════════════╦═══════╗
║ Operation                        ║ Viewer║ Analyst║ Modeler ║ Validator  ║ Admin ║
╠═════════════════════════════════╬═══════╬════════╬═════════╬════════════╬═══════╣
║ View completed runs              ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
║ Create and run scorecard         ║   ✗   ║   ✓    ║    ✓    ║     ✗      ║   ✓   ║
║ Cancel running job               ║   ✗   ║   ✓*   ║    ✓    ║     ✗      ║   ✓   ║
║ Delete run artifacts             ║   ✗   ║   ✗    ║    ✓    ║     ✗      ║   ✓   ║
║ Export run for deployment        ║   ✗   ║   ✗    ║    ✓    ║     ✓      ║   ✓   ║
╚═════════════════════════════════╩═══════╩════════╩═════════╩════════════╩═══════╝
 * Analyst can cancel only own runs

BINNING & MANUAL OVERRIDES
╔═════════════════════════════════╦═══════╦════════╦═════════╦════════════╦═══════╗
║ Operation                        ║ Viewer║ Analyst║ Modeler ║ Validator  ║ Admin ║
╠═════════════════════════════════╬═══════╬════════╬═════════╬════════════╬═══════╣
║ View binning tables              ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
║ Auto-generate bins               ║   ✗   ║   ✓    ║    ✓    ║     ✗      ║   ✓   ║
║ Manual bin override              ║   ✗   ║   ✗    ║    ✓    ║     ✗      ║   ✓   ║
║ Enforce monotonicity             ║   ✗   ║   ✓    ║    ✓    ║     ✗      ║   ✓   ║
║ Merge bins                       ║   ✗   ║   ✗    ║    ✓    ║     ✗      ║   ✓   ║
║ View override audit trail        ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
╚═════════════════════════════════╩═══════╩════════╩═════════╩════════════╩═══════╝

MODEL BUILDING
╔═════════════════════════════════╦═══════╦════════╦═════════╦════════════╦═══════╗
║ Operation                        ║ Viewer║ Analyst║ Modeler ║ Validator  ║ Admin ║
╠═════════════════════════════════╬═══════╬════════╬═════════╬════════════╬═══════╣
║ View model performance           ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
║ Select features                  ║   ✗   ║   ✓    ║    ✓    ║     ✗      ║   ✓   ║
║ Train/retrain model              ║   ✗   ║   ✓    ║    ✓    ║     ✗      ║   ✓   ║
║ Adjust regularization parameters ║   ✗   ║   ✗    ║    ✓    ║     ✗      ║   ✓   ║
║ Compare two models               ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
╚═════════════════════════════════╩═══════╩════════╩═════════╩════════════╩═══════╝

VALIDATION & APPROVAL
╔═════════════════════════════════╦═══════╦════════╦═════════╦════════════╦═══════╗
║ Operation                        ║ Viewer║ Analyst║ Modeler ║ Validator  ║ Admin ║
╠═════════════════════════════════╬═══════╬════════╬═════════╬════════════╬═══════╣
║ View reproducibility results     ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
║ Run reproducibility tests        ║   ✗   ║   ✗    ║    ✓    ║     ✓      ║   ✓   ║
║ Compare runs (golden comparison) ║   ✗   ║   ✗    ║    ✓    ║     ✓      ║   ✓   ║
║ Lock run (immutable)             ║   ✗   ║   ✗    ║    ✗    ║     ✓      ║   ✓   ║
║ Approve for deployment           ║   ✗   ║   ✗    ║    ✗    ║     ✓      ║   ✓   ║
╚═════════════════════════════════╩═══════╩════════╩═════════╩════════════╩═══════╝

REPORTING & EXPORT
╔═════════════════════════════════╦═══════╦════════╦═════════╦════════════╦═══════╗
║ Operation                        ║ Viewer║ Analyst║ Modeler ║ Validator  ║ Admin ║
╠═════════════════════════════════╬═══════╬════════╬═════════╬════════════╬═══════╣
║ View reports                     ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
║ Generate report                  ║   ✗   ║   ✓    ║    ✓    ║     ✗      ║   ✓   ║
║ Export scoring spec (JSON)       ║   ✗   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
║ Export model card                ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
║ Download artifacts               ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
╚═════════════════════════════════╩═══════╩════════╩═════════╩════════════╩═══════╝

MONITORING & MAINTENANCE
╔═════════════════════════════════╦═══════╦════════╦═════════╦════════════╦═══════╗
║ Operation                        ║ Viewer║ Analyst║ Modeler ║ Validator  ║ Admin ║
╠═════════════════════════════════╬═══════╬════════╬═════════╬════════════╬═══════╣
║ View monitoring dashboards       ║   ✓   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
║ Configure monitoring             ║   ✗   ║   ✗    ║    ✗    ║     ✗      ║   ✓   ║
║ View audit logs                  ║   ✗   ║   ✓    ║    ✓    ║     ✓      ║   ✓   ║
║ Export audit logs                ║   ✗   ║   ✗    ║    ✗    ║     ✓      ║   ✓   ║
╚═════════════════════════════════╩═══════╩════════╩═════════╩════════════╩═══════╝

SYSTEM ADMINISTRATION
╔═════════════════════════════════╦═══════╦════════╦═════════╦════════════╦═══════╗
║ Operation                        ║ Viewer║ Analyst║ Modeler ║ Validator  ║ Admin ║
╠═════════════════════════════════╬═══════╬════════╬═════════╬════════════╬═══════╣
║ Manage users                     ║   ✗   ║   ✗    ║    ✗    ║     ✗      ║   ✓   ║
║ Assign roles                     ║   ✗   ║   ✗    ║    ✗    ║     ✗      ║   ✓   ║
║ Configure system settings        ║   ✗   ║   ✗    ║    ✗    ║     ✗      ║   ✓   ║
║ View system health               ║   ✗   ║   ✗    ║    ✗    ║     ✗      ║   ✓   ║
║ Manage storage/backups           ║   ✗   ║   ✗    ║    ✗    ║     ✗      ║   ✓   ║
╚═════════════════════════════════╩═══════╩════════╩═════════╩════════════╩═══════╝
`;

/** The seed's operation labels → our stable permission names. */
const NAMES: Record<string, Permission> = {
  'View config': 'view_config',
  'Create new config': 'create_config',
  'Edit config': 'edit_config',
  'Delete config': 'delete_config',
  'Share config (change visibility)': 'share_config',
  'View completed runs': 'view_runs',
  'Create and run scorecard': 'create_run',
  'Cancel running job': 'cancel_run',
  'Delete run artifacts': 'delete_run_artifacts',
  'Export run for deployment': 'export_run',
  'View binning tables': 'view_binning',
  'Auto-generate bins': 'auto_generate_bins',
  'Manual bin override': 'binning_override',
  'Enforce monotonicity': 'enforce_monotonicity',
  'Merge bins': 'merge_bins',
  'View override audit trail': 'view_override_audit',
  'View model performance': 'view_model_performance',
  'Select features': 'select_features',
  'Train/retrain model': 'train_model',
  'Adjust regularization parameters': 'adjust_regularization',
  'Compare two models': 'compare_models',
  'View reproducibility results': 'view_reproducibility',
  'Run reproducibility tests': 'run_reproducibility',
  'Compare runs (golden comparison)': 'golden_comparison',
  'Lock run (immutable)': 'lock_run',
  'Approve for deployment': 'approve_deployment',
  'View reports': 'view_reports',
  'Generate report': 'generate_report',
  'Export scoring spec (JSON)': 'export_scoring_spec',
  'Export model card': 'export_model_card',
  'Download artifacts': 'download_artifacts',
  'View monitoring dashboards': 'view_monitoring',
  'Configure monitoring': 'configure_monitoring',
  'View audit logs': 'view_audit_logs',
  'Export audit logs': 'export_audit_logs',
  'Manage users': 'manage_users',
  'Assign roles': 'assign_roles',
  'Configure system settings': 'system_configuration',
  'View system health': 'view_system_health',
  'Manage storage/backups': 'manage_backups',
};

type SeedCell = 'yes' | 'no' | 'own';
interface SeedRow {
  category: string;
  label: string;
  cells: Record<Role, SeedCell>;
}

function parseSeed(text: string): SeedRow[] {
  const rows: SeedRow[] = [];
  let category = '';
  for (const line of text.split('\n')) {
    if (/^[A-Z][A-Z &]+$/.test(line.trim())) category = line.trim();
    if (!line.startsWith('║') || line.includes('Operation')) continue;
    const cols = line
      .split('║')
      .slice(1, -1)
      .map((c) => c.trim());
    const [label, ...marks] = cols;
    const cells = Object.fromEntries(
      ROLES.map((role, i) => {
        const mark = marks[i]!;
        return [role, mark === '✓' ? 'yes' : mark === '✓*' ? 'own' : mark === '✗' ? 'no' : `?${mark}`];
      }),
    ) as Record<Role, SeedCell>;
    rows.push({ category, label: label!, cells });
  }
  return rows;
}

const seedRows = parseSeed(SEED_SECTION_2);
let team: Team;

beforeAll(async () => {
  await useTempDataDir('gov-matrix');
  team = await makeTeam();
});

describe('the permission matrix is seed-3 §2', () => {
  it('embeds the seed text verbatim (when the seed folder is present)', () => {
    const seedPath = join(PROJECT_ROOT, '..', 'shared', 'seeds', 'seed-3-permissions-matrix.txt');
    if (!existsSync(seedPath)) return;
    expect(readFileSync(seedPath, 'utf8')).toContain(SEED_SECTION_2.trimStart());
  });

  it('has one row per seed operation, same order, same categories and labels, and nothing else', () => {
    expect(seedRows).toHaveLength(40);
    expect(MATRIX.map((r) => r.permission)).toEqual(seedRows.map((r) => NAMES[r.label]));
    expect(MATRIX.map((r) => r.permission)).toEqual([...PERMISSIONS]);
    for (const [i, row] of seedRows.entries()) {
      expect(MATRIX[i]!.operation).toBe(row.label);
      expect(MATRIX[i]!.category).toBe(row.category);
    }
  });

  it('gives ADMIN every permission and keeps VALIDATOR off the ANALYST < MODELER chain', () => {
    expect(MATRIX.every((r) => r.cells.ADMIN === 'yes')).toBe(true);
    const has = (role: Role, p: Permission): boolean => matrixRow(p).cells[role] !== 'no';
    // VALIDATOR has permissions MODELER lacks, and lacks some MODELER has: neither is above the other.
    expect(PERMISSIONS.some((p) => has('VALIDATOR', p) && !has('MODELER', p))).toBe(true);
    expect(PERMISSIONS.some((p) => has('MODELER', p) && !has('VALIDATOR', p))).toBe(true);
    // On the chain, each role has everything the one below has.
    for (const p of PERMISSIONS) {
      if (has('VIEWER', p)) expect(has('ANALYST', p)).toBe(true);
      if (has('ANALYST', p)) expect(has('MODELER', p)).toBe(true);
    }
  });

  const cells = seedRows.flatMap((row) =>
    ROLES.map((role) => ({ role, permission: NAMES[row.label]!, cell: row.cells[role] })),
  );

  it.each(cells)(
    '$role × $permission = $cell (through authorize with a real token)',
    async ({ role, permission, cell }) => {
      expect(matrixRow(permission).cells[role]).toBe(cell);
      const token = team.tokens[role];
      const user = team.userOf[role];
      const resource = { type: 'run', id: 'run-matrix-1', runId: 'run-matrix-1', ownerId: 'someone-else' };
      if (cell === 'yes') {
        const who = await authorize(token, permission, resource);
        expect(who).toMatchObject({ userId: user, role, baseRole: role });
        return;
      }
      if (cell === 'own') {
        await expect(authorize(token, permission, { ...resource, ownerId: user })).resolves.toMatchObject({ role });
      }
      const denied = await authorize(token, permission, resource).catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(PermissionDeniedError);
      const d = denied as PermissionDeniedError;
      expect(d.toResponse()).toMatchObject({
        error: 'Permission denied',
        required_permission: permission,
        user_role: role,
        minimum_role: minimumRole(permission),
        allowed_roles: allowedRoles(permission),
      });
      expect(d.allowed_roles).not.toContain(cell === 'own' ? 'VIEWER' : role);
    },
  );
});

describe('denials (seed-3 §8)', () => {
  it('scenario 1: ANALYST manual override → MODELER or higher, audited as permission_denied', async () => {
    const e = (await authorize(team.tokens.ANALYST, 'binning_override', {
      type: 'binning_table',
      id: 'run-s1/age',
      runId: 'run-s1',
    }).catch((x: unknown) => x)) as PermissionDeniedError;
    expect(e.toResponse()).toEqual({
      error: 'Permission denied',
      required_permission: 'binning_override',
      user_role: 'ANALYST',
      minimum_role: 'MODELER',
      allowed_roles: ['MODELER', 'ADMIN'],
      message: expect.stringMatching(/^Only users with MODELER or higher role can perform manual overrides/),
    });
    expect(e.message).toMatch(/users elevate/);
    const [entry] = await queryAudit({ action: 'permission_denied', run_id: 'run-s1' });
    expect(entry).toMatchObject({
      action: 'permission_denied',
      user_id: 'analyst',
      user_role: 'ANALYST',
      attempted_action: 'binning_override',
      status: 'denied',
      reason: 'Insufficient role',
      correlation_id: 'run-s1',
      resource_type: 'binning_table',
      resource_id: 'run-s1/age',
      temporary_role: false,
    });
  });

  it('scenario 2: MODELER system configuration → ADMIN', async () => {
    const e = (await authorize(team.tokens.MODELER, 'system_configuration').catch(
      (x: unknown) => x,
    )) as PermissionDeniedError;
    expect(e).toMatchObject({
      required_permission: 'system_configuration',
      minimum_role: 'ADMIN',
      user_role: 'MODELER',
    });
    expect(e.message).toMatch(/Only ADMIN can configure system settings/);
  });

  it('scenario 3: VIEWER create_run → read-only message naming what to ask for', async () => {
    const e = (await authorize(team.tokens.VIEWER, 'create_run').catch((x: unknown) => x)) as PermissionDeniedError;
    expect(e).toMatchObject({ required_permission: 'create_run', user_role: 'VIEWER', minimum_role: 'ANALYST' });
    expect(e.message).toMatch(/^Viewers have read-only access/);
  });

  it('names the VALIDATOR branch when no chain role has the permission', async () => {
    expect(minimumRole('lock_run')).toBe('VALIDATOR');
    expect(minimumRole('export_audit_logs')).toBe('VALIDATOR');
    expect(minimumRole('export_run')).toBe('MODELER');
    const e = (await authorize(team.tokens.MODELER, 'lock_run', { type: 'run', id: 'r9' }).catch(
      (x: unknown) => x,
    )) as PermissionDeniedError;
    expect(e.message).toMatch(/Only VALIDATOR or ADMIN can lock runs/);
  });

  it('ANALYST cancel_run: own runs only; a run without a recorded owner is refused', async () => {
    await expect(
      authorize(team.tokens.ANALYST, 'cancel_run', { type: 'run', id: 'r1', ownerId: 'analyst' }),
    ).resolves.toMatchObject({ userId: 'analyst' });
    const e = (await authorize(team.tokens.ANALYST, 'cancel_run', { type: 'run', id: 'r2' }).catch(
      (x: unknown) => x,
    )) as PermissionDeniedError;
    expect(e).toBeInstanceOf(PermissionDeniedError);
    expect(e.message).toMatch(/only for their own runs; r2 has no recorded owner/);
    const [entry] = await queryAudit({ run_id: 'r2', action: 'permission_denied' });
    expect(entry?.reason).toBe('Not the owner of the resource');
  });
});
