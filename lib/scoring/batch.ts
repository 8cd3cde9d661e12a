/**
 * Batch scoring as a governed operation (`access-perm score`): authorizes the caller, opens the run's model (request
 * or flat mode), scores the file in bounded memory, and audits the batch.
 */
import { availableParallelism } from 'node:os';
import { InputError } from '../errors';
import { appendAudit, authorize, type Credential } from '../governance';
import { resolveScoringRun, SCORING_PERMISSION } from './access';
import { scoreCsvFile } from './csv';
import { isFlatModeRun, openFlatRunModel, scoreFlatCsvFile } from './flat';
import { openRunModel } from './model';

export interface BatchScoreRequest {
  /** The run to score with; default the deployed one (with the ONNX hash the deployment pins). */
  runId?: string;
  version?: number;
  input: string;
  output: string;
  /** Append the k largest SHAP contributions per row (request scoring only); 0 for none. */
  explainTop: number;
  chunkRows?: number;
  /** ONNX scoring threads for request scoring (default: 2, 1 on one core). */
  threads?: number;
  /** A locked run: join the live metadata tables instead of those frozen with its lock. */
  liveMetadata?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** What both scorers report; request scoring also counts users and apps it had to score as unknown. */
export interface BatchScoreSummary {
  runId: string;
  version: number;
  modelSha256: string;
  threshold: number;
  rows: number;
  approved: number;
  seconds: number;
  unknownUsers?: number;
  unknownApps?: number;
}

/**
 * Scores `request.input` into `request.output` for the caller holding `credential` (`view_model_performance`), and
 * audits the batch as `batch_scored`.
 */
export async function scoreBatch(credential: Credential, request: BatchScoreRequest): Promise<BatchScoreSummary> {
  const { runId, expectedModelSha256 } = await resolveScoringRun(request.runId);
  const caller = await authorize(credential, SCORING_PERMISSION, { type: 'run', id: runId });
  const modelOptions = {
    ...(expectedModelSha256 ? { expectedModelSha256 } : {}),
    ...(request.version ? { version: request.version } : {}),
    ...(request.liveMetadata ? { liveMetadata: true } : {}),
  };
  // The batch is audited once every row is written and before the output is put in place: a batch that cannot be
  // audited leaves no output.
  const audited = async (summary: { rows: number; approved: number; seconds: number }): Promise<void> => {
    await appendAudit({
      user_id: caller.userId,
      user_role: caller.role,
      temporary_role: caller.temporaryRole ?? false,
      action: 'batch_scored',
      resource_type: 'run',
      resource_id: runId,
      correlation_id: runId,
      status: 'success',
      source: credential.source ?? 'cli',
      duration_ms: Math.round(summary.seconds * 1000),
      result: 'completed',
      details: {
        version: model.version,
        rows: summary.rows,
        approved: summary.approved,
        explain: request.explainTop,
        ...(request.liveMetadata ? { live_metadata: true } : {}),
      },
    });
  };
  const options = {
    ...(request.onProgress ? { onProgress: request.onProgress } : {}),
    ...(request.chunkRows ? { chunkRows: request.chunkRows } : {}),
    beforeCommit: audited,
  };
  // A flat-mode run scores rows of its declared columns instead of {userId, appId} requests.
  const flat = await isFlatModeRun(runId);
  if (flat && request.explainTop) throw new InputError('--explain is not available for flat-mode runs');
  let model: { version: number; modelSha256: string; threshold: number; close(): Promise<void> };
  let scoreFile: () => Promise<Omit<BatchScoreSummary, 'runId' | 'version' | 'modelSha256' | 'threshold'>>;
  if (flat) {
    const m = (model = await openFlatRunModel(runId, modelOptions));
    scoreFile = () => scoreFlatCsvFile(m, request.input, request.output, options);
  } else {
    // ONNX sessions in threads of their own score chunks while this thread reads and builds the next ones.
    const scoringThreads = request.threads ?? Math.min(2, availableParallelism());
    const m = (model = await openRunModel(runId, { ...modelOptions, scoringThreads }));
    scoreFile = () => scoreCsvFile(m, request.input, request.output, { ...options, explainTop: request.explainTop });
  }
  try {
    const summary = await scoreFile();
    return { runId, version: model.version, modelSha256: model.modelSha256, threshold: model.threshold, ...summary };
  } finally {
    await model.close();
  }
}
