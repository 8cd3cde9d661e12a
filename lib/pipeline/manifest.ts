import { join } from 'node:path';
import type { ArtifactRef } from '../../schemas/run';
import { readVerified, writeManifest } from '../artifacts';
import { readRunInfo, type RunRef } from './run';

/**
 * Writes the run manifest from the artifacts the steps reported. A path reported twice (the model,
 * re-written with its threshold) keeps its last version; every listed file is re-read and verified.
 */
export async function finalizeManifest(ref: RunRef, reported: ArtifactRef[]): Promise<string> {
  const latest = new Map<string, ArtifactRef>();
  for (const a of reported) latest.set(a.path, a);
  const artifacts = [...latest.values()];
  for (const a of artifacts) await readVerified(ref.runDir, a);
  const info = await readRunInfo(ref.runDir);
  return writeManifest(ref.runDir, {
    format: 'access-perm/manifest@1',
    runId: ref.runId,
    configPath: info.configPath,
    configHash: info.configHash,
    dataHash: info.dataHash,
    createdAt: new Date().toISOString(),
    artifacts,
  });
}

export const manifestPathOf = (ref: RunRef): string => join(ref.runDir, 'manifest.json');
