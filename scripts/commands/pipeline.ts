import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Command } from 'commander';
import { startConfigPathAs } from '../../lib/configs';
import { runPipeline, type ModelProgress, type RunProgress } from '../../client';
import { authorize, bootstrapAdmin, type Credential } from '../../lib/governance';
import { ensureKeyringDir, KEYRING_ENV, keyringDir } from '../../lib/keys';
import { assertRunId, MANIFEST_FILE, newRunId, readTestMetrics, resolveRunDir } from '../../lib/run';
import type { MetricsFile } from '../../schemas/metrics';
import type { PipelineProgress, PipelineResult } from '../../schemas/run';

type TestMetrics = NonNullable<MetricsFile['test']>;
import { installWorkerLogging } from '../../worker/worker';
import { err, printJson } from './output';
import { callApi, remoteApi, runPath } from './remote';
import {
  callerCredential,
  governed,
  readTokenFile,
  tokenFileOption,
  writeSecretFile,
  type TokenOpts,
} from './credentials';

/** One progress line per change: step and, while training, folds done. */
function progressPrinter(): (p: PipelineProgress, models: ModelProgress[]) => void {
  const started = Date.now();
  let last = '';
  let lastModels = 0;
  return (p, models) => {
    const elapsed = `(${Math.round((Date.now() - started) / 1000)} s)`;
    const folds = p.step === 'train' ? ` — folds ${p.folds.done}/${p.folds.total}` : '';
    const line = `[${p.stepIndex + 1}/${p.steps.length}] ${p.step}${folds}: ${p.message}`;
    if (line !== last) err(`${line} ${elapsed}`);
    last = line;
    // Iterations of the models in training, every 15 s: enough to see it move without flooding the terminal.
    if (models.length > 0 && Date.now() - lastModels >= 15_000) {
      err(`      ${models.map((m) => `${m.model} ${m.iteration}/${m.iterations}`).join(' · ')} ${elapsed}`);
      lastModels = Date.now();
    }
  };
}

/** Runs the pipeline for a proven caller and prints the outcome (shared by `pipeline run` and `demo`). */
async function runAndReport(
  opts: RunOptions,
  identify: (opts: TokenOpts, runId: string) => Promise<Credential>,
): Promise<void> {
  const runId = assertRunId(opts.runId ?? newRunId());
  const credential = await identify(opts, runId);
  const configPath = await startConfigPathAs(credential, {
    ...(opts.config === undefined ? {} : { configPath: opts.config }),
    ...(opts.configId === undefined ? {} : { configId: opts.configId }),
    ...(opts.retrain === undefined ? {} : { retrain: opts.retrain }),
  });
  installWorkerLogging('ERROR');
  const started = Date.now();
  const result = await runPipeline({
    configPath,
    runId,
    credential,
    startWorker: opts.worker,
    onProgress: progressPrinter(),
    log: err,
  });
  // A flat run's hold-out test metrics live in its metrics.json (the workflow result carries the OOF ones).
  const runDir = await resolveRunDir(result.runId);
  report(opts, result, {
    test: (await readTestMetrics(runDir)) ?? null,
    seconds: (Date.now() - started) / 1000,
    folder: runDir,
  });
}

/** Prints a finished run: OOF metrics, threshold, hold-out test metrics of a flat run, folds, where it is. */
function report(
  opts: RunOptions,
  result: PipelineResult,
  done: { test: TestMetrics | null; seconds: number; folder?: string },
): void {
  const { test, seconds } = done;
  const where = done.folder ?? `on ${remoteApi()}`;
  const manifest = done.folder ? join(done.folder, MANIFEST_FILE) : `${MANIFEST_FILE} ${where}`;
  if (opts.json) {
    printJson({
      runId: result.runId,
      metrics: result.metrics,
      ...(test ? { test } : {}),
      folds: result.folds,
      artifactDir: where,
      manifest,
      seconds,
    });
    return;
  }
  const m = result.metrics;
  const f = (x: number): string => x.toFixed(4);
  err('');
  console.log(`run        ${result.runId}  (${result.rows} rows, ${seconds.toFixed(1)} s)`);
  console.log(`OOF        ROC-AUC ${f(m.rocAuc)}  PR-AUC ${f(m.prAuc)}  logloss ${f(m.logloss)}`);
  console.log(
    `threshold  ${f(m.threshold)} (${m.thresholdStrategy}): accuracy ${f(m.accuracy)}  precision ${f(m.precision)}  recall ${f(m.recall)}  F1 ${f(m.f1)}  FPR ${f(m.fpr)}`,
  );
  if (test)
    console.log(
      `test       ROC-AUC ${f(test.rocAuc)}  PR-AUC ${f(test.prAuc)}  logloss ${f(test.logloss)}  accuracy ${f(test.accuracy)} @ ${f(test.threshold)} (hold-out, ${test.rows} rows)`,
    );
  console.log(`folds      ROC-AUC ${result.folds.map((x) => f(x.rocAuc)).join('  ')}`);
  console.log(`artifacts  ${where}`);
  console.log(`manifest   ${manifest}`);
}

/**
 * `pipeline run` against the remote API: starts the run (one run however often the request is retried), follows
 * its progress, and prints what the local command prints once it ends.
 */
async function runRemotely(opts: RunOptions): Promise<void> {
  const credential = await callerCredential(opts);
  const body = {
    ...(opts.config === undefined ? {} : { config_path: opts.config }),
    ...(opts.configId === undefined ? {} : { config_id: opts.configId }),
    ...(opts.retrain === undefined ? {} : { retrain_run: opts.retrain }),
    ...(opts.runId === undefined ? {} : { run_id: assertRunId(opts.runId) }),
  };
  const started = Date.now();
  const { run_id: runId } = await callApi<{ run_id: string }>(credential, 'POST', '/runs', {
    body,
    headers: { 'idempotency-key': randomUUID() },
  });
  err(`run ${runId} on ${remoteApi()}`);
  const print = progressPrinter();
  for (;;) {
    const at = await callApi<RunProgress & { test: TestMetrics | null }>(
      credential,
      'GET',
      runPath(runId, '/progress'),
    );
    print(at.progress, at.models);
    if (at.result) return report(opts, at.result, { test: at.test, seconds: (Date.now() - started) / 1000 });
    if (at.progress.status !== 'running')
      throw new Error(
        `run ${runId} ${at.progress.status === 'cancelled' ? 'was cancelled' : `failed at step ${at.progress.step}: ${at.progress.error ?? at.progress.message}`}`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

interface RunOptions extends TokenOpts {
  config?: string;
  configId?: string;
  retrain?: string;
  json?: boolean;
  runId?: string;
  worker: boolean;
}

/** Checks `create_run` here first, so a denied caller learns it before a server or worker starts. */
async function authorizedCredential(opts: TokenOpts, runId: string): Promise<Credential> {
  const credential = await callerCredential(opts);
  await authorize(credential, 'create_run', { type: 'run', id: runId });
  return credential;
}

/**
 * The demo's caller: the token the user set, else on a fresh installation a first ADMIN `demo-admin`
 * bootstrapped for the demo, its token kept owner-only in the keyring (never the data directory, whose readers must
 * not become ADMIN) for the next demo.
 */
async function demoCredential(opts: TokenOpts, runId: string): Promise<Credential> {
  const given = await callerCredential(opts);
  if (given.token) return authorizedCredential(opts, runId);
  const file = join(await ensureKeyringDir(), 'demo-admin.token');
  const kept = await readTokenFile(file).catch(() => null);
  if (kept) return authorizedCredential({ tokenFile: file }, runId);
  const issued = await bootstrapAdmin('demo-admin').catch((e: unknown) => {
    throw new Error(`${(e as Error).message.split(':')[0]}: set ACCESS_PERM_TOKEN to run the demo as yourself`);
  });
  await writeSecretFile(file, issued.token);
  err(
    `bootstrapped the first ADMIN, demo-admin; its token is in ${file}, in the keyring ${keyringDir()} beside the data directory (set ${KEYRING_ENV} to keep it elsewhere; see docs/governance.md)`,
  );
  return { token: issued.token, source: 'cli' };
}

export function registerPipelineCommands(program: Command): void {
  const runOptions = (c: Command): Command =>
    c
      .option('--json', 'print one JSON object (run id, metrics, artifact directory, manifest path) on stdout')
      .option('--run-id <id>', 'run id (= workflow id); default: run-<utc time>-<random>')
      .option('--no-worker', 'do not start a worker in this process (workers already poll the server)')
      .addOption(tokenFileOption());

  const pipeline = program.command('pipeline').description('the training pipeline');
  runOptions(
    pipeline
      .command('run')
      .description(
        'run trainingPipeline on a config and wait for it (needs create_run; starts an embedded server if none is reachable)',
      )
      .option('--config <yaml>', 'config file, e.g. config/sample.yaml')
      .option(
        '--config-id <id[@version]>',
        'a registered config (access-perm configs list), its latest version by default',
      )
      .option('--retrain <runId>', "retrain a run's stored config on the data as it is now (train_model)"),
  ).action(
    governed((opts: RunOptions) => (remoteApi() ? runRemotely(opts) : runAndReport(opts, authorizedCredential))),
  );

  runOptions(
    program
      .command('demo')
      .description(
        'the training pipeline on the bundled sample (config/sample.yaml), bootstrapping a first ADMIN on a fresh installation',
      )
      .option('--config <yaml>', 'config file', 'config/sample.yaml'),
  ).action(
    governed(async (opts: RunOptions) => {
      await runAndReport(opts, demoCredential);
      const file = opts.tokenFile ?? process.env.ACCESS_PERM_TOKEN_FILE;
      const token =
        file || process.env.ACCESS_PERM_TOKEN
          ? `your token${file ? ` (${file})` : ''}`
          : `the token in ${join(keyringDir(), 'demo-admin.token')}`;
      err(
        `\nweb console: node bin/access-perm.mjs api, then open http://127.0.0.1:8090/console/ and sign in with ${token}`,
      );
    }),
  );
}
