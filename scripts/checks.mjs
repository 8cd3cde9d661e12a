#!/usr/bin/env node
// The static checks of `npm test`, run at once instead of one after another: typecheck, lint, formatting.
// Each one's output is printed when it ends; the exit code is non-zero when any of them failed. Each keeps a cache in
// node_modules/.cache, keyed by file contents, so a run after a small change re-checks little (a fresh clone pays
// once).

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const cache = (name) => join(root, 'node_modules', '.cache', name);
const CHECKS = [
  ['typecheck', bin('tsc'), ['--noEmit', '--incremental', '--tsBuildInfoFile', join(cache('tsc'), 'tsbuildinfo')]],
  ['lint', bin('eslint'), ['.', '--cache', '--cache-strategy', 'content', '--cache-location', `${cache('eslint')}/`]],
  [
    'format',
    bin('prettier'),
    [
      '--check',
      '.',
      '--log-level',
      'warn',
      '--cache',
      '--cache-strategy',
      'content',
      '--cache-location',
      join(cache('prettier'), 'cache'),
    ],
  ],
];

function run([name, cmd, args]) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (e) => resolve({ name, ok: false, output: e.message, seconds: 0 }));
    child.on('close', (code) => resolve({ name, ok: code === 0, output, seconds: (Date.now() - started) / 1000 }));
  });
}

const results = await Promise.all(CHECKS.map(run));
for (const r of results) {
  process.stderr.write(`checks: ${r.name} ${r.ok ? 'passed' : 'FAILED'} (${r.seconds.toFixed(1)} s)\n`);
  if (!r.ok || r.output.trim()) process.stderr.write(`${r.output.trimEnd()}\n`);
}
process.exit(results.every((r) => r.ok) ? 0 : 1);
