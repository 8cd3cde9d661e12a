import { Command, InvalidArgumentError } from 'commander';
import { writeSyntheticDataset } from '../lib/data/generate';
import { dataDir, runsDir } from '../lib/paths';
import { listRuns, showRun } from '../lib/runs';
import type { PipelineProgress } from '../schemas/run';
import { TASK_QUEUE } from '../workflows/definitions';
import { startDevServer } from '../worker/devServer';
import { clearServerState, devDbFile, writeServerState } from '../worker/environment';
import { runPipeline } from '../worker/runPipeline';
import { createPipelineWorker } from '../worker/worker';

const err = (line: string): void => void process.stderr.write(`${line}\n`);

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
    return n;
  };
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One progress line per change: step and, while training, folds done. */
function progressPrinter(): (p: PipelineProgress) => void {
  let last = '';
  return (p) => {
    const folds = p.step === 'train' ? ` — folds ${p.folds.done}/${p.folds.total}` : '';
    const line = `[${p.stepIndex + 1}/${p.steps.length}] ${p.step}${folds}: ${p.message}`;
    if (line !== last) err(line);
    last = line;
  };
}

const program = new Command();
program
  .name('access-perm')
  .description('Approval prediction for app-permission requests, trained and governed as Temporal workflows.')
  .showHelpAfterError();

program
  .command('dev')
  .description('run an embedded Temporal dev server (with UI) and a worker in the foreground; Ctrl-C stops both')
  .option('--port <port>', 'gRPC port of the server (default: a free port)', positiveInt('--port'))
  .option('--ui-port <port>', 'port of the Temporal UI (default: a free port)', positiveInt('--ui-port'))
  .action(async (opts: { port?: number; uiPort?: number }) => {
    const server = await startDevServer({ dbFile: devDbFile(), ui: true, port: opts.port, uiPort: opts.uiPort });
    await writeServerState({ address: server.address, uiUrl: server.uiUrl, pid: server.pid });
    const { worker, connection } = await createPipelineWorker({ address: server.address });
    err(`Temporal server  ${server.address}   (export TEMPORAL_ADDRESS=${server.address} for the temporal CLI)`);
    err(`Temporal UI      ${server.uiUrl}`);
    err(`worker           polling task queue ${TASK_QUEUE}; data directory ${dataDir()}`);
    const stop = (): void => worker.shutdown();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await worker.run();
    } finally {
      await connection.close();
      await server.stop();
      await clearServerState();
    }
  });

program
  .command('worker')
  .description('run a worker against TEMPORAL_ADDRESS (e.g. in docker-compose)')
  .action(async () => {
    const address = process.env.TEMPORAL_ADDRESS;
    if (!address) throw new Error('TEMPORAL_ADDRESS is not set (host:port of the Temporal frontend)');
    const { worker, connection } = await createPipelineWorker({ address });
    err(`worker polling ${TASK_QUEUE} on ${address}; data directory ${dataDir()}`);
    process.once('SIGINT', () => worker.shutdown());
    process.once('SIGTERM', () => worker.shutdown());
    try {
      await worker.run();
    } finally {
      await connection.close();
    }
  });

const data = program.command('data').description('input data');
data
  .command('generate')
  .description('write a deterministic synthetic data set in the seed schema (users, apps, interactions, submission)')
  .requiredOption('--out <dir>', 'output folder')
  .option('--interactions <n>', 'labelled interactions to generate', positiveInt('--interactions'), 116_063)
  .option('--seed <n>', 'random seed', (v) => Number(v), 42)
  .action(async (opts: { out: string; interactions: number; seed: number }) => {
    let lastPct = -1;
    const summary = await writeSyntheticDataset(opts.out, { seed: opts.seed, interactions: opts.interactions }, (done, total) => {
      const pct = Math.floor((100 * done) / total);
      if (pct !== lastPct && pct % 10 === 0) err(`generating… ${pct}%`);
      lastPct = pct;
    });
    printJson(summary);
  });

const pipeline = program.command('pipeline').description('the training pipeline');
pipeline
  .command('run')
  .description('run trainingPipeline on a config and wait for it (starts an embedded server if none is reachable)')
  .requiredOption('--config <yaml>', 'config file, e.g. config/sample.yaml')
  .option('--json', 'print one JSON object (run id, metrics, artifact directory, manifest path) on stdout')
  .option('--run-id <id>', 'run id (= workflow id); default: run-<utc time>-<random>')
  .option('--no-worker', 'do not start a worker in this process (workers already poll the server)')
  .action(async (opts: { config: string; json?: boolean; runId?: string; worker: boolean }) => {
    const started = Date.now();
    const result = await runPipeline({
      configPath: opts.config,
      runId: opts.runId,
      startWorker: opts.worker,
      onProgress: progressPrinter(),
      log: err,
    });
    const seconds = (Date.now() - started) / 1000;
    if (opts.json) {
      printJson({
        runId: result.runId,
        metrics: result.metrics,
        folds: result.folds,
        artifactDir: result.runDir,
        manifest: result.manifestPath,
        seconds,
      });
      return;
    }
    const m = result.metrics;
    const f = (x: number): string => x.toFixed(4);
    err('');
    console.log(`run        ${result.runId}  (${result.rows} rows, ${seconds.toFixed(1)} s)`);
    console.log(`OOF        ROC-AUC ${f(m.rocAuc)}  PR-AUC ${f(m.prAuc)}  logloss ${f(m.logloss)}`);
    console.log(`threshold  ${f(m.threshold)} (${m.thresholdStrategy}): accuracy ${f(m.accuracy)}  precision ${f(m.precision)}  recall ${f(m.recall)}  F1 ${f(m.f1)}  FPR ${f(m.fpr)}`);
    console.log(`folds      ROC-AUC ${result.folds.map((x) => f(x.rocAuc)).join('  ')}`);
    console.log(`artifacts  ${result.runDir}`);
    console.log(`manifest   ${result.manifestPath}`);
  });

const runs = program.command('runs').description('training runs in the data directory');
runs
  .command('list')
  .description('list runs, newest first')
  .option('--json', 'print JSON')
  .option('--runs-dir <dir>', 'runs folder', runsDir())
  .action(async (opts: { json?: boolean; runsDir: string }) => {
    const list = await listRuns(opts.runsDir);
    if (opts.json) return printJson(list);
    if (list.length === 0) return err(`no runs in ${opts.runsDir}`);
    for (const r of list) {
      const auc = r.rocAuc === null ? '      -' : r.rocAuc.toFixed(4);
      const acc = r.accuracy === null ? '      -' : r.accuracy.toFixed(4);
      console.log(`${r.runId.padEnd(34)} ${r.state.padEnd(10)} ${(r.startedAt ?? '-').padEnd(24)} AUC ${auc}  acc ${acc}`);
    }
  });
runs
  .command('show <runId>')
  .description('show a run: config, data hash, metrics, artifacts')
  .option('--json', 'print JSON')
  .option('--runs-dir <dir>', 'runs folder', runsDir())
  .action(async (runId: string, opts: { json?: boolean; runsDir: string }) => {
    const run = await showRun(runId, opts.runsDir);
    if (opts.json) return printJson(run);
    console.log(`run        ${run.runId} (${run.state})`);
    console.log(`folder     ${run.runDir}`);
    console.log(`started    ${run.info.startedAt}`);
    console.log(`config     ${run.info.configPath} (sha256 ${run.info.configHash.slice(0, 12)}…)`);
    console.log(`data       sha256 ${run.info.dataHash.slice(0, 12)}…`);
    if (run.metrics) {
      const m = run.metrics;
      console.log(`metrics    ROC-AUC ${m.rocAuc.toFixed(4)}  PR-AUC ${m.prAuc.toFixed(4)}  accuracy ${m.accuracy.toFixed(4)} @ ${m.threshold.toFixed(4)}`);
    }
    for (const a of run.manifest?.artifacts ?? []) console.log(`  ${a.role.padEnd(22)} ${a.path.padEnd(36)} ${a.sha256.slice(0, 12)}…  ${a.bytes} B`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  err(`access-perm: ${message.split('\n')[0]}`);
  process.exitCode = 1;
});
