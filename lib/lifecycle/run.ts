/** What the lifecycle workflow needs to know about a finished run or version, read from its folder. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest } from '../artifacts';
import { METRICS_FILE } from '../pipeline/evaluate';
import { readRunInfo } from '../pipeline/run';
import { MODEL_FILE } from '../pipeline/train';

export interface VersionSummary {
  ownerId: string;
  modelSha256: string | null;
  rocAuc: number | null;
  threshold: number | null;
}

export async function describeVersion(runDir: string, versionDir: string): Promise<VersionSummary> {
  const dir = join(runDir, versionDir);
  const [info, manifest, metrics] = await Promise.all([
    readRunInfo(runDir),
    readManifest(dir),
    readFile(join(dir, METRICS_FILE), 'utf8').then(
      (t) => JSON.parse(t) as { oof: { rocAuc: number; threshold: number } },
    ),
  ]);
  return {
    ownerId: info.createdBy.userId,
    modelSha256: manifest.artifacts.find((a) => a.path === MODEL_FILE)?.sha256 ?? null,
    rocAuc: metrics.oof.rocAuc,
    threshold: metrics.oof.threshold,
  };
}
