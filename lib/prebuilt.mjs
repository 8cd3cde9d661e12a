// Prebuilt JavaScript of the CLI and of the worker threads' programs. Through tsx, every module a command or a thread
// loads is compiled and passed through a loader thread first: `lifecycle --help` cost 3.9 s of CPU, a training
// thread half a second before its first tree. Bootstrap bundles them with esbuild (`npm run build:js`) into
// .build/js/<hash>/; a program uses that build only while it matches the sources it was built from, else it runs
// the TypeScript through tsx as before. Plain JavaScript: bin/access-perm.mjs reads it before any loader is set up.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The project folder (this file is never bundled: it stays in lib/). */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD_DIR = join(ROOT, '.build', 'js');
const STAMP_FILE = 'stamp.json';

/** Each program's name and its TypeScript entry, relative to the project. */
export const PROGRAMS = {
  cli: 'scripts/cli.ts',
  'training-thread': 'lib/training/thread.ts',
  'onnx-thread': 'lib/gbdt/onnx/thread.ts',
  'step-thread': 'lib/pipeline/stepThread.ts',
};

/**
 * A hash of the files a build was made from (`inputs`, relative to `root`: names and contents) and of the lockfile.
 * Any edit to one of them changes it; a file that none of them imports cannot be in the build.
 * @param {string} root
 * @param {readonly string[]} inputs
 */
export function sourcesHash(root, inputs) {
  const hash = createHash('sha256');
  for (const file of [...inputs, 'package-lock.json'])
    hash
      .update(`${file}\0`)
      .update(readFileSync(join(root, file)))
      .update('\0');
  return hash.digest('hex');
}

/**
 * @typedef {{ dir: string; sourcesSha256: string; inputs: string[]; builtAt: string }} BuildStamp
 * @param {string} buildDir
 * @returns {BuildStamp | null}
 */
function readStamp(buildDir) {
  try {
    return JSON.parse(readFileSync(join(buildDir, STAMP_FILE), 'utf8'));
  } catch {
    return null;
  }
}

/**
 * The folder of the current build when it matches the sources, else null (missing, or any input edited since).
 * @param {string} [root]
 */
export function freshBuildDir(root = ROOT) {
  const buildDir = join(root, '.build', 'js');
  const stamp = readStamp(buildDir);
  if (!stamp || !existsSync(join(buildDir, stamp.dir))) return null;
  try {
    return sourcesHash(root, stamp.inputs) === stamp.sourcesSha256 ? join(buildDir, stamp.dir) : null;
  } catch {
    // An input was deleted or renamed.
    return null;
  }
}

/** @type {string | null | undefined} */
let freshHere;

/**
 * The URL of program `name`'s prebuilt module when the build is fresh (checked once per process or thread), else
 * null.
 * @param {keyof typeof PROGRAMS} name
 */
export function prebuiltProgram(name) {
  if (freshHere === undefined) freshHere = freshBuildDir();
  return freshHere ? pathToFileURL(join(freshHere, `${name}.mjs`)).href : null;
}

/**
 * Loads a thread's program: prebuilt when fresh, else its TypeScript through tsx (a thread does not inherit its
 * parent's loader). Resolves with the module's exports.
 * @param {keyof typeof PROGRAMS} name
 * @returns {Promise<unknown>}
 */
export async function loadProgram(name) {
  const prebuilt = prebuiltProgram(name);
  if (prebuilt) return import(prebuilt);
  const { tsImport } = await import('tsx/esm/api');
  return tsImport(pathToFileURL(join(ROOT, PROGRAMS[name])).href, import.meta.url);
}

/**
 * Bundles every program (project code inlined, packages left to node_modules, shared code in chunks) into a new
 * folder of .build/js/, then points the stamp at it. Programs already running keep their folder: only folders older
 * than the previous build are removed. A source edited during the build leaves the build unstamped (stale).
 * @param {string} [root]
 * @returns {Promise<BuildStamp | null>} the stamp, or null when a source changed meanwhile
 */
export async function buildPrograms(root = ROOT) {
  const { build } = await import('esbuild');
  const buildDir = join(root, '.build', 'js');
  const started = Date.now();
  const temporary = join(buildDir, `.tmp-${process.pid}-${started}`);
  await mkdir(buildDir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(PROGRAMS).map(([name, entry]) => [name, join(root, entry)])),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    // Error and class names read at run time stay what the sources say.
    keepNames: true,
    outdir: temporary,
    outExtension: { '.js': '.mjs' },
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs).sort();
  const edited = inputs.some((file) => statSync(join(root, file)).mtimeMs >= started);
  const sourcesSha256 = sourcesHash(root, inputs);
  const dir = sourcesSha256.slice(0, 16);
  const previous = readStamp(buildDir);
  // The same sources build the same files: a folder of this hash already there (maybe in use) stays as it is.
  if (existsSync(join(buildDir, dir))) await rm(temporary, { recursive: true, force: true });
  else await rename(temporary, join(buildDir, dir));
  if (edited) return null;
  /** @type {BuildStamp} */
  const stamp = { dir, sourcesSha256, inputs, builtAt: new Date().toISOString() };
  const stampTemporary = join(buildDir, `${STAMP_FILE}.${process.pid}.tmp`);
  await writeFile(stampTemporary, `${JSON.stringify(stamp, null, 2)}\n`);
  await rename(stampTemporary, join(buildDir, STAMP_FILE));
  const keep = new Set([dir, previous?.dir, STAMP_FILE]);
  for (const entry of await readdir(buildDir))
    if (!keep.has(entry) && !entry.startsWith('.tmp-'))
      await rm(join(buildDir, entry), { recursive: true, force: true });
  return stamp;
}

/** The build folder, relative to the project (for messages). */
export const BUILD_DIR_NAME = relative(ROOT, BUILD_DIR);
