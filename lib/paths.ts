import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AccessPermConfig } from '../schemas/config';
import { UnknownRunError } from './errors';

/** The project checkout (parent of lib/). */
export const PROJECT_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** Where runs, the embedded server's database and other state live: ACCESS_PERM_DATA_DIR or `<project>/.data`. */
export function dataDir(): string {
  const fromEnv = process.env.ACCESS_PERM_DATA_DIR;
  return fromEnv ? resolve(fromEnv) : join(PROJECT_ROOT, '.data');
}

/** Folder under which run folders are created. */
export function runsDir(config?: AccessPermConfig): string {
  const dir = config?.artifacts.dir ?? 'runs';
  return isAbsolute(dir) ? dir : join(dataDir(), dir);
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Run ids double as folder names and workflow ids: letters, digits, '.', '_', '-', at most 128 characters. */
export function assertRunId(runId: string): string {
  if (!RUN_ID.test(runId) || runId.includes('..')) {
    throw new UnknownRunError(
      `invalid run id ${JSON.stringify(runId.slice(0, 80))}: use letters, digits, '.', '_' or '-' (at most 128 characters)`,
    );
  }
  return runId;
}

export function runDir(runId: string, config?: AccessPermConfig): string {
  return join(runsDir(config), assertRunId(runId));
}

/** A new run id: UTC time plus random suffix, readable and sortable (`run-20261122-013000-4f2a9c`). */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const suffix = Math.floor(Math.random() * 0xffffff)
    .toString(16)
    .padStart(6, '0');
  return `run-${stamp}-${suffix}`;
}
