import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { appendAudit, authorize } from '../../lib/governance';
import { InputError } from '../../lib/errors';
import { openRunModel, resolveScoringRun, scoreCsvFile, SCORING_PERMISSION } from '../../lib/scoring';
import { isFlatModeRun, openFlatRunModel, scoreFlatCsvFile } from '../../lib/scoring/flat';
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

/** What both scorers report; request scoring also counts users and apps it had to score as unknown. */
interface ScoreSummary {
  rows: number;
  approved: number;
  seconds: number;
  unknownUsers?: number;
  unknownApps?: number;
}

interface ScoreOpts extends TokenOpts {
  run?: string;
  version?: number;
  input: string;
  output: string;
  explain?: number | true;
  chunkRows?: number;
  threads?: number;
  json?: boolean;
}

export function registerScoreCommands(program: Command): void {
  program
    .command('score')
    .description(
      "score a CSV with a run's model, streaming in bounded memory: requests (userId, appId), or a flat-mode run's declared columns",
    )
    .option('--run <id>', 'run whose model scores (default: the deployed run)')
    .option(
      '--version <n>',
      "the run's model version (default: the locked version, else the newest approved, else 1)",
      positiveInt('--version'),
    )
    .requiredOption(
      '--input <csv>',
      'rows to score: a header with userId and appId (a flat-mode run: its declared feature and id columns)',
    )
    .requiredOption(
      '--output <csv>',
      'predictions: userId, appId (a flat-mode run: its id columns), approval_probability, predicted_label',
    )
    .option('--explain [k]', 'append the k largest SHAP contributions per row (default 3)', positiveInt('--explain'))
    .option('--chunk-rows <n>', 'rows scored per step (default 8,192)', positiveInt('--chunk-rows'))
    .option(
      '--threads <n>',
      'ONNX scoring threads for {userId, appId} requests, each with its own session (default: 2, 1 on one core)',
      positiveInt('--threads'),
    )
    .option('--json', 'print the summary as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: ScoreOpts) => {
        const { runId, expectedModelSha256 } = await resolveScoringRun(opts.run);
        const credential = await callerCredential(opts);
        const caller = await authorize(credential, SCORING_PERMISSION, { type: 'run', id: runId });
        const explainTop = opts.explain === true ? 3 : (opts.explain ?? 0);
        const modelOptions = {
          ...(expectedModelSha256 ? { expectedModelSha256 } : {}),
          ...(opts.version ? { version: opts.version } : {}),
        };
        const audited = async (version: number, summary: { rows: number; approved: number; seconds: number }) =>
          appendAudit({
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
            details: { version, rows: summary.rows, approved: summary.approved, explain: explainTop },
          });
        // A flat-mode run scores rows of its declared columns instead of {userId, appId} requests.
        const flat = await isFlatModeRun(runId);
        if (flat && explainTop) throw new InputError('--explain is not available for flat-mode runs');
        const options = { onProgress: progressReporter(), ...(opts.chunkRows ? { chunkRows: opts.chunkRows } : {}) };
        let model: { version: number; modelSha256: string; threshold: number; close(): Promise<void> };
        let scoreFile: () => Promise<ScoreSummary>;
        if (flat) {
          const m = (model = await openFlatRunModel(runId, modelOptions));
          scoreFile = () => scoreFlatCsvFile(m, opts.input, opts.output, options);
        } else {
          // ONNX sessions in threads of their own score chunks while this thread reads and builds the next ones.
          const scoringThreads = opts.threads ?? Math.min(2, availableParallelism());
          const m = (model = await openRunModel(runId, { ...modelOptions, scoringThreads }));
          scoreFile = () => scoreCsvFile(m, opts.input, opts.output, { ...options, explainTop });
        }
        try {
          const summary = await scoreFile();
          if (process.stderr.isTTY) process.stderr.write('\n');
          await audited(model.version, summary);
          if (opts.json) {
            return printJson({
              runId,
              version: model.version,
              modelSha256: model.modelSha256,
              threshold: model.threshold,
              ...summary,
              output: opts.output,
            });
          }
          const unknown =
            summary.unknownUsers === undefined
              ? ''
              : `, ${summary.unknownUsers} unknown users, ${summary.unknownApps} unknown apps`;
          err(
            `scored ${summary.rows.toLocaleString('en-US')} rows with ${runId} v${model.version} in ${summary.seconds.toFixed(1)} s ` +
              `(${Math.round(summary.rows / Math.max(summary.seconds, 1e-3)).toLocaleString('en-US')} rows/s): ` +
              `${summary.approved.toLocaleString('en-US')} approved at threshold ${model.threshold.toFixed(4)}${unknown} → ${opts.output}`,
          );
        } finally {
          await model.close();
        }
      }),
    );
}
