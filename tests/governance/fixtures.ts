import { readFile } from 'node:fs/promises';
import { addUser, auditLogPath, bootstrapAdmin, issueToken } from '../../lib/governance';
import { ROLES, type AuditEntry, type Role } from '../../schemas/governance';

export interface Team {
  admin: string;
  /** A token per role, for users named after their role (`viewer`, `analyst`, ...). */
  tokens: Record<Role, string>;
  userOf: Record<Role, string>;
}

/** Bootstraps an ADMIN (`root`) and one user per role with a token each, in the current ACCESS_PERM_DATA_DIR. */
export async function makeTeam(): Promise<Team> {
  const admin = (await bootstrapAdmin('root')).token;
  const tokens = {} as Record<Role, string>;
  const userOf = {} as Record<Role, string>;
  for (const role of ROLES) {
    const userId = role.toLowerCase();
    await addUser({ token: admin }, { userId, role, reason: 'test team' });
    tokens[role] = (await issueToken({ token: admin }, { userId })).token;
    userOf[role] = userId;
  }
  return { admin, tokens, userOf };
}

/** Every entry of the active audit file, parsed. */
export async function auditLines(path = auditLogPath()): Promise<AuditEntry[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEntry);
}
