import { relative, sep } from 'node:path';
import type { ResolvedIdentity } from '../../schemas/governance';
import type { ArtifactRef } from '../../schemas/run';
import { readVerified } from '../artifacts';
import { appendAudit } from '../governance/audit';
import { sha256Hex } from '../hash';
import { MANIFEST_FILE, readRunBytes, readRunInfo, writeManifest, type RunFolder } from '../run';

/**
 * Writes the run manifest from the artifacts the steps reported. A path reported twice (the model,
 * re-written with its threshold) keeps its last version; every listed file is re-read and verified. Returns the
 * manifest's sha256 and how many artifacts it lists.
 */
export async function finalizeManifest(
  ref: RunFolder,
  reported: ArtifactRef[],
): Promise<{ sha256: string; artifacts: number }> {
  const latest = new Map<string, ArtifactRef>();
  for (const a of reported) latest.set(a.path, a);
  const artifacts = [...latest.values()];
  for (const a of artifacts) await readVerified(ref.dir, a);
  const info = await readRunInfo(ref.dir);
  await writeManifest(
    ref.dir,
    {
      format: 'access-perm/manifest@1',
      runId: ref.runId,
      configPath: info.configPath,
      configHash: info.configHash,
      dataHash: info.dataHash,
      createdAt: new Date().toISOString(),
      artifacts,
    },
    relative(ref.root, ref.dir).split(sep).join('/') || '.',
  );
  const sha256 = sha256Hex(await readRunBytes(ref.dir, MANIFEST_FILE));
  await appendAudit({
    user_id: info.createdBy.userId,
    user_role: info.createdBy.role as ResolvedIdentity['role'],
    temporary_role: info.createdBy.temporaryRole,
    action: 'run_completed',
    resource_type: 'run',
    resource_id: ref.runId,
    correlation_id: ref.runId,
    status: 'success',
    source: 'workflow',
    result: `manifest sha256 ${sha256}`,
  });
  return { sha256, artifacts: artifacts.length };
}
