import type { AccessPermConfig, FlatDataConfig } from '../../schemas/config';
import type { ResolvedIdentity } from '../../schemas/governance';
import type { ArtifactRef, RunInfo } from '../../schemas/run';
import { writeArtifact } from '../artifacts';
import { registeredConfigOf } from '../configs';
import { loadConfig } from '../config';
import { writeSyntheticDataset } from '../data/generate';
import { queryRows, sqlString, withDuckDb } from '../data/duck';
import { fileExists, inputFiles, rawPaths } from '../data/raw';
import { ConfigError, InputError } from '../errors';
import { appendAudit } from '../governance/audit';
import { canonicalJson, sha256File, sha256Hex } from '../hash';
import {
  CONFIG_FILE,
  createRunDir,
  readLock,
  RUN_INFO_FILE,
  RunLockedError,
  takeOverRunFolder,
  type RunFolder,
  type WorkflowExecution,
} from '../run';
import { readableInput } from '../settings';

/**
 * Checks that a flat-mode table exists and that its header holds every declared column; throws ConfigError
 * naming the config key and the column that is not in the file.
 */
async function checkFlatInput(data: FlatDataConfig): Promise<void> {
  if (!(await fileExists(data.path))) throw new InputError(`input data not found: ${data.path} (data.path)`);
  if (data.test !== undefined && !(await fileExists(data.test)))
    throw new InputError(`test file not found: ${data.test} (data.test)`);
  const header = await withDuckDb((conn) =>
    queryRows(
      conn,
      `SELECT column_name FROM (DESCRIBE SELECT * FROM read_csv(${sqlString(data.path)}, header = true, all_varchar = true, delim = ','))`,
    ),
  ).catch((err: Error) => {
    throw new InputError(`${data.path}: cannot read the CSV header — ${err.message.split('\n')[0]}`);
  });
  const present = new Set(header.map((r) => String(r.column_name)));
  const declared: Array<[string, string]> = [
    ...data.categorical.map((c): [string, string] => ['data.categorical', c]),
    ...data.numeric.map((c): [string, string] => ['data.numeric', c]),
    ['data.label', data.label],
    ...(data.group ? [['data.group', data.group] as [string, string]] : []),
    ...data.id_columns.map((c): [string, string] => ['data.id_columns', c]),
  ];
  const unknown = declared.filter(([, c]) => !present.has(c));
  if (unknown.length > 0)
    throw new ConfigError(
      `${unknown.map(([key, c]) => `${key}: column "${c}" is not in ${data.path}`).join('; ')} (its columns: ${[...present].join(', ')})`,
    );
}

/**
 * Makes sure the input data exists: generates the configured synthetic data when the seed's files are absent and
 * the config allows it; checks a flat-mode table's header against the declared columns.
 */
export async function ensureInputData(config: AccessPermConfig): Promise<{ generated: boolean }> {
  if (config.data.mode === 'flat') {
    await checkFlatInput(config.data);
    return { generated: false };
  }
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

export interface PreparedRun extends RunFolder {
  configHash: string;
  dataHash: string;
  nSplits: number;
  generatedData: boolean;
  artifacts: ArtifactRef[];
}

/**
 * Loads and checks the config, makes sure the data exists, creates the run folder owned by `execution` (the
 * workflow preparing it), snapshots config + data hashes, and audits the run's creation by `createdBy` (already
 * authorized for `create_run` by the caller). The config and every input file must lie in the folders workflows may
 * read (lib/settings.ts).
 */
export async function prepareRun(
  runId: string,
  configPath: string,
  createdBy: ResolvedIdentity,
  execution: WorkflowExecution,
): Promise<PreparedRun> {
  const loaded = await loadConfig(await readableInput(configPath, 'config'));
  // A version of a registered config: recorded with the run (and refused when changed outside access-perm).
  const registeredConfig = await registeredConfigOf(loaded.path, loaded.text);
  for (const [table, path] of Object.entries(inputFiles(loaded.config)))
    await readableInput(path, `input file (${table})`);
  // The unlabelled submission file is read by validation too, though it is not part of the data identity.
  if (loaded.config.data.mode === 'seed')
    await readableInput(rawPaths(loaded.config).submission, 'input file (submission)');
  const { generated } = await ensureInputData(loaded.config);
  const dir = await createRunDir(runId, loaded.config.artifacts.dir);
  // seed-3 §5: a locked run is never re-run in place.
  const lock = await readLock(dir);
  if (lock) throw new RunLockedError(runId, lock.locked_by, lock.locked_at);
  await takeOverRunFolder(dir, execution);
  const dataFiles: Record<string, string> = {};
  for (const [table, path] of Object.entries(inputFiles(loaded.config))) dataFiles[table] = await sha256File(path);
  const dataHash = sha256Hex(canonicalJson(dataFiles));
  const info: RunInfo = {
    runId,
    createdBy: { userId: createdBy.userId, role: createdBy.role, temporaryRole: createdBy.temporaryRole === true },
    configPath: loaded.path,
    configHash: loaded.hash,
    dataHash,
    dataFiles,
    startedAt: new Date().toISOString(),
    ...(registeredConfig ? { registeredConfig } : {}),
  };
  const artifacts = [
    await writeArtifact(dir, CONFIG_FILE, `${JSON.stringify(loaded.config, null, 2)}\n`, 'config'),
    await writeArtifact(dir, RUN_INFO_FILE, `${JSON.stringify(info, null, 2)}\n`, 'run-info'),
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
    details: {
      config_hash: loaded.hash,
      data_hash: dataHash,
      ...(registeredConfig ? { config_id: `${registeredConfig.id}@${registeredConfig.version}` } : {}),
    },
  });
  return {
    runId,
    root: dir,
    dir,
    configHash: loaded.hash,
    dataHash,
    nSplits: loaded.config.validation.n_splits,
    generatedData: generated,
    artifacts,
  };
}
