/**
 * Batch scoring throughput and peak memory of `access-perm score`, measured with /usr/bin/time -v.
 *
 *   ACCESS_PERM_DATA_DIR=… ACCESS_PERM_TOKEN=… node --import tsx bench/score-cli.ts --run <id> --input F.csv \
 *     [--repeat-to N] [--repeats 3] [--explain]
 *
 * --repeat-to N first writes a CSV of N rows by repeating the input's rows (known users and apps of the run, as in
 * steady-state traffic) next to it and scores that. Reports rows/s (from the command's own timing) and peak RSS,
 * medians over --repeats runs.
 */
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs, promisify } from 'node:util';
import { PROJECT_ROOT } from '../lib/paths';

const exec = promisify(execFile);
const { values: args } = parseArgs({
  options: {
    run: { type: 'string' },
    input: { type: 'string' },
    'repeat-to': { type: 'string' },
    repeats: { type: 'string', default: '3' },
    explain: { type: 'boolean', default: false },
  },
});
if (!args.run || !args.input) throw new Error('--run and --input are required');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Writes `rows` data rows by cycling the data rows of `input` (header kept). */
async function repeatRows(input: string, rows: number, out: string): Promise<void> {
  const lines: string[] = [];
  let header = '';
  for await (const line of createInterface({ input: createReadStream(input) })) {
    if (!header) header = line;
    else if (line) lines.push(line);
  }
  const ws = createWriteStream(out);
  ws.write(`${header}\n`);
  for (let i = 0; i < rows;) {
    const n = Math.min(50_000, rows - i);
    let block = '';
    for (let k = 0; k < n; k++) block += `${lines[(i + k) % lines.length]}\n`;
    if (!ws.write(block)) await once(ws, 'drain');
    i += n;
  }
  ws.end();
  await once(ws, 'finish');
}

let input = args.input;
if (args['repeat-to']) {
  const rows = Number(args['repeat-to']);
  input = join(PROJECT_ROOT, 'bench/out', `requests-${rows}.csv`);
  await mkdir(join(PROJECT_ROOT, 'bench/out'), { recursive: true });
  await repeatRows(args.input, rows, input);
}
const output = join(PROJECT_ROOT, 'bench/out', 'predictions.csv');
const runs: Array<{ rows: number; seconds: number; rowsPerSec: number; peakRssMb: number; wallSeconds: number }> = [];
for (let r = 0; r < Number(args.repeats); r++) {
  const argv = ['-v', process.execPath, join(PROJECT_ROOT, 'bin/access-perm.mjs'), 'score', '--run', args.run];
  argv.push('--input', input, '--output', output, '--json', ...(args.explain ? ['--explain', '3'] : []));
  const { stdout, stderr } = await exec('/usr/bin/time', argv, { maxBuffer: 64 * 1024 * 1024 });
  const summary = JSON.parse(stdout) as { rows: number; seconds: number };
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1]);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)/.exec(stderr)?.[1] ?? '0';
  const wallSeconds = wall.split(':').reduce((acc, part) => acc * 60 + Number(part), 0);
  runs.push({
    rows: summary.rows,
    seconds: summary.seconds,
    rowsPerSec: summary.rows / summary.seconds,
    peakRssMb: rssKb / 1024,
    wallSeconds,
  });
  process.stderr.write(`run ${r + 1}: ${JSON.stringify(runs.at(-1))}\n`);
}
const result = {
  run: args.run,
  input,
  rows: runs[0]!.rows,
  explain: args.explain,
  rowsPerSec: median(runs.map((x) => x.rowsPerSec)),
  scoringSeconds: median(runs.map((x) => x.seconds)),
  wallSeconds: median(runs.map((x) => x.wallSeconds)),
  peakRssMb: median(runs.map((x) => x.peakRssMb)),
  runs,
};
console.log(JSON.stringify(result, null, 2));
await writeFile(
  join(PROJECT_ROOT, 'bench/out', `score-cli-${result.rows}-${Date.now()}.json`),
  `${JSON.stringify(result, null, 2)}\n`,
);
await rm(output, { force: true });
