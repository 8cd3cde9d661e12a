import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../client/devServer';
import {
  cliInProcess,
  envWithoutTemporal,
  runCli,
  smallConfig,
  smallDataset,
  startPipelineWithTemporalCli,
  temporalCli,
  useTempDataDir,
  writeConfig,
  type CliResult,
} from './helpers';

const exec = promisify(execFile);
let root: string;
let env: NodeJS.ProcessEnv;

/** The real CLI with this file's environment. */
const cli = (...args: string[]): Promise<CliResult> => runCli(env, ...args);
/** The CLI in this process, with this file's token and `overlay` (where the process boundary is not under test). */
const inProcess = (overlay: Record<string, string | undefined>, ...args: string[]): Promise<CliResult> =>
  cliInProcess({ ACCESS_PERM_TOKEN_FILE: env.ACCESS_PERM_TOKEN_FILE, ...overlay }, ...args);

beforeAll(async () => {
  root = await useTempDataDir('cli');
  env = envWithoutTemporal({ ACCESS_PERM_DATA_DIR: root });
});

describe('access-perm CLI', () => {
  it('documents every command with --help', async () => {
    const top = await inProcess({}, '--help');
    expect(top.code).toBe(0);
    for (const command of ['dev', 'worker', 'data', 'pipeline', 'demo', 'runs', 'users', 'auth', 'audit']) {
      expect(top.stdout).toContain(command);
    }
    const run = await inProcess({}, 'pipeline', 'run', '--help');
    expect(run.stdout).toMatch(/--config <yaml>/);
    expect(run.stdout).toMatch(/--json/);
  });

  it('`demo` bootstraps the first ADMIN on a fresh installation and trains on an embedded server it starts', async () => {
    const data = await smallDataset(join(root, 'data'), 2000);
    // A non-default artifacts.dir: `runs list` / `runs show` find the run by its id alone.
    const config = await writeConfig(
      root,
      'small.yaml',
      smallConfig(data, (c) => (c.artifacts = { dir: 'team-a/runs' })),
    );
    const run = await cli('demo', '--config', config, '--json', '--run-id', 'cli-e2e');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/bootstrapped the first ADMIN, demo-admin/);
    const out = JSON.parse(run.stdout) as {
      runId: string;
      metrics: { rocAuc: number };
      artifactDir: string;
      manifest: string;
    };
    expect(out.runId).toBe('cli-e2e');
    expect(out.metrics.rocAuc).toBeGreaterThan(0.7);
    expect(out.artifactDir).toBe(join(root, 'team-a', 'runs', 'cli-e2e'));
    expect(out.manifest).toBe(join(out.artifactDir, 'manifest.json'));
    expect(run.stderr).toMatch(/starting an embedded Temporal dev server \(namespace default\)/);
    expect(run.stderr).toMatch(/run cli-e2e on 127\.0\.0\.1:\d+ \(embedded\), namespace default/);
    expect(run.stderr).toMatch(/\[4\/7\] train/);
    expect(run.stderr).toMatch(
      /web console: node bin\/access-perm\.mjs api, then open http:\/\/127\.0\.0\.1:8090\/console\/ and sign in with the token in .*demo-admin\.token\n$/,
    );

    // From here on the CLI acts as demo-admin, through the token file the demo kept.
    env = { ...env, ACCESS_PERM_TOKEN_FILE: join(`${root}.keyring`, 'demo-admin.token') };
    const list = JSON.parse((await cli('runs', 'list', '--json')).stdout) as Array<{ runId: string; state: string }>;
    expect(list).toContainEqual(expect.objectContaining({ runId: 'cli-e2e', state: 'completed' }));
    const show = await cli('runs', 'show', 'cli-e2e');
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/ROC-AUC 0\.\d{4}/);
    expect(show.stdout).toMatch(/^started +\S+ by demo-admin \(ADMIN\)$/m);
    expect(show.stdout).toMatch(/model\/model\.json/);
    expect(show.stdout).toContain(`folder     ${join(root, 'team-a', 'runs', 'cli-e2e')}`);
  });

  it('Ctrl-C during training cancels the run, stops the embedded server and exits with the reason', async () => {
    const data = join(root, 'data');
    const slow = smallConfig(data, (c) => (c.model.catboost.iterations = 5000));
    const config = await writeConfig(root, 'slow.yaml', slow);
    const child = spawn(
      'node',
      ['bin/access-perm.mjs', 'pipeline', 'run', '--config', config, '--run-id', 'cli-ctrl-c'],
      {
        env,
      },
    );
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/iterations|\d+\/5000/.test(stderr) || /\[4\/7\] train/.test(stderr)) resolve();
      });
      void exited.then(() => reject(new Error(`exited before training: ${stderr}`)));
    });
    const interruptedAt = Date.now();
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(Date.now() - interruptedAt).toBeLessThan(30_000);
    expect(stderr).toMatch(/interrupted by SIGINT: run cli-ctrl-c was cancelled/);
    const list = JSON.parse((await cli('runs', 'list', '--json')).stdout) as Array<{ runId: string; state: string }>;
    expect(list).toContainEqual(expect.objectContaining({ runId: 'cli-ctrl-c', state: 'cancelled' }));
    const audited = JSON.parse((await cli('audit', 'query', '--run-id', 'cli-ctrl-c', '--json')).stdout) as Array<{
      action: string;
      reason: string | null;
    }>;
    expect(audited.map((e) => e.action)).toEqual(['run_created', 'run_cancel_requested', 'run_cancelled']);
    expect(audited[1]!.reason).toBe('interrupted by SIGINT in pipeline run');
    // No embedded server left behind on this data directory's database.
    await expect(exec('pgrep', ['-f', join(root, 'temporal')])).rejects.toMatchObject({ code: 1 });
  });

  it('refuses `pipeline run` without a token, or for a VIEWER, before starting anything', async () => {
    const anonymous = { ACCESS_PERM_TOKEN_FILE: undefined, ACCESS_PERM_TOKEN: undefined };
    const missing = await inProcess(anonymous, 'pipeline', 'run', '--config', 'config/sample.yaml');
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/access-perm: .*missing token.*ACCESS_PERM_TOKEN/);
    const viewer = await inProcess({}, 'users', 'add', '--user', 'vic', '--role', 'VIEWER', '--reason', 'read-only');
    expect(viewer.code, viewer.stderr).toBe(0);
    const token = (await inProcess({}, 'auth', 'issue', '--user', 'vic')).stdout.trim();
    const denied = await inProcess({ ...anonymous, ACCESS_PERM_TOKEN: token }, 'pipeline', 'run', '--config', 'x.yaml');
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/permission denied: .*required_permission create_run, your role VIEWER/);
    expect(denied.stderr).not.toMatch(/embedded Temporal dev server/);
  });

  it.each([
    [['pipeline', 'run', '--config', '/nonexistent.yaml'], /access-perm: .*cannot read config/],
    [['runs', 'show', 'no-such-run'], /access-perm: unknown run no-such-run/],
    [['runs', 'show', '../etc'], /access-perm: invalid run id/],
    [['data', 'generate', '--out', '/tmp/x', '--interactions', 'many'], /--interactions must be a positive integer/],
    [['override', 'cli-e2e', '--max-bins', '3', '--reason', 'r'], /--max-bins and --min-share go with --auto-bins/],
    [
      ['override', 'cli-e2e', '--auto-bins', 'seniority', '--max-bins', '1', '--reason', 'r'],
      /invalid override: max_bins .*2/,
    ],
  ])('exits non-zero with a one-line reason: %j', async (args, reason) => {
    const r = await inProcess({}, ...args);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(reason);
  });

  it('fails naming the server, where its address came from and the namespace when TEMPORAL_ADDRESS points at nothing', async () => {
    const saved = env;
    env = { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' };
    const r = await cli('pipeline', 'run', '--config', 'config/sample.yaml');
    env = saved;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot connect to Temporal at 127\.0\.0\.1:1 \(TEMPORAL_ADDRESS\), namespace default/);
  });

  it('`dev` serves the server, UI and a worker that the temporal CLI and `pipeline run` both use', async () => {
    const [port, uiPort] = await freePorts(2);
    const dev = spawn('node', ['bin/access-perm.mjs', 'dev', '--port', String(port), '--ui-port', String(uiPort)], {
      env,
    });
    let devOut = '';
    dev.stderr.on('data', (d: Buffer) => (devOut += d.toString()));
    try {
      const deadline = Date.now() + 90_000;
      while (!devOut.includes('polling task queue')) {
        if (Date.now() > deadline || dev.exitCode !== null) throw new Error(`dev did not start: ${devOut}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(devOut).toContain(`Temporal server  127.0.0.1:${port}, namespace default`);
      expect(devOut).toContain(`Temporal UI      http://127.0.0.1:${uiPort}`);
      const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
      expect(ui.status).toBe(200);

      const data = await smallDataset(join(root, 'dev-data'), 1500);
      const config = await writeConfig(
        root,
        'dev.yaml',
        smallConfig(data, (c) => {
          c.model.catboost.iterations = 10;
          c.validation.n_splits = 2;
        }),
      );
      const address = `127.0.0.1:${port}`;
      const token = (await readFile(join(`${root}.keyring`, 'demo-admin.token'), 'utf8')).trim();
      await startPipelineWithTemporalCli(address, 'dev-cli-1', config, token);
      const result = await temporalCli(address, 'workflow', 'result', '--workflow-id', 'dev-cli-1', '--output', 'json');
      expect(result).toMatch(/"status": "COMPLETED"/);
      // The result names the run by id only: its folder stays with the worker.
      expect(result).toMatch(/"runId": "dev-cli-1"/);
      expect(result).not.toMatch(/runDir|manifestPath/);

      const viaDev = await cli('pipeline', 'run', '--config', config, '--no-worker', '--run-id', 'dev-run-2');
      expect(viaDev.code, viaDev.stderr).toBe(0);
      expect(viaDev.stderr).toContain(`on 127.0.0.1:${port} (access-perm dev), namespace default`);
    } finally {
      dev.kill('SIGINT');
      await new Promise((r) => dev.once('exit', r));
    }
    expect(dev.exitCode).toBe(0);
  });
});
