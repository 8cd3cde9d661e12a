import type { Command } from 'commander';
import { appendAudit, authorize } from '../../lib/governance';
import { openRunModel, resolveScoringRun, scoreCsvFile, SCORING_PERMISSION } from '../../lib/scoring';
import { callerCredential, governed, tokenFileOption, type TokenOpts } from './credentials';
import { err, positiveInt, printJson } from './output';

/** Progress on stderr: one rewritten line on a terminal, a line every 5 s otherwise. */
function progressReporter(): (done: number, total: number) => void {
  const started = performance.now();
  let lastLine = 0;
  return (done, total) => {
    const now = performance.now();
    const tty = process.stderr.isTTY;
    if (!tty && now - lastLine < 5000 && done < total) return;
    lastLine = now;
    const pct = total > 0 ? Math.min(100, Math.floor((100 * done) / total)) : 100;
    const rate = done / Math.max((now - started) / 1000, 1e-3);
    const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, '.');
    const line = `score [${bar}] ${pct}% ${done.toLocaleString('en-US')} rows, ${Math.round(rate).toLocaleString('en-US')} rows/s`;
    process.stderr.write(tty ? `\r${line}` : `${line}\n`);
  };
}

interface ScoreOpts extends TokenOpts {
  run?: string;
  version?: number;
  input: string;
  output: string;
  explain?: number | true;
  chunkRows?: number;
  json?: boolean;
}

export function registerScoreCommands(program: Command): void {
  program
    .command('score')
    .description("score a CSV of requests (userId, appId) with a run's model, streaming in bounded memory")
    .option('--run <id>', 'run whose model scores (default: the deployed run)')
    .option(
      '--version <n>',
      "the run's model version (default: the locked version, else the newest approved, else 1)",
      positiveInt('--version'),
    )
    .requiredOption('--input <csv>', 'requests to score: a header with userId and appId')
    .requiredOption('--output <csv>', 'predictions: userId, appId, approval_probability, predicted_label')
    .option('--explain [k]', 'append the k largest SHAP contributions per row (default 3)', positiveInt('--explain'))
    .option('--chunk-rows <n>', 'rows scored per step', positiveInt('--chunk-rows'))
    .option('--json', 'print the summary as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: ScoreOpts) => {
        const { runId, expectedModelSha256 } = await resolveScoringRun(opts.run);
        const credential = await callerCredential(opts);
        const caller = await authorize(credential, SCORING_PERMISSION, { type: 'run', id: runId });
        const explainTop = opts.explain === true ? 3 : (opts.explain ?? 0);
        const model = await openRunModel(runId, {
          ...(expectedModelSha256 ? { expectedModelSha256 } : {}),
          ...(opts.version ? { version: opts.version } : {}),
        });
        try {
          const progress = progressReporter();
          const summary = await scoreCsvFile(model, opts.input, opts.output, {
            explainTop,
            onProgress: progress,
            ...(opts.chunkRows ? { chunkRows: opts.chunkRows } : {}),
          });
          if (process.stderr.isTTY) process.stderr.write('\n');
          await appendAudit({
            user_id: caller.userId,
            user_role: caller.role,
            temporary_role: caller.temporaryRole ?? false,
            action: 'batch_scored',
            resource_type: 'run',
            resource_id: runId,
            correlation_id: runId,
            status: 'success',
            source: 'cli',
            duration_ms: Math.round(summary.seconds * 1000),
            result: 'completed',
            details: { version: model.version, rows: summary.rows, approved: summary.approved, explain: explainTop },
          });
          const result = {
            runId,
            version: model.version,
            modelSha256: model.modelSha256,
            threshold: model.threshold,
            ...summary,
          };
          if (opts.json) return printJson({ ...result, output: opts.output });
          err(
            `scored ${summary.rows.toLocaleString('en-US')} rows with ${runId} v${model.version} in ${summary.seconds.toFixed(1)} s ` +
              `(${Math.round(summary.rows / Math.max(summary.seconds, 1e-3)).toLocaleString('en-US')} rows/s): ` +
              `${summary.approved.toLocaleString('en-US')} approved at threshold ${model.threshold.toFixed(4)}, ` +
              `${summary.unknownUsers} unknown users, ${summary.unknownApps} unknown apps → ${opts.output}`,
          );
        } finally {
          await model.close();
        }
      }),
    );
}
