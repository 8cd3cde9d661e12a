import type { Settings } from '../../schemas/settings';
import { readSettings, settingAt, settingKeys, withSetting, writeSettings, type SettingKey } from '../settings';
import { actorFields, appendAudit } from './audit';
import { authorize, type Credential } from './authorize';

/** The system configuration a caller may read (system_configuration: ADMIN): every key with its value and default. */
export async function systemConfigAs(
  credential: Credential,
): Promise<{ settings: Settings; keys: Array<SettingKey & { value: unknown }> }> {
  await authorize(credential, 'system_configuration', { type: 'system_config' });
  const settings = await readSettings();
  return { settings, keys: settingKeys().map((k) => ({ ...k, value: settingAt(settings, k.key) })) };
}

/**
 * Sets one system setting (system_configuration: ADMIN). The permission is checked before the key is looked at, so a
 * denied caller learns nothing of the settings; then the value is validated with the whole document, audited as
 * `system_config_changed` with before and after, and written to the keyring only once the entry is in the log.
 */
export async function setSystemConfigAs(
  credential: Credential,
  key: string,
  value: unknown,
  reason: string,
): Promise<{ key: string; before: unknown; after: unknown; changed: boolean }> {
  const actor = await authorize(credential, 'system_configuration', { type: 'system_config', id: key.slice(0, 128) });
  const settings = await readSettings();
  const next = withSetting(settings, key, value);
  const before = settingAt(settings, key);
  const after = settingAt(next, key);
  const changed = JSON.stringify(before) !== JSON.stringify(after);
  if (!changed) return { key, before, after, changed };
  await writeSettings(next, async () => {
    await appendAudit({
      ...actorFields(actor),
      action: 'system_config_changed',
      resource_type: 'system_config',
      resource_id: key,
      status: 'success',
      before: { [key]: before },
      after: { [key]: after },
      reason,
      source: credential.source ?? 'cli',
      result: 'completed',
    });
  });
  return { key, before, after, changed };
}
