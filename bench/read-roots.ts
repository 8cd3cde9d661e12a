/**
 * Lets a bench read a config or data set that lies outside the folders workflows may read (e.g.
 * `--config /tmp/scale-1m.yaml` over a set generated in /tmp), which prepareRun would refuse. A bench is the ADMIN of
 * its own installation (data directory bench/out), so it adds those folders to that installation's read_roots,
 * audited like any ADMIN's change.
 */
import { dirname, resolve } from 'node:path';
import { loadConfig } from '../lib/config';
import { inputFiles, rawPaths } from '../lib/data/raw';
import { setSystemConfigAs } from '../lib/governance';
import { isInside } from '../lib/paths';
import { readableRoots, readSettings } from '../lib/settings';

/** Adds the folders of `configPath` and of the data it names to read_roots when they are not readable yet. */
export async function allowReading(configPath: string, adminToken: string, log: (msg: string) => void): Promise<void> {
  const { config } = await loadConfig(configPath);
  const inputs = Object.values(inputFiles(config));
  if (config.data.mode === 'seed') inputs.push(rawPaths(config).submission);
  const roots = await readableRoots();
  const outside: string[] = [];
  for (const folder of new Set([configPath, ...inputs].map((p) => dirname(resolve(p))))) {
    let inside = false;
    for (const root of roots) if (await isInside(root, folder)) inside = true;
    if (!inside) outside.push(folder);
  }
  if (outside.length === 0) return;
  log(`adding ${outside.join(', ')} to the read_roots of this installation (the bench's own)`);
  await setSystemConfigAs(
    { token: adminToken },
    'read_roots',
    [...(await readSettings()).read_roots, ...outside],
    `bench --config ${configPath}`,
  );
}
