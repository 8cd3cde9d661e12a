import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundlePath } from '@temporalio/worker';
import { PROJECT_ROOT } from '../lib/paths';

const ROOT = PROJECT_ROOT;
const WORKFLOWS_ENTRY = join(ROOT, 'workflows', 'index.ts');

/** The prebuilt workflow bundle (git-ignored) and the hash of the sources it was built from, beside it. */
export const WORKFLOW_BUNDLE = join(ROOT, '.build', 'workflows.js');
const BUNDLE_STAMP = join(ROOT, '.build', 'workflows.json');
/** What a user runs to (re)build it; bootstrap runs it after npm install. */
export const BUILD_WORKFLOWS_COMMAND = 'npm run build:workflows';

interface BundleStamp {
  sourcesSha256: string;
  builtAt: string;
}

/** Relative imports that stay in the emitted code (`import type` / `export type` are erased by the bundler). */
const VALUE_IMPORT = /^\s*(?:import|export)\s+(?!type\b)(?:[^'"]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;

/**
 * A hash of everything the bundle is built from: the workflow entry and every file it imports by relative path,
 * followed transitively, plus the lockfile (the versions of @temporalio/workflow, zod … bundled with them). Any
 * edit to workflow code or to the schemas it uses changes it. `root` is the project folder (tests use a copy).
 */
export async function workflowSourcesHash(root = ROOT): Promise<string> {
  const hash = createHash('sha256');
  const seen = new Set<string>();
  const pending = [join(root, 'workflows', 'index.ts')];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = await readFile(file, 'utf8');
    hash.update(`${relative(root, file)}\0${text}\0`);
    for (const [, spec] of text.matchAll(VALUE_IMPORT)) pending.push(resolveImport(root, file, spec!));
  }
  hash.update(await readFile(join(root, 'package-lock.json')));
  return hash.digest('hex');
}

function resolveImport(root: string, from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  const found = [`${base}.ts`, join(base, 'index.ts'), base].find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`${relative(root, from)} imports ${spec}, which does not resolve to a .ts file`);
  return found;
}

async function readStamp(): Promise<BundleStamp | null> {
  try {
    return JSON.parse(await readFile(BUNDLE_STAMP, 'utf8')) as BundleStamp;
  } catch {
    return null;
  }
}

/** Written to a temporary file first, so a worker starting meanwhile never reads half a bundle. */
async function writeAtomic(path: string, data: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, data);
  await rename(temporary, path);
}

/** Bundles the workflows with `bundleWorkflowCode` into {@link WORKFLOW_BUNDLE}, stamped with the sources' hash. */
export async function buildWorkflowBundle(): Promise<BundleStamp> {
  // Hashed before bundling: sources edited during the build leave a stamp that no longer matches.
  const sourcesSha256 = await workflowSourcesHash();
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_ENTRY, logger: new DefaultLogger('WARN') });
  await mkdir(dirname(WORKFLOW_BUNDLE), { recursive: true });
  await writeAtomic(WORKFLOW_BUNDLE, code);
  const stamp: BundleStamp = { sourcesSha256, builtAt: new Date().toISOString() };
  await writeAtomic(BUNDLE_STAMP, `${JSON.stringify(stamp, null, 2)}\n`);
  return stamp;
}

/** Whether the prebuilt bundle exists and was built from the current sources. */
export async function isWorkflowBundleFresh(): Promise<boolean> {
  const stamp = await readStamp();
  return stamp !== null && existsSync(WORKFLOW_BUNDLE) && stamp.sourcesSha256 === (await workflowSourcesHash());
}

/**
 * The workflow bundle for `Worker.create`: the prebuilt one when it matches the sources, else rebuilt first
 * (saying so through `log`), so a stale bundle never runs.
 */
export async function workflowBundle(log: (line: string) => void = () => {}): Promise<WorkflowBundlePath> {
  if (!(await isWorkflowBundleFresh())) {
    log(
      `workflow bundle ${relative(ROOT, WORKFLOW_BUNDLE)} is missing or older than the workflow sources: rebuilding it (\`${BUILD_WORKFLOWS_COMMAND}\` builds it ahead)…`,
    );
    await buildWorkflowBundle().catch((e: unknown) => {
      throw new Error(`cannot build the workflow bundle: ${(e as Error).message}; run \`${BUILD_WORKFLOWS_COMMAND}\``, {
        cause: e,
      });
    });
  }
  return { codePath: WORKFLOW_BUNDLE };
}
