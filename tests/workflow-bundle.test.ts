import { appendFile, cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../lib/paths';
import { isWorkflowBundleFresh, workflowSourcesHash } from '../worker/bundle';

describe('the prebuilt workflow bundle', () => {
  it('is built once (by the global setup, like bootstrap) and matches the current sources', async () => {
    expect(await isWorkflowBundleFresh()).toBe(true);
  });

  it('is stale after any edit to workflow code, the schemas it uses or the lockfile, and only then', async () => {
    // A copy of what the bundle is built from; lib/ is left out: workflows import it as types only.
    const copy = await mkdtemp(join(tmpdir(), 'access-perm-bundle-'));
    for (const part of ['workflows', 'schemas', 'package-lock.json'])
      await cp(join(PROJECT_ROOT, part), join(copy, part), { recursive: true });
    const built = await workflowSourcesHash(copy);
    expect(built).toBe(await workflowSourcesHash());

    await appendFile(join(copy, 'schemas', 'serving.ts'), '\n// not imported by any workflow\n');
    expect(await workflowSourcesHash(copy)).toBe(built);
    const edits = [join('schemas', 'run.ts'), join('workflows', 'monitoring.ts'), 'package-lock.json'];
    let previous = built;
    for (const file of edits) {
      await appendFile(join(copy, file), '\n');
      const now = await workflowSourcesHash(copy);
      expect(now, file).not.toBe(previous);
      previous = now;
    }
  });
});
