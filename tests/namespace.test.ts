import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clearServerState,
  connectClient,
  findServer,
  loadTemporalSettings,
  startDevServer,
  startLocalWorker,
  startTrainingPipeline,
  writeServerState,
  type DevServer,
} from '../client';
import { PROJECT_ROOT } from '../lib/paths';
import {
  envWithoutTemporal,
  runCli,
  runCreator,
  serverFromEnv,
  smallConfig,
  smallDataset,
  useTempDataDir,
  writeConfig,
  pipelineInput,
} from './helpers';

// A real dev server serving `default` and `second`: a worker and a client configured for `second` (by
// TEMPORAL_NAMESPACE, then by a profile of a Temporal config file through the CLI) run the pipeline there.

let root: string;
let server: DevServer;
let token: string;
let config: string;
/** Clients of each namespace, to see where workflows were recorded. */
let inDefault: Client;
let inSecond: Client;

beforeAll(async () => {
  root = await useTempDataDir('namespace');
  token = (await runCreator()).token;
  server = await startDevServer({ dbFile: join(root, 'temporal.sqlite'), namespaces: ['second'] });
  inDefault = await connectClient(await serverFromEnv(server.address));
  inSecond = await connectClient(await serverFromEnv(server.address, 'second'));
  const data = await smallDataset(join(root, 'data'), 1500);
  config = await writeConfig(
    root,
    'small.yaml',
    smallConfig(data, (c) => {
      c.model.catboost.iterations = 10;
      c.validation.n_splits = 2;
    }),
  );
});

afterAll(async () => {
  await inDefault?.connection.close();
  await inSecond?.connection.close();
  await server?.stop();
});

/** Ids of the workflows a namespace lists for `query`, once visibility has caught up with `expected` of them. */
async function listed(client: Client, query: string, expected: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ids: string[] = [];
    for await (const w of client.workflow.list({ query })) ids.push(w.workflowId);
    if (ids.length >= expected || Date.now() > deadline) return ids;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a non-default namespace on a real dev server', () => {
  it('TEMPORAL_NAMESPACE=second: the worker and the client run the training pipeline in second, not default', async () => {
    const target = await serverFromEnv(server.address, 'second');
    expect(target).toMatchObject({ namespace: 'second', source: 'env' });
    const worker = await startLocalWorker(target, { overrides: { shutdownGraceTime: '1s' } });
    try {
      const client = await connectClient(target);
      try {
        const handle = await startTrainingPipeline(client, {
          runId: 'ns-env',
          input: await pipelineInput('ns-env', config, token),
        });
        expect((await handle.result()).runId).toBe('ns-env');
      } finally {
        await client.connection.close();
      }
      // The run's lifecycle entity workflow, a child, runs in `second` too, where the worker sets its RunStatus
      // search attribute (registered there as in `default`: `temporal workflow list --query` relies on it).
      expect(await listed(inSecond, 'RunStatus="trained"', 1)).toEqual(['lifecycle-ns-env']);
    } finally {
      await worker.stop();
    }
    expect(await listed(inSecond, 'WorkflowId="ns-env"', 1)).toEqual(['ns-env']);
    expect(await listed(inDefault, 'WorkflowId="ns-env"', 0)).toEqual([]);
    expect(await listed(inDefault, 'WorkflowId="lifecycle-ns-env"', 0)).toEqual([]);
  });

  it('a profile naming second: `access-perm worker` and `pipeline run --no-worker` work there and say so', async () => {
    const configFile = join(root, 'temporal.toml');
    await writeFile(configFile, `[profile.staging]\naddress = "${server.address}"\nnamespace = "second"\n`);
    const env = envWithoutTemporal({
      ACCESS_PERM_DATA_DIR: root,
      ACCESS_PERM_TOKEN: token,
      TEMPORAL_CONFIG_FILE: configFile,
      TEMPORAL_PROFILE: 'staging',
    });
    const worker = spawn('node', ['bin/access-perm.mjs', 'worker'], { cwd: PROJECT_ROOT, env });
    let workerOut = '';
    worker.stderr.on('data', (d: Buffer) => (workerOut += d.toString()));
    const exited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
    try {
      const deadline = Date.now() + 60_000;
      while (!workerOut.includes('polling task queue')) {
        if (Date.now() > deadline || worker.exitCode !== null) throw new Error(`worker did not start: ${workerOut}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const where = `${server.address} (profile 'staging' (${configFile})), namespace second`;
      expect(workerOut).toContain(`worker polling task queue access-perm on ${where}`);

      const run = await runCli(env, 'pipeline', 'run', '--config', config, '--no-worker', '--run-id', 'ns-profile');
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain(`run ns-profile on ${where}`);
    } finally {
      worker.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(await listed(inSecond, 'WorkflowId="ns-profile"', 1)).toEqual(['ns-profile']);
    expect(await listed(inDefault, 'WorkflowId="ns-profile"', 0)).toEqual([]);
  });

  it('finds `access-perm dev` only when it serves the configured namespace', async () => {
    const settings = loadTemporalSettings({ env: { TEMPORAL_NAMESPACE: 'second' } });
    await writeServerState({ address: server.address, uiUrl: null, pid: server.pid, namespaces: ['default'] });
    await expect(findServer({ settings })).rejects.toThrow(
      `access-perm dev at ${server.address} serves namespace default, not second: restart it with TEMPORAL_NAMESPACE=second`,
    );
    await writeServerState({ address: server.address, uiUrl: null, pid: server.pid, namespaces: server.namespaces });
    expect(await findServer({ settings })).toMatchObject({
      address: server.address,
      namespace: 'second',
      source: 'access-perm dev',
    });
    await clearServerState();
  });
});
