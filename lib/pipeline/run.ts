import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccessPermConfig } from '../../schemas/config';
import type { ResolvedIdentity } from '../../schemas/governance';
import type { ArtifactRef } from '../../schemas/run';
import { writeArtifact } from '../artifacts';
import { loadConfig, parseConfig } from '../config';
import { writeSyntheticDataset } from '../data/generate';
import { fileExists, rawPaths } from '../data/raw';
import { InputError } from '../errors';
import { appendAudit } from '../governance/audit';
import { canonicalJson, sha256File, sha256Hex } from '../hash';
import { RunLockedError } from '../lifecycle/errors';
import { readLock } from '../lifecycle/lockFile';
import { runDir as runDirOf } from '../paths';

/** What every later step needs to find a run: small enough for a Temporal payload. */
export interface RunRef {
  runId: string;
  runDir: string;
}

export const CONFIG_SNAPSHOT = 'config.json';
export const RUN_INFO = 'run.json';

export interface RunInfo {
  runId: string;
  /** Who started the run (proven by token at prepare time) and the role in force then. */
  createdBy: { userId: string; role: string; temporaryRole: boolean };
  configPath: string;
  configHash: string;
  dataHash: string;
  dataFiles: Record<string, string>;
  startedAt: string;
}

/** The config as the run saw it (snapshotted at prepare time, so later edits of the YAML do not leak in). */
export async function readRunConfig(ref: RunRef): Promise<AccessPermConfig> {
  const raw: unknown = JSON.parse(await readFile(join(ref.runDir, CONFIG_SNAPSHOT), 'utf8'));
  return parseConfig(raw, join(ref.runDir, CONFIG_SNAPSHOT), ref.runDir);
}

export async function readRunInfo(runDir: string): Promise<RunInfo> {
  return JSON.parse(await readFile(join(runDir, RUN_INFO), 'utf8')) as RunInfo;
}

/** Generates the configured synthetic data when the input files are absent and the config allows it. */
export async function ensureInputData(config: AccessPermConfig): Promise<{ generated: boolean }> {
  const paths = rawPaths(config);
  const required = [paths.users, paths.apps, paths.interactions];
  const present = await Promise.all(required.map(fileExists));
  if (present.every(Boolean)) return { generated: false };
  if (!config.data.generate) {
    const missing = required.filter((_, i) => !present[i]);
    throw new InputError(
      `input data not found: ${missing.join(', ')} (set data.generate in the config to create synthetic data)`,
    );
  }
  await writeSyntheticDataset(config.data.dir, {
    seed: config.data.generate.seed,
    interactions: config.data.generate.interactions,
  });
  return { generated: true };
}

export interface PreparedRun extends RunRef {
  configHash: string;
  dataHash: string;
  nSplits: number;
  generatedData: boolean;
  artifacts: ArtifactRef[];
}

/**
 * Loads and checks the config, makes sure the data exists, creates the run folder, snapshots config + data
 * hashes, and audits the run's creation by `createdBy` (already authorized for `create_run` by the caller).
 */
export async function prepareRun(runId: string, configPath: string, createdBy: ResolvedIdentity): Promise<PreparedRun> {
  const loaded = await loadConfig(configPath);
  const { generated } = await ensureInputData(loaded.config);
  const dir = runDirOf(runId, loaded.config);
  // seed-3 §5: a locked run is never re-run in place.
  const lock = await readLock(dir);
  if (lock) throw new RunLockedError(runId, lock.locked_by, lock.locked_at);
  await mkdir(dir, { recursive: true });
  const paths = rawPaths(loaded.config);
  const dataFiles: Record<string, string> = {};
  for (const table of ['users', 'apps', 'interactions'] as const) dataFiles[table] = await sha256File(paths[table]);
  const dataHash = sha256Hex(canonicalJson(dataFiles));
  const info: RunInfo = {
    runId,
    createdBy: { userId: createdBy.userId, role: createdBy.role, temporaryRole: createdBy.temporaryRole === true },
    configPath: loaded.path,
    configHash: loaded.hash,
    dataHash,
    dataFiles,
    startedAt: new Date().toISOString(),
  };
  const artifacts = [
    await writeArtifact(dir, CONFIG_SNAPSHOT, `${JSON.stringify(loaded.config, null, 2)}\n`, 'config'),
    await writeArtifact(dir, RUN_INFO, `${JSON.stringify(info, null, 2)}\n`, 'run-info'),
  ];
  await appendAudit({
    user_id: createdBy.userId,
    user_role: createdBy.role,
    temporary_role: createdBy.temporaryRole === true,
    action: 'run_created',
    resource_type: 'run',
    resource_id: runId,
    correlation_id: runId,
    status: 'success',
    source: 'workflow',
    result: 'started',
    details: { config_hash: loaded.hash, data_hash: dataHash },
  });
  return {
    runId,
    runDir: dir,
    configHash: loaded.hash,
    dataHash,
    nSplits: loaded.config.validation.n_splits,
    generatedData: generated,
    artifacts,
  };
}
