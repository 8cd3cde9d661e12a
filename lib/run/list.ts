/** Listing runs and showing one: what `runs list`, `runs show` and GET /runs read. */
import type { RunStatus } from '../../schemas/lifecycle';
import type { MetricsFile } from '../../schemas/metrics';
import type { MetricsSummary, RunEnd, RunInfo, RunManifest, RunState, Tombstone } from '../../schemas/run';
import { UnknownRunError } from '../errors';
import { readDeployment } from './deployment';
import { allRunDirs, resolveRunDir } from './folder';
import { lifecycleView } from './lifecycle';
import { tryManifest } from './manifest';
import { readMetrics, readRunEnd, readRunInfo, readTombstone } from './records';

export interface RunListing {
  runId: string;
  startedAt: string | null;
  /** The run's true state ({@link RUN_STATES}); `unreadable` when its folder or records cannot be used (`problem`). */
  state: RunState | 'unreadable';
  problem?: string;
  rocAuc: number | null;
  accuracy: number | null;
  /** For a `running` run, its workflow's status on the Temporal server, added by the client layer. */
  serverStatus?: string;
}

const orNull = <T>(p: Promise<T>): Promise<T | null> => p.catch(() => null);

const REVIEW_STATE: Record<RunStatus, RunState> = {
  trained: 'completed',
  manual_override_pending_review: 'pending_review',
  approved: 'approved',
  rejected: 'rejected',
  locked: 'locked',
};

/**
 * A run's state from its records: without a manifest, how it ended (`end.json`) or `running`; with one, its review
 * status, `deployed` when it is the deployment's run. A lock or record that fails its check throws (names it).
 */
async function stateOf(
  runId: string,
  dir: string,
  manifest: RunManifest | null,
  deployedRun: string | null,
): Promise<{ state: RunState; end: RunEnd | null }> {
  if (!manifest) {
    const end = await readRunEnd(dir);
    return { state: end?.state ?? 'running', end };
  }
  const status = (await lifecycleView(runId, dir)).status;
  return { state: status === 'locked' && deployedRun === runId ? 'deployed' : REVIEW_STATE[status], end: null };
}

const deployedRunId = async (): Promise<string | null> => (await orNull(readDeployment()))?.run_id ?? null;
const oofOf = (dir: string): Promise<MetricsSummary | null> => orNull(readMetrics(dir).then((m) => m.oof));

/** Every run of the data directory, newest first. */
export async function listRuns(): Promise<RunListing[]> {
  const deployed = await deployedRunId();
  const runs = await Promise.all(
    (await allRunDirs()).map(async (found): Promise<RunListing> => {
      const { runId, dir } = found;
      if (dir === null)
        return { runId, startedAt: null, state: 'unreadable', problem: found.problem, rocAuc: null, accuracy: null };
      const tombstone = await readTombstone(dir).catch((e: Error) => e);
      if (tombstone instanceof Error)
        return {
          runId,
          startedAt: null,
          state: 'unreadable',
          problem: tombstone.message,
          rocAuc: null,
          accuracy: null,
        };
      if (tombstone)
        return { runId, startedAt: tombstone.info.startedAt, state: 'deleted', rocAuc: null, accuracy: null };
      const [info, manifest, metrics] = await Promise.all([
        orNull(readRunInfo(dir)),
        orNull(tryManifest(dir)),
        oofOf(dir),
      ]);
      const scores = { rocAuc: metrics?.rocAuc ?? null, accuracy: metrics?.accuracy ?? null };
      const startedAt = info?.startedAt ?? null;
      try {
        return { runId, startedAt, state: (await stateOf(runId, dir, manifest, deployed)).state, ...scores };
      } catch (e) {
        return { runId, startedAt, state: 'unreadable', problem: (e as Error).message, ...scores };
      }
    }),
  );
  return runs.sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''));
}

export interface RunDetails {
  runId: string;
  runDir: string;
  info: RunInfo;
  state: RunState;
  /** How it ended, when it failed or was cancelled. */
  end: RunEnd | null;
  /** Who deleted it, when and why, with the manifest of what was removed. */
  tombstone: Tombstone | null;
  metrics: MetricsSummary | null;
  /** The bootstrap intervals of the OOF ROC-AUC and accuracy, when the evaluation computed them. */
  intervals: MetricsFile['ci'] | null;
  manifest: RunManifest | null;
  /** For a `running` run, its workflow's status on the Temporal server, added by the client layer. */
  serverStatus?: string;
}

/** One run by id; UnknownRunError when it has no folder (or no run.json). */
export async function showRun(runId: string): Promise<RunDetails> {
  const runDir = await resolveRunDir(runId);
  const tombstone = await readTombstone(runDir);
  if (tombstone) {
    const { info, manifest } = tombstone;
    return { runId, runDir, info, state: 'deleted', end: null, tombstone, metrics: null, intervals: null, manifest };
  }
  const info = await orNull(readRunInfo(runDir));
  if (!info) throw new UnknownRunError(`unknown run ${runId}: no run folder at ${runDir}`);
  const [manifest, file] = await Promise.all([tryManifest(runDir), orNull(readMetrics(runDir))]);
  const { state, end } = await stateOf(runId, runDir, manifest, await deployedRunId());
  const [metrics, intervals] = [file?.oof ?? null, file?.ci ?? null];
  return { runId, runDir, info, state, end, tombstone: null, metrics, intervals, manifest };
}
