/**
 * What starting a command costs (`node --import tsx bench/start-cost.ts [--repeats 5]`): each command line runs as
 * `access-perm` does, once from the prebuilt CLI (.build/js/, lib/prebuilt.mjs) and once through tsx (what bin falls
 * back to when the build is stale), and prints the medians of wall time and of the process's CPU (user + system,
 * from bash's `times`). The training thread's first fit is `npm run bench:fit-overhead`.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { freshBuildDir } from '../lib/prebuilt.mjs';
import { PROJECT_ROOT } from '../lib/paths';

const { values: args } = parseArgs({ options: { repeats: { type: 'string', default: '5' } } });
const repeats = Number(args.repeats);
if (!freshBuildDir()) throw new Error('the prebuilt CLI is missing or stale: run `npm run build:js` first');

const COMMANDS = [['configs', '--help'], ['lifecycle', '--help'], ['--help']];
// bin/access-perm.mjs's fallback, forced: tsx's loader, then the CLI's TypeScript.
const THROUGH_TSX =
  "const { register } = await import('tsx/esm/api'); register(); " +
  "const { main } = await import('./scripts/cli.ts'); await main(['node', 'access-perm', ...process.argv.slice(1)]);";
const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** Wall seconds and CPU seconds (children's user + system) of one run of `node …`. */
function measure(nodeArgs: string[]): { wall: number; cpu: number } {
  const started = performance.now();
  const run = spawnSync('bash', ['-c', `node ${nodeArgs.map(quote).join(' ')} >/dev/null 2>&1; times`], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
  const wall = (performance.now() - started) / 1000;
  // `times` prints the shell's user/system times, then its children's: "0m1.234s 0m0.056s".
  const children = run.stdout
    .trim()
    .split('\n')
    .at(-1)!
    .match(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/);
  if (!children) throw new Error(`cannot read the CPU time from: ${run.stdout}`);
  const [, um, us, sm, ss] = children.map(Number) as number[];
  return { wall, cpu: um! * 60 + us! + sm! * 60 + ss! };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`| command | prebuilt: wall s | CPU s | through tsx: wall s | CPU s |`);
console.log(`| --- | --- | --- | --- | --- |`);
for (const command of COMMANDS) {
  const prebuilt: Array<{ wall: number; cpu: number }> = [];
  const tsx: Array<{ wall: number; cpu: number }> = [];
  // Interleaved, so a busy moment of the machine weighs on both.
  for (let r = 0; r < repeats; r++) {
    prebuilt.push(measure(['bin/access-perm.mjs', ...command]));
    tsx.push(measure(['--input-type=module', '-e', THROUGH_TSX, '--', ...command]));
  }
  const cell = (xs: Array<{ wall: number; cpu: number }>): string =>
    `${median(xs.map((x) => x.wall)).toFixed(2)} | ${median(xs.map((x) => x.cpu)).toFixed(2)}`;
  console.log(`| \`access-perm ${command.join(' ')}\` | ${cell(prebuilt)} | ${cell(tsx)} |`);
}
