import { listKeys, rotateSigningKey, type KeyInfo } from '../keys';
import { appendAudit } from './audit';
import { authorize, type Credential } from './authorize';

/**
 * A new current signing key (system_configuration: ADMIN); earlier keys keep verifying what they signed. Audited
 * as `signing_key_rotated` with both key ids; auditors need the new public key (`keys show --pem`).
 */
export async function rotateSigningKeyAs(credential: Credential, reason: string): Promise<KeyInfo[]> {
  const actor = await authorize(credential, 'system_configuration', { type: 'keyring' });
  const before = (await listKeys()).find((k) => k.current)?.keyId ?? null;
  const keys = await rotateSigningKey();
  const after = keys.find((k) => k.current)!.keyId;
  await appendAudit({
    user_id: actor.userId,
    user_role: actor.role,
    action: 'signing_key_rotated',
    resource_type: 'keyring',
    status: 'success',
    before: { key_id: before },
    after: { key_id: after },
    reason,
    source: credential.source ?? 'cli',
    result: 'completed',
    temporary_role: actor.temporaryRole ?? false,
  });
  return keys;
}
