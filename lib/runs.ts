import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MetricsSummary, RunManifest } from '../schemas/run';
import { readManifest } from './artifacts';
import { UnknownRunError } from './errors';
import { readRunInfo, type RunInfo } from './pipeline/run';
import { assertRunId, runsDir } from './paths';

export interface RunListing {
  runId: string;
  startedAt: string | null;
  /** `completed` once the manifest exists; a run without one failed or is still running. */
  state: 'completed' | 'incomplete';
  rocAuc: number | null;
  accuracy: number | null;
}

async function readMetrics(dir: string): Promise<MetricsSummary | null> {
  try {
    return (JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')) as { oof: MetricsSummary }).oof;
  } catch {
    return null;
  }
}

async function tryManifest(dir: string): Promise<RunManifest | null> {
  try {
    return await readManifest(dir);
  } catch {
    return null;
  }
}

async function tryInfo(dir: string): Promise<RunInfo | null> {
  try {
    return await readRunInfo(dir);
  } catch {
    return null;
  }
}

/** Runs found under the runs folder, newest first. */
export async function listRuns(dir = runsDir()): Promise<RunListing[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
  const runs = await Promise.all(
    names.map(async (runId): Promise<RunListing> => {
      const runPath = join(dir, runId);
      const [info, manifest, metrics] = await Promise.all([
        tryInfo(runPath),
        tryManifest(runPath),
        readMetrics(runPath),
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

export async function showRun(runId: string, dir = runsDir()): Promise<RunDetails> {
  const runPath = join(dir, assertRunId(runId));
  const info = await tryInfo(runPath);
  if (!info) throw new UnknownRunError(`unknown run ${runId}: no run folder at ${runPath}`);
  const [manifest, metrics] = await Promise.all([tryManifest(runPath), readMetrics(runPath)]);
  return { runId, runDir: runPath, info, state: manifest ? 'completed' : 'incomplete', metrics, manifest };
}
