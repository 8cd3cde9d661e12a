import type { Command } from 'commander';
import { scoreBatch } from '../../lib/scoring/batch';
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
  threads?: number;
  liveMetadata?: boolean;
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
    .option(
      '--live-metadata',
      'a locked run: join the current users/apps tables instead of the snapshot frozen with its lock',
    )
    .option('--json', 'print the summary as JSON')
    .addOption(tokenFileOption())
    .action(
      governed(async (opts: ScoreOpts) => {
        const summary = await scoreBatch(await callerCredential(opts), {
          ...(opts.run ? { runId: opts.run } : {}),
          ...(opts.version ? { version: opts.version } : {}),
          input: opts.input,
          output: opts.output,
          explainTop: opts.explain === true ? 3 : (opts.explain ?? 0),
          ...(opts.chunkRows ? { chunkRows: opts.chunkRows } : {}),
          ...(opts.threads ? { threads: opts.threads } : {}),
          ...(opts.liveMetadata ? { liveMetadata: true } : {}),
          onProgress: progressReporter(),
        });
        if (process.stderr.isTTY) process.stderr.write('\n');
        if (opts.json) return printJson({ ...summary, output: opts.output });
        const unknown =
          summary.unknownUsers === undefined
            ? ''
            : `, ${summary.unknownUsers} unknown users, ${summary.unknownApps} unknown apps`;
        err(
          `scored ${summary.rows.toLocaleString('en-US')} rows with ${summary.runId} v${summary.version} in ${summary.seconds.toFixed(1)} s ` +
            `(${Math.round(summary.rows / Math.max(summary.seconds, 1e-3)).toLocaleString('en-US')} rows/s): ` +
            `${summary.approved.toLocaleString('en-US')} approved at threshold ${summary.threshold.toFixed(4)}${unknown} → ${opts.output}`,
        );
      }),
    );
}
