import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import type { z } from 'zod';
import { configSchema, type AccessPermConfig, type SeedDataConfig } from '../schemas/config';
import { ConfigError } from './errors';
import { sha256Hex, canonicalJson } from './hash';
import { dataDir, PROJECT_ROOT } from './paths';

/** A validated config plus where it came from; relative data paths are resolved against the config file's folder. */
export interface LoadedConfig {
  path: string;
  /** The file's text as read and parsed (what a registered config's version is checked against). */
  text: string;
  config: AccessPermConfig;
  /** sha256 of the canonical JSON of the validated config: the run's config identity. */
  hash: string;
}

function describeIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    return `${key}: ${issue.message}`;
  });
  return `${source}: invalid config — ${lines.join('; ')}`;
}

/** Validates an already-parsed config object; throws ConfigError naming every bad key. */
export function parseConfig(raw: unknown, source: string, baseDir: string): AccessPermConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssues(source, result.error));
  const config = result.data;
  if (config.data.mode === 'seed') {
    if (!isAbsolute(config.data.dir)) config.data.dir = resolve(baseDir, config.data.dir);
  } else {
    if (!isAbsolute(config.data.path)) config.data.path = resolve(baseDir, config.data.path);
    if (config.data.test !== undefined && !isAbsolute(config.data.test))
      config.data.test = resolve(baseDir, config.data.test);
  }
  return config;
}

/**
 * The seed-mode data block, for code that reads the seed's four tables (metadata joins, request scoring);
 * throws ConfigError naming `purpose` for a flat-mode config.
 */
export function seedData(config: AccessPermConfig, purpose: string): SeedDataConfig {
  if (config.data.mode !== 'seed')
    throw new ConfigError(
      `${purpose} needs data.mode 'seed' (the users/apps/interactions tables); this config is flat mode`,
    );
  return config.data;
}

/** The config registry's folder: `<data dir>/configs/<id>/v<n>.yaml`, one immutable file per version. */
export const configRegistryDir = (): string => join(dataDir(), 'configs');

/**
 * The folder relative paths of a config are resolved against: the config file's own, except for a registered
 * config, whose versions live in the registry and were written against the project's folder.
 */
export function configBaseDir(path: string): string {
  const rel = relative(configRegistryDir(), resolve(path));
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? PROJECT_ROOT : dirname(resolve(path));
}

/** Parses and validates a config document (YAML or JSON text); ConfigError naming `source` and every bad key. */
export function parseConfigText(text: string, source: string, baseDir: string): AccessPermConfig {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML — ${(err as Error).message.split('\n')[0]}`);
  }
  return parseConfig(raw, source, baseDir);
}

/** Reads and validates a YAML config file. */
export async function loadConfig(path: string): Promise<LoadedConfig> {
  const absolute = resolve(path);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const config = parseConfigText(text, path, configBaseDir(absolute));
  return { path: absolute, text, config, hash: sha256Hex(canonicalJson(config)) };
}
