import type { Command } from 'commander';
import type { PipelineProgress } from '../../schemas/run';
import { runPipeline } from '../../worker/runPipeline';
import { installWorkerLogging } from '../../worker/worker';
import { err, printJson } from './output';

/** One progress line per change: step and, while training, folds done. */
function progressPrinter(): (p: PipelineProgress) => void {
  const started = Date.now();
  let last = '';
  return (p) => {
    const folds = p.step === 'train' ? ` — folds ${p.folds.done}/${p.folds.total}` : '';
    const line = `[${p.stepIndex + 1}/${p.steps.length}] ${p.step}${folds}: ${p.message}`;
    if (line !== last) err(`${line} (${Math.round((Date.now() - started) / 1000)} s)`);
    last = line;
  };
}

export function registerPipelineCommands(program: Command): void {
  const pipeline = program.command('pipeline').description('the training pipeline');
  pipeline
    .command('run')
    .description('run trainingPipeline on a config and wait for it (starts an embedded server if none is reachable)')
    .requiredOption('--config <yaml>', 'config file, e.g. config/sample.yaml')
    .option('--json', 'print one JSON object (run id, metrics, artifact directory, manifest path) on stdout')
    .option('--run-id <id>', 'run id (= workflow id); default: run-<utc time>-<random>')
    .option('--no-worker', 'do not start a worker in this process (workers already poll the server)')
    .action(async (opts: { config: string; json?: boolean; runId?: string; worker: boolean }) => {
      installWorkerLogging('ERROR');
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
      console.log(
        `threshold  ${f(m.threshold)} (${m.thresholdStrategy}): accuracy ${f(m.accuracy)}  precision ${f(m.precision)}  recall ${f(m.recall)}  F1 ${f(m.f1)}  FPR ${f(m.fpr)}`,
      );
      console.log(`folds      ROC-AUC ${result.folds.map((x) => f(x.rocAuc)).join('  ')}`);
      console.log(`artifacts  ${result.runDir}`);
      console.log(`manifest   ${result.manifestPath}`);
    });
}
