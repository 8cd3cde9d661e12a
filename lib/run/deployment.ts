import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deploymentSchema, type Deployment } from '../../schemas/deployment';
import { writeFileAtomic } from '../artifacts';
import { dataDir } from '../paths';

/** `<dataDir>/deployment.json`: which run is deployed. Watched by the scoring service, which hot-reloads. */
export function deploymentPath(): string {
  return join(dataDir(), 'deployment.json');
}

/** The deployed run, or null when nothing has been deployed yet. A corrupt file is an error, not "nothing". */
export async function readDeployment(): Promise<Deployment | null> {
  let text: string;
  try {
    text = await readFile(deploymentPath(), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const parsed = deploymentSchema.safeParse(JSON.parse(text));
  if (!parsed.success)
    throw new Error(`${deploymentPath()} is not a valid deployment record: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Points the deployment at a run, atomically (readers see the old record or the new one, never half). */
export async function writeDeployment(deployment: Deployment): Promise<void> {
  await writeFileAtomic(deploymentPath(), `${JSON.stringify(deploymentSchema.parse(deployment), null, 2)}\n`);
}
