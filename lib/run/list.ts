/** Listing runs and showing one: what `runs list`, `runs show` and GET /runs read. */
import type { MetricsSummary, RunInfo, RunManifest } from '../../schemas/run';
import { UnknownRunError } from '../errors';
import { allRunDirs, resolveRunDir } from './folder';
import { tryManifest } from './manifest';
import { readMetrics, readRunInfo } from './records';

export interface RunListing {
  runId: string;
  startedAt: string | null;
  /**
   * `completed` once the manifest exists; a run without one failed or is still running; `unreadable` when its index
   * entry cannot be used (`problem` says why).
   */
  state: 'completed' | 'incomplete' | 'unreadable';
  problem?: string;
  rocAuc: number | null;
  accuracy: number | null;
}

const orNull = <T>(p: Promise<T>): Promise<T | null> => p.catch(() => null);
const oofOf = (dir: string): Promise<MetricsSummary | null> => orNull(readMetrics(dir).then((m) => m.oof));

/** Every run of the data directory, newest first. */
export async function listRuns(): Promise<RunListing[]> {
  const runs = await Promise.all(
    (await allRunDirs()).map(async (found): Promise<RunListing> => {
      const { runId, dir } = found;
      if (dir === null)
        return { runId, startedAt: null, state: 'unreadable', problem: found.problem, rocAuc: null, accuracy: null };
      const [info, manifest, metrics] = await Promise.all([
        orNull(readRunInfo(dir)),
        orNull(tryManifest(dir)),
        oofOf(dir),
      ]);
      return {
        runId,
        startedAt: info?.startedAt ?? null,
        state: manifest ? 'completed' : 'incomplete',
        rocAuc: metrics?.rocAuc ?? null,
        accuracy: metrics?.accuracy ?? null,
      };
    }),
  );
  return runs.sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''));
}

export interface RunDetails {
  runId: string;
  runDir: string;
  info: RunInfo;
  state: 'completed' | 'incomplete';
  metrics: MetricsSummary | null;
  manifest: RunManifest | null;
}

/** One run by id; UnknownRunError when it has no folder (or no run.json). */
export async function showRun(runId: string): Promise<RunDetails> {
  const runDir = await resolveRunDir(runId);
  const info = await orNull(readRunInfo(runDir));
  if (!info) throw new UnknownRunError(`unknown run ${runId}: no run folder at ${runDir}`);
  const [manifest, metrics] = await Promise.all([tryManifest(runDir), oofOf(runDir)]);
  return { runId, runDir, info, state: manifest ? 'completed' : 'incomplete', metrics, manifest };
}
