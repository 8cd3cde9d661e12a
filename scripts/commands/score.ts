import type { Command } from 'commander';
import { InputError } from '../../lib/errors';
import type { Credential } from '../../lib/governance';
import { CSV_CHUNK_ROWS, scoreCsvFile, type ChunkScorer } from '../../lib/scoring';
import { scoreBatch, type BatchScoreSummary } from '../../lib/scoring/batch';
import type { ScoreRequest } from '../../lib/scoring/features';
import type { RowExplanation } from '../../lib/scoring/model';
import { MAX_EXPLAIN_ROWS, MAX_PREDICT_ROWS } from '../../schemas/serving';
import { callerCredential, governed, tokenFileOption, type TokenOpts } from './credentials';
import { err, positiveInt, printJson } from './output';
import { API_ENV, callApi, remoteApi, runPath } from './remote';

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

interface ScoredRows {
  run_id: string;
  version: number;
  model_sha256: string;
  threshold: number;
  predictions: Array<{
    approval_probability: number;
    predicted_label: number;
    unknown_user: boolean;
    unknown_app: boolean;
    explanation?: RowExplanation;
  }>;
}

/**
 * `score` against the remote API: the file is read here in chunks of at most the API's request size, each chunk
 * scored by the server's model, and the predictions written exactly as the local command writes them.
 */
async function scoreRemotely(credential: Credential, opts: ScoreOpts): Promise<BatchScoreSummary> {
  if (!opts.run) throw new InputError(`name the run to score with --run: ${API_ENV} has no default run`);
  const explainTop = opts.explain === true ? 3 : (opts.explain ?? 0);
  let model: Omit<ScoredRows, 'predictions'> | null = null;
  // The server explains each chunk it scores (a chunk's features are its requests); `explain` hands them back.
  const explained = new Map<readonly ScoreRequest[], RowExplanation[]>();
  const scorer: ChunkScorer<readonly ScoreRequest[]> = {
    features: async (requests) => requests,
    scoreFeatures: async (requests) => {
      const answer = await callApi<ScoredRows>(credential, 'POST', runPath(opts.run!, '/scores'), {
        query: {
          version: opts.version,
          ...(explainTop ? { explain: explainTop } : {}),
          ...(opts.liveMetadata ? { live_metadata: 'true' } : {}),
        },
        body: requests.map(({ userId, appId }) => ({ userId, appId })),
      });
      model ??= answer;
      const p = answer.predictions;
      if (explainTop)
        explained.set(
          requests,
          p.map((r) => r.explanation!),
        );
      return {
        probability: Float32Array.from(p, (r) => r.approval_probability),
        label: Uint8Array.from(p, (r) => r.predicted_label),
        unknownUser: Uint8Array.from(p, (r) => Number(r.unknown_user)),
        unknownApp: Uint8Array.from(p, (r) => Number(r.unknown_app)),
      };
    },
    explain: async (requests) => {
      const rows = explained.get(requests)!;
      explained.delete(requests);
      return rows;
    },
  };
  const summary = await scoreCsvFile(scorer, opts.input, opts.output, {
    chunkRows: Math.min(opts.chunkRows ?? CSV_CHUNK_ROWS, explainTop ? MAX_EXPLAIN_ROWS : MAX_PREDICT_ROWS),
    explainTop,
    onProgress: progressReporter(),
  });
  const m = model as Omit<ScoredRows, 'predictions'> | null;
  return {
    runId: m?.run_id ?? opts.run,
    version: m?.version ?? 0,
    modelSha256: m?.model_sha256 ?? '',
    threshold: m?.threshold ?? Number.NaN,
    ...summary,
  };
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
        const credential = await callerCredential(opts);
        const summary = remoteApi()
          ? await scoreRemotely(credential, opts)
          : await scoreBatch(credential, {
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
