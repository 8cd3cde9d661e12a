/**
 * Load test of the scoring service on loopback with autocannon, optionally side by side with the seed's stack
 * (FastAPI + CatBoost, bench/fastapi_service.py in bench/.venv) on the same requests.
 *
 *   ACCESS_PERM_DATA_DIR=… ACCESS_PERM_TOKEN=… node --import tsx bench/serve.ts --run <id> \
 *     [--requests data/…/submission.csv] [--duration 10] [--repeats 3] [--fastapi]
 *
 * Scenarios (each `--repeats` times, medians reported): POST /predict with one request per call and with
 * 100-request batches, with 1 and 50 connections, as fast as they go; and one request per call at a fixed
 * 500 req/s (10 connections), the latency target's setting. Bodies cycle through the first rows of --requests.
 * Writes bench/out/serve-<time>.json and prints a markdown table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { seedData } from '../lib/config';
import { runDir } from '../lib/paths';
import { readRunConfig } from '../lib/pipeline/run';
import { FEATURES_FILE } from '../lib/pipeline/features';
import { PROJECT_ROOT } from '../lib/paths';

const { values: args } = parseArgs({
  options: {
    run: { type: 'string' },
    requests: { type: 'string' },
    duration: { type: 'string', default: '10' },
    repeats: { type: 'string', default: '3' },
    fastapi: { type: 'boolean', default: false },
    'skip-ours': { type: 'boolean', default: false },
  },
});
if (!args.run) throw new Error('--run <id> is required');
const token = process.env.ACCESS_PERM_TOKEN;
if (!token) throw new Error('set ACCESS_PERM_TOKEN (any role: /predict needs view_model_performance)');
const duration = Number(args.duration);
const repeats = Number(args.repeats);
const log = (msg: string): boolean => process.stderr.write(`${msg}\n`);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Starts a server process and resolves once `ready` matches its output. */
async function start(cmd: string, argv: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<ChildProcess> {
  const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (b: Buffer): void => {
      out += b.toString();
      if (ready.test(out)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${out.slice(-2000)}`)));
  });
  return child;
}

interface Scenario {
  name: string;
  rowsPerCall: number;
  connections: number;
  rate?: number;
}
const SCENARIOS: Scenario[] = [
  { name: 'single, 1 connection', rowsPerCall: 1, connections: 1 },
  { name: 'single, 50 connections', rowsPerCall: 1, connections: 50 },
  { name: 'batch of 100, 1 connection', rowsPerCall: 100, connections: 1 },
  { name: 'batch of 100, 50 connections', rowsPerCall: 100, connections: 50 },
  { name: 'single at 500 req/s, 10 connections', rowsPerCall: 1, connections: 10, rate: 500 },
];

interface Figures {
  p50: number;
  p99: number;
  reqPerSec: number;
  rowsPerSec: number;
  errors: number;
}

async function load(url: string, headers: Record<string, string>, s: Scenario, pairs: string[][]): Promise<Figures> {
  const bodies: string[] = [];
  for (let i = 0; i + s.rowsPerCall <= pairs.length && bodies.length < 200; i += s.rowsPerCall) {
    bodies.push(JSON.stringify(pairs.slice(i, i + s.rowsPerCall).map(([userId, appId]) => ({ userId, appId }))));
  }
  const result = await autocannon({
    url: `${url}/predict`,
    connections: s.connections,
    duration,
    ...(s.rate ? { overallRate: s.rate } : {}),
    headers: { 'content-type': 'application/json', ...headers },
    requests: bodies.map((body) => ({ method: 'POST' as const, body })),
  });
  const ok = result.requests.total - result.non2xx;
  return {
    p50: result.latency.p50,
    p99: result.latency.p99,
    reqPerSec: result.requests.average,
    rowsPerSec: (ok * s.rowsPerCall) / duration,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

async function measure(label: string, url: string, headers: Record<string, string>, pairs: string[][]) {
  const out: Record<string, Figures> = {};
  for (const s of SCENARIOS) {
    const runs: Figures[] = [];
    for (let r = 0; r < repeats; r++) runs.push(await load(url, headers, s, pairs));
    const pick = (k: keyof Figures): number => median(runs.map((x) => x[k]));
    out[s.name] = {
      p50: pick('p50'),
      p99: pick('p99'),
      reqPerSec: pick('reqPerSec'),
      rowsPerSec: pick('rowsPerSec'),
      errors: pick('errors'),
    };
    log(
      `${label} | ${s.name}: p50 ${out[s.name]!.p50} ms, p99 ${out[s.name]!.p99} ms, ${Math.round(out[s.name]!.reqPerSec)} req/s, ${Math.round(out[s.name]!.rowsPerSec)} rows/s, errors ${out[s.name]!.errors}`,
    );
  }
  return out;
}

const ref = { runId: args.run, runDir: runDir(args.run) };
const config = await readRunConfig(ref);
const data = seedData(config, 'bench/serve.ts');
const requestsCsv = args.requests ?? join(data.dir, data.submission);
const pairs = (await readFile(requestsCsv, 'utf8'))
  .trim()
  .split('\n')
  .slice(1, 20_001)
  .map((l) => l.split(',').slice(0, 2));

const results: Record<string, Record<string, Figures>> = {};
if (!args['skip-ours']) {
  const ourPort = await freePort();
  const ours = await start(
    process.execPath,
    [join(PROJECT_ROOT, 'bin/access-perm.mjs'), 'serve', '--run', args.run, '--port', String(ourPort)],
    process.env,
    /serving .* on http/,
  );
  try {
    results['access-perm (Fastify + onnxruntime)'] = await measure(
      'access-perm',
      `http://127.0.0.1:${ourPort}`,
      { authorization: `Bearer ${token}` },
      pairs,
    );
  } finally {
    ours.kill('SIGTERM');
  }
}

if (args.fastapi) {
  const port = await freePort();
  const python = join(PROJECT_ROOT, 'bench/.venv/bin/python');
  const theirs = await start(
    python,
    [
      '-m',
      'uvicorn',
      'fastapi_service:app',
      '--app-dir',
      join(PROJECT_ROOT, 'bench'),
      '--port',
      String(port),
      '--log-level',
      'info',
    ],
    {
      ...process.env,
      BENCH_DATA_DIR: data.dir,
      BENCH_FEATURES: join(ref.runDir, FEATURES_FILE),
      BENCH_PARAMS: JSON.stringify(config.model.catboost),
      BENCH_SENTINEL: config.features.sentinel,
    },
    /Application startup complete|Uvicorn running/,
  );
  try {
    results['seed stack (FastAPI + CatBoost)'] = await measure('fastapi', `http://127.0.0.1:${port}`, {}, pairs);
  } finally {
    theirs.kill('SIGTERM');
  }
}

const [oursName, theirsName] = Object.keys(results);
const lines = [
  `| scenario | ${Object.keys(results)
    .map((k) => `${k} p50 / p99 ms, req/s, rows/s`)
    .join(' | ')} |${theirsName ? ' throughput ratio |' : ''}`,
  `| --- | ${Object.keys(results)
    .map(() => '---')
    .join(' | ')} |${theirsName ? ' --- |' : ''}`,
];
for (const s of SCENARIOS) {
  const cells = Object.values(results).map((r) => {
    const f = r[s.name]!;
    return `${f.p50} / ${f.p99}, ${Math.round(f.reqPerSec).toLocaleString('en-US')}, ${Math.round(f.rowsPerSec).toLocaleString('en-US')}`;
  });
  const ratio = theirsName
    ? ` ${(results[oursName!]![s.name]!.rowsPerSec / Math.max(results[theirsName]![s.name]!.rowsPerSec, 1e-9)).toFixed(2)}× |`
    : '';
  lines.push(`| ${s.name} | ${cells.join(' | ')} |${ratio}`);
}
console.log(lines.join('\n'));
await mkdir(join(PROJECT_ROOT, 'bench/out'), { recursive: true });
const file = join(PROJECT_ROOT, 'bench/out', `serve-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, `${JSON.stringify({ run: args.run, duration, repeats, results }, null, 2)}\n`);
log(`wrote ${file}`);
