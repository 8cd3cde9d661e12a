import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deploymentSchema, type Deployment } from '../../schemas/deployment';
import { writeFileAtomic } from '../artifacts';
import {
  pinnedSignature,
  commitPinnedRecord,
  RecordSignatureError,
  signRecord,
  verifyPinnedRecord,
  type RecordSignature,
} from '../keys';
import { dataDir } from '../paths';

const DEPLOYMENT_PIN = 'deployment';

/** `<dataDir>/deployment.json`: which run is deployed. Watched by the scoring service, which hot-reloads. */
export function deploymentPath(): string {
  return join(dataDir(), 'deployment.json');
}

/**
 * The deployed run, or null when nothing has been deployed yet. A corrupt file is an error, not "nothing"; so is
 * one whose signature does not hold or that is not the latest deployment access-perm signed (RecordSignatureError).
 */
export async function readDeployment(): Promise<Deployment | null> {
  let text: string;
  try {
    text = await readFile(deploymentPath(), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    if (await pinnedSignature(DEPLOYMENT_PIN, 'current'))
      throw new RecordSignatureError(
        `${deploymentPath()} was deleted, though a run was deployed (the keyring holds its signature): restore it from a backup`,
      );
    return null;
  }
  const raw = JSON.parse(text) as Deployment & { signature?: RecordSignature };
  const content = await verifyPinnedRecord(raw, `the deployment record ${deploymentPath()}`, DEPLOYMENT_PIN, 'current');
  const parsed = deploymentSchema.safeParse(content);
  if (!parsed.success)
    throw new Error(`${deploymentPath()} is not a valid deployment record: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/**
 * Points the deployment at a run, atomically (readers see the old record or the new one, never half), signed, its
 * signature pinned in the keyring.
 */
export async function writeDeployment(deployment: Deployment): Promise<void> {
  const signed = await signRecord(deploymentSchema.parse(deployment));
  await commitPinnedRecord(DEPLOYMENT_PIN, 'current', signed.signature, () =>
    writeFileAtomic(deploymentPath(), `${JSON.stringify(signed, null, 2)}\n`),
  );
}
