import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { settingsSchema, type Settings } from '../schemas/settings';
import { ConfigError } from './errors';
import { keyringDir } from './keys';
import { dataDir, insideRoots, PROJECT_ROOT } from './paths';

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
  return insideRoots(path, await readableRoots(), what);
}
