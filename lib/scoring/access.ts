import type { Permission } from '../../schemas/governance';
import { assertRunId, readDeployment } from '../run';
import { RunNotScorableError } from './errors';

/**
 * The seed-3 §2 row that governs scoring and explanations (batch CLI, POST /predict, POST /explain): reading what
 * a model says is "View model performance", open to every role from VIEWER up.
 */
export const SCORING_PERMISSION: Permission = 'view_model_performance';

/** The run to score with: the explicit one, else the deployed run (with the ONNX hash the deployment pins). */
export async function resolveScoringRun(explicit?: string): Promise<{ runId: string; expectedModelSha256?: string }> {
  if (explicit) return { runId: assertRunId(explicit) };
  const deployment = await readDeployment();
  if (!deployment) {
    throw new RunNotScorableError('no run is deployed yet: pass --run <id>, or approve a locked run for deployment');
  }
  return { runId: assertRunId(deployment.run_id), expectedModelSha256: deployment.model_sha256 };
}
