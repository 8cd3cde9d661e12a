import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { settingsSchema, type Settings } from '../schemas/settings';
import { writeFileAfter } from './artifacts';
import { ConfigError, PathOutsideError } from './errors';
import { ensureKeyringDir, keyringDir } from './keys';
import { dataDir, insideRoots, isInside, PROJECT_ROOT } from './paths';

/** `<keyring>/settings.json`: beside the keys, out of reach of whoever can only write the data directory. */
export const settingsPath = (): string => join(keyringDir(), 'settings.json');

/** The installation's settings; the defaults when the file does not exist, ConfigError naming the key when invalid. */
export async function readSettings(): Promise<Settings> {
  let text: string;
  try {
    text = await readFile(settingsPath(), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return settingsSchema.parse({});
    throw e;
  }
  const parsed = settingsSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new ConfigError(
      `${settingsPath()}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** One settable key: its dotted name, what it does (the schema's description) and its default. */
export interface SettingKey {
  key: string;
  description: string;
  default: unknown;
}

/** Every leaf key of the settings document, walked from the schema so that the list cannot drift from it. */
export function settingKeys(): SettingKey[] {
  const defaults = settingsSchema.parse({}) as Record<string, unknown>;
  const keys: SettingKey[] = [];
  const walk = (schema: z.ZodType, path: string[], defaults: unknown): void => {
    const inner = schema instanceof z.ZodDefault ? (schema.unwrap() as z.ZodType) : schema;
    if (inner instanceof z.ZodObject) {
      for (const [name, child] of Object.entries(inner.shape as Record<string, z.ZodType>))
        walk(child, [...path, name], (defaults as Record<string, unknown>)[name]);
      return;
    }
    keys.push({ key: path.join('.'), description: schema.description ?? inner.description ?? '', default: defaults });
  };
  walk(settingsSchema, [], defaults);
  return keys;
}

/** The value at a dotted key; ConfigError listing the keys there are for an unknown one. */
export function settingAt(settings: Settings, key: string): unknown {
  if (!settingKeys().some((k) => k.key === key))
    throw new ConfigError(
      `no system setting ${JSON.stringify(key.slice(0, 100))}; the settings are: ${settingKeys()
        .map((k) => k.key)
        .join(', ')}`,
    );
  return key.split('.').reduce<unknown>((v, part) => (v as Record<string, unknown>)[part], settings);
}

/** A value typed on a command line: JSON when it parses (numbers, lists, null), else the plain string. */
export function settingValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** The settings with one key changed, validated as a whole; ConfigError names the key and what the value must be. */
export function withSetting(settings: Settings, key: string, value: unknown): Settings {
  settingAt(settings, key);
  const parts = key.split('.');
  const next = structuredClone(settings) as Record<string, unknown>;
  let node = next;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  node[parts.at(-1)!] = value;
  const parsed = settingsSchema.safeParse(next);
  if (!parsed.success)
    throw new ConfigError(
      `${key} = ${JSON.stringify(value).slice(0, 200)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
    );
  return parsed.data;
}

/**
 * Writes the settings document to the keyring: flushed beside the file first, then `beforeCommit` (the audit entry
 * of the change), then renamed into place, so a change that cannot be audited never takes effect.
 */
export async function writeSettings(settings: Settings, beforeCommit: () => Promise<void>): Promise<void> {
  await ensureKeyringDir();
  await writeFileAfter(
    settingsPath(),
    `${JSON.stringify(settingsSchema.parse(settings), null, 2)}\n`,
    beforeCommit,
    0o600,
  );
}

/** Folders workflows read inputs from: the data directory, the project's `data/` and `config/`, `read_roots`. */
export async function readableRoots(): Promise<string[]> {
  return [dataDir(), join(PROJECT_ROOT, 'data'), join(PROJECT_ROOT, 'config'), ...(await readSettings()).read_roots];
}

/**
 * An input path a workflow was given (a config, a data file, a monitoring window), after checking it lies in one of
 * the {@link readableRoots}.
 * @throws PathOutsideError naming the path and the folders it may come from.
 */
export async function readableInput(path: string, what: string): Promise<string> {
  const absolute = await insideRoots(path, await readableRoots(), what);
  // A read root an ADMIN lists may contain the keyring (say, a home folder): its secrets are never an input.
  if (await isInside(keyringDir(), absolute))
    throw new PathOutsideError(`${what} ${absolute} is inside the keyring ${keyringDir()}: never read as an input`);
  return absolute;
}
