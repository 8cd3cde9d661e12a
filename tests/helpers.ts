import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { format, promisify } from 'node:util';
import { writeSyntheticDataset } from '../lib/data/generate';
import { MockActivityEnvironment } from '@temporalio/testing';
import { authorize, bootstrapAdmin, issueCapability } from '../lib/governance';
import type { Capability, ResolvedIdentity } from '../schemas/governance';
import type { Client } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import {
  connectClient,
  findServer,
  findTemporalCli,
  loadTemporalSettings,
  startDevServer,
  startLocalWorker,
  type DevServer,
  type TemporalServer,
} from '../client';
import { PROJECT_ROOT } from '../lib/paths';
import { MANIFEST_FILE, resolveRunDir, writeManifest } from '../lib/run';
import type { RunManifest } from '../schemas/run';

/**
 * A second finished run for tests that need one quickly: the folder of `from` copied to `to`, its manifests signed
 * again for `to` (as an operator holding the keys could; a copy alone is refused as another run's).
 */
export async function copyRun(from: string, to: string): Promise<string> {
  const dir = await resolveRunDir(to);
  await cp(await resolveRunDir(from), dir, { recursive: true });
  const versions = await readdir(join(dir, 'versions')).catch(() => [] as string[]);
  for (const folder of ['.', ...versions.map((v) => `versions/${v}`)]) {
    const path = join(dir, folder, MANIFEST_FILE);
    const manifest = JSON.parse(await readFile(path, 'utf8').catch(() => 'null')) as RunManifest | null;
    if (manifest) await writeManifest(join(dir, folder), { ...manifest, runId: to }, folder);
  }
  return dir;
}

/** A fresh data directory for a test file, set as ACCESS_PERM_DATA_DIR so runs land there. */
export async function useTempDataDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `access-perm-${prefix}-`));
  process.env.ACCESS_PERM_DATA_DIR = dir;
  return dir;
}

/** A small, fast config over generated data in `dataDir`; `patch` edits any section. */
export function smallConfig(dataDir: string, patch: (c: Record<string, any>) => void = () => {}): Record<string, any> {
  const config: Record<string, any> = {
    name: 'test',
    data: { mode: 'seed', dir: dataDir },
    model: { catboost: { iterations: 30, learning_rate: 0.2, depth: 4, random_seed: 7 } },
    validation: { n_splits: 3, threshold_strategy: 'max_accuracy', expectations: { min_rows: 100 } },
  };
  patch(config);
  return config;
}

export async function writeConfig(dir: string, name: string, config: Record<string, any>): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, stringify(config));
  return path;
}

/** Generates a small synthetic data set (deterministic) into `dir`. */
export async function smallDataset(dir: string, interactions = 3000, seed = 11): Promise<string> {
  await writeSyntheticDataset(dir, { seed, interactions });
  return dir;
}

const exec = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `access-perm` CLI as a user would, in the project folder, with `env` as its whole environment;
 * resolves with exit code and output instead of throwing.
 */
export async function runCli(env: NodeJS.ProcessEnv, ...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await exec('node', ['bin/access-perm.mjs', ...args], {
      cwd: PROJECT_ROOT,
      env,
      maxBuffer: 16 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as CliResult;
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/**
 * Runs the CLI in this process with `env` laid over process.env for the call, capturing what it prints and its exit
 * code: the same code path as `access-perm …` without a process start (a second or more each). Calls must not
 * overlap (tests of a file run one at a time).
 */
export async function cliInProcess(env: Record<string, string | undefined>, ...args: string[]): Promise<CliResult> {
  const { main } = await import('../scripts/cli');
  const saved = { ...process.env };
  const exitCode = process.exitCode;
  const out: string[] = [];
  const errs: string[] = [];
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      // A worker of this process logs through the same stream: its entries are not the command's output.
      if (!/^\d{4}-\d\d-\d\dT[\d:.]+Z \[[A-Z]+\]/.test(text)) into.push(text);
      return true;
    }) as typeof process.stdout.write;
  const writes = { out: process.stdout.write, err: process.stderr.write, log: console.log };
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  process.exitCode = 0;
  process.stdout.write = capture(out);
  process.stderr.write = capture(errs);
  console.log = (...values: unknown[]) => void out.push(`${format(...values)}\n`);
  try {
    await main(['node', 'access-perm', ...args]);
    return { code: Number(process.exitCode ?? 0), stdout: out.join(''), stderr: errs.join('') };
  } finally {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    console.log = writes.log;
    process.exitCode = exitCode;
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

/**
 * This process's environment without the Temporal client settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, profiles,
 * TLS …; TEMPORAL_CLI stays), so a CLI under test finds only the server it is told of.
 */
export function envWithoutTemporal(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const rest = Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_') || name === 'TEMPORAL_CLI');
  return { ...Object.fromEntries(rest), ...extra };
}

export interface TemporalStack {
  server: DevServer;
  client: Client;
  /** Stops the client, the worker (after it drains) and the server. */
  stop(): Promise<void>;
}

/** The server at `address` as every command finds it with TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE) set. */
export function serverFromEnv(address: string, namespace?: string): Promise<TemporalServer> {
  const env = { TEMPORAL_ADDRESS: address, ...(namespace ? { TEMPORAL_NAMESPACE: namespace } : {}) };
  return findServer({ settings: loadTemporalSettings({ env }) });
}

/** A real dev server (SQLite file under `root`), a worker with every workflow and activity, and a client. */
export async function startTemporalStack(root: string, overrides?: Partial<WorkerOptions>): Promise<TemporalStack> {
  const server = await startDevServer({ dbFile: join(root, 'temporal.sqlite') });
  const target = await serverFromEnv(server.address);
  const local = await startLocalWorker(target, overrides ? { overrides } : {});
  const client = await connectClient(target);
  return {
    server,
    client,
    stop: async () => {
      await client.connection.close();
      await local.stop();
      await server.stop();
    },
  };
}

/** Runs the installed `temporal` CLI against `address`; resolves with its stdout. */
export async function temporalCli(address: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec(findTemporalCli(), args, { env: { ...process.env, TEMPORAL_ADDRESS: address } });
  return stdout;
}

/** A `createRun` capability for run `runId` on `configPath`, issued to the holder of `token`. */
export function createRunCapability(runId: string, configPath: string, token: string): Promise<Capability> {
  return issueCapability({ token, source: 'cli' }, { op: 'createRun', runId, request: { configPath } });
}

/** The trainingPipeline input for run `runId`: the config and a capability to create that run from it. */
export async function pipelineInput(
  runId: string,
  configPath: string,
  token: string,
): Promise<{ configPath: string; capability: Capability }> {
  return { configPath, capability: await createRunCapability(runId, configPath, token) };
}

/**
 * Runs activities as workflow `workflowId` of type `workflowType` (execution `workflowRunId`) would: what the
 * activities check of their caller. `env` emits the activities' heartbeats.
 */
export function asWorkflow(workflowType: string, workflowId: string, workflowRunId = 'test-execution') {
  const env = new MockActivityEnvironment({ workflowType, workflowExecution: { workflowId, runId: workflowRunId } });
  const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
    env.run(fn as (...a: unknown[]) => Promise<R>, ...args) as Promise<R>;
  return { env, run };
}

/** The docs' command: start trainingPipeline on a config with `temporal workflow start`. */
export async function startPipelineWithTemporalCli(
  address: string,
  workflowId: string,
  configPath: string,
  token: string,
): Promise<string> {
  const input = JSON.stringify(await pipelineInput(workflowId, configPath, token));
  return temporalCli(
    address,
    'workflow',
    'start',
    '--type',
    'trainingPipeline',
    '--task-queue',
    'access-perm',
    '--workflow-id',
    workflowId,
    '--input',
    input,
  );
}

const rootTokens = new Map<string, string>();

/**
 * A proven identity for tests that drive pipeline steps directly: bootstraps the ADMIN `root` in the current
 * ACCESS_PERM_DATA_DIR the first time, then authorizes `create_run` with its token as the activity does.
 */
export async function runCreator(): Promise<{ token: string; identity: ResolvedIdentity }> {
  const dir = process.env.ACCESS_PERM_DATA_DIR!;
  let token = rootTokens.get(dir);
  if (!token) {
    token = (await bootstrapAdmin('root')).token;
    rootTokens.set(dir, token);
  }
  return { token, identity: await authorize({ token }, 'create_run', { type: 'run', id: 'test' }) };
}

/** The workflow execution a test stands in for when it calls prepareRun itself (owner of the run folder). */
export const testExecution = (runId: string) => ({ workflowId: runId, workflowRunId: 'test-execution' });
