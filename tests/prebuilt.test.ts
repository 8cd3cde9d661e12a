import { execFile } from 'node:child_process';
import { appendFile, cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../lib/paths';
import { buildPrograms, freshBuildDir } from '../lib/prebuilt.mjs';

const exec = promisify(execFile);

describe('the prebuilt CLI and thread programs', () => {
  it('are built once (by the global setup, like bootstrap) and match the current sources', () => {
    expect(freshBuildDir()).not.toBeNull();
  });

  it('run only while they match their sources: an edit to any file they hold sends the CLI back to the TypeScript', async () => {
    // A copy of the project's code sharing its node_modules, built there.
    const copy = await mkdtemp(join(tmpdir(), 'access-perm-prebuilt-'));
    for (const part of ['bin', 'lib', 'scripts', 'schemas', 'api', 'client', 'worker', 'workflows', 'activities'])
      await cp(join(PROJECT_ROOT, part), join(copy, part), { recursive: true });
    for (const file of ['package.json', 'package-lock.json']) await cp(join(PROJECT_ROOT, file), join(copy, file));
    await symlink(join(PROJECT_ROOT, 'node_modules'), join(copy, 'node_modules'));
    const stamp = (await buildPrograms(copy))!;
    expect(stamp.inputs).toContain('scripts/cli.ts');
    expect(stamp.inputs).toContain('lib/gbdt/train.ts');
    const built = freshBuildDir(copy)!;
    expect(built).toBe(join(copy, '.build', 'js', stamp.dir));
    // Marks the built CLI, so its output shows which one ran.
    const cliFile = join(built, 'cli.mjs');
    await writeFile(cliFile, `${await readFile(cliFile, 'utf8')}\nprocess.stderr.write('prebuilt CLI\\n');\n`);
    const cli = () => exec('node', [join(copy, 'bin', 'access-perm.mjs'), 'configs', '--help'], { cwd: copy });

    const prebuilt = await cli();
    expect(prebuilt.stderr).toBe('prebuilt CLI\n');
    expect(prebuilt.stdout).toMatch(/Usage: access-perm configs/);

    // A file no program imports leaves the build fresh; an edit to one of its inputs makes it stale.
    await writeFile(join(copy, 'lib', 'unused.ts'), 'export const unused = 1;\n');
    expect(freshBuildDir(copy)).toBe(built);
    await appendFile(join(copy, 'lib', 'gbdt', 'tree.ts'), '\n');
    expect(freshBuildDir(copy)).toBeNull();
    const fromSources = await cli();
    expect(fromSources.stderr).toBe('');
    expect(fromSources.stdout).toBe(prebuilt.stdout);

    // Rebuilt, it is fresh again; an input deleted makes it stale.
    await buildPrograms(copy);
    expect(freshBuildDir(copy)).not.toBeNull();
    await rm(join(copy, 'lib', 'gbdt', 'tree.ts'));
    expect(freshBuildDir(copy)).toBeNull();
  });
});
