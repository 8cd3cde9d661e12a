/**
 * Load test of the scoring service on loopback with autocannon, side by side with the seed's stack (FastAPI +
 * CatBoost, bench/fastapi_service.py in bench/.venv, one uvicorn worker) on the same requests; prints one table.
 *
 * Command lines (run on an idle machine; the load generator shares the cores with the service under test):
 *
 *   # everything, both stacks: medians of 3 runs of 10 s per scenario
 *   ACCESS_PERM_DATA_DIR=… ACCESS_PERM_TOKEN=… node --import tsx bench/serve.ts --run <id> --duration 10 --repeats 3 --fastapi
 *   # the latency target only: single requests offered at a fixed 500 req/s, 1 and 50 connections, p50 / p99
 *   ACCESS_PERM_DATA_DIR=… ACCESS_PERM_TOKEN=… node --import tsx bench/serve.ts --run <id> --duration 10 --repeats 3 \
 *     --fastapi --scenarios rate500-1,rate500-50
 *   # a smoke run (seconds): --duration 3 --repeats 1
 *
 * Options: --requests F.csv (default: the run's submission.csv; bodies cycle through its first 20,000 rows),
 * --scenarios a,b (keys below; default all), --rate N (the fixed rate, default 500), --fastapi (add the seed's
 * stack), --skip-ours. ACCESS_PERM_TOKEN: any role (/predict needs view_model_performance); our service checks it
 * and the permission matrix on every call, the seed's service has no authentication.
 *
 * Scenarios (keys): single-1 / single-50 (one request per call, 1 / 50 connections, as fast as they go), batch-1 /
 * batch-50 (100 requests per call): closed loop with autocannon, latency = request sent → response read.
 * rate500-1 / rate500-50: one request per call offered at a fixed --rate overall on at most 1 / 50 keep-alive
 * connections, open loop (openLoop: request i is due at start + i / rate; latency counts from the due time, so
 * queueing behind a slow request or a busy connection is included). The target is p99 ≤ 10 ms at 500 req/s; the
 * achieved rate is printed next to it. Writes bench/out/serve-<time>.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { seedData } from '../lib/config';
import { PROJECT_ROOT } from '../lib/paths';
import { FEATURES_FILE, readRunConfig, resolveRunDir } from '../lib/run';
import { freePort } from '../client/devServer';
import type { OpenLoopJob, OpenLoopResult } from './open-loop';

const { values: args } = parseArgs({
  options: {
    run: { type: 'string' },
    requests: { type: 'string' },
    duration: { type: 'string', default: '10' },
    repeats: { type: 'string', default: '3' },
    fastapi: { type: 'boolean', default: false },
    'skip-ours': { type: 'boolean', default: false },
    scenarios: { type: 'string' },
    rate: { type: 'string', default: '500' },
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
  key: string;
  name: string;
  rowsPerCall: number;
  connections: number;
  rate?: number;
}
const RATE = Number(args.rate);
if (!Number.isFinite(RATE) || RATE <= 0) throw new Error(`--rate must be a positive number, got ${args.rate}`);
const ALL_SCENARIOS: Scenario[] = [
  { key: 'single-1', name: 'single, 1 connection', rowsPerCall: 1, connections: 1 },
  { key: 'single-50', name: 'single, 50 connections', rowsPerCall: 1, connections: 50 },
  { key: 'batch-1', name: 'batch of 100, 1 connection', rowsPerCall: 100, connections: 1 },
  { key: 'batch-50', name: 'batch of 100, 50 connections', rowsPerCall: 100, connections: 50 },
  { key: 'rate500-1', name: `single at ${RATE} req/s, 1 connection`, rowsPerCall: 1, connections: 1, rate: RATE },
  { key: 'rate500-50', name: `single at ${RATE} req/s, 50 connections`, rowsPerCall: 1, connections: 50, rate: RATE },
];
const wanted = args.scenarios?.split(',').map((k) => k.trim()) ?? ALL_SCENARIOS.map((s) => s.key);
const unknownKeys = wanted.filter((k) => !ALL_SCENARIOS.some((s) => s.key === k));
if (unknownKeys.length > 0) {
  throw new Error(
    `--scenarios: unknown ${unknownKeys.join(', ')} (known: ${ALL_SCENARIOS.map((s) => s.key).join(', ')})`,
  );
}
const SCENARIOS = ALL_SCENARIOS.filter((s) => wanted.includes(s.key));

interface Figures {
  p50: number;
  p99: number;
  reqPerSec: number;
  rowsPerSec: number;
  errors: number;
}

/** Request bodies of `rowsPerCall` rows each, cycled by the load generators. */
function bodiesOf(s: Scenario, pairs: string[][]): string[] {
  const bodies: string[] = [];
  for (let i = 0; i + s.rowsPerCall <= pairs.length && bodies.length < 200; i += s.rowsPerCall) {
    bodies.push(JSON.stringify(pairs.slice(i, i + s.rowsPerCall).map(([userId, appId]) => ({ userId, appId }))));
  }
  return bodies;
}

/** Closed loop with autocannon: every connection sends its next request as soon as the previous one is answered. */
async function closedLoop(
  url: string,
  headers: Record<string, string>,
  s: Scenario,
  bodies: string[],
  seconds = duration,
): Promise<Figures> {
  const result = await autocannon({
    url: `${url}/predict`,
    connections: s.connections,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...headers },
    requests: bodies.map((body) => ({ method: 'POST' as const, body })),
  });
  // Answered calls over the measured time (autocannon's own duration), so req/s and rows/s agree.
  const ok = result.requests.total - result.non2xx;
  const measured = result.duration > 0 ? result.duration : seconds;
  if (result.non2xx + result.errors + result.timeouts > 0) {
    log(`  ${s.name}: ${result.non2xx} non-2xx, ${result.errors} socket errors, ${result.timeouts} timeouts`);
  }
  return {
    p50: result.latency.p50,
    p99: result.latency.p99,
    reqPerSec: ok / measured,
    rowsPerSec: (ok * s.rowsPerCall) / measured,
    errors: result.non2xx + result.errors + result.timeouts,
  };
}

/**
 * Open loop at the scenario's fixed rate, in a child process of its own (bench/open-loop.ts: request i is due at
 * start + i / rate, latency counts from the due time; autocannon's overallRate is not this: each connection sends its
 * share of a second's requests back to back at the start of the second, then idles).
 */
async function openLoop(url: string, headers: Record<string, string>, s: Scenario, bodies: string[]): Promise<Figures> {
  const job: OpenLoopJob = {
    url: `${url}/predict`,
    headers,
    rate: s.rate!,
    connections: s.connections,
    seconds: duration,
    bodies,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bench/open-loop.ts')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.stdin.end(JSON.stringify(job));
  const code = await exited;
  if (code !== 0) throw new Error(`bench/open-loop.ts exited with ${code}`);
  const r = JSON.parse(out) as OpenLoopResult;
  if (r.failed > 0) log(`  ${s.name}: ${r.failed} failed requests`);
  if (r.maxLateMs > 5)
    log(`  ${s.name}: the generator sent a request up to ${r.maxLateMs} ms late (counted in the latencies)`);
  return {
    p50: r.latenciesMs.p50,
    p99: r.latenciesMs.p99,
    reqPerSec: r.answered / r.seconds,
    rowsPerSec: (r.answered * s.rowsPerCall) / r.seconds,
    errors: r.failed,
  };
}

/** One run of a scenario: open loop at its rate, else closed loop as fast as it goes. */
const load = (url: string, headers: Record<string, string>, s: Scenario, pairs: string[][]): Promise<Figures> =>
  (s.rate ? openLoop : closedLoop)(url, headers, s, bodiesOf(s, pairs));

/** Seconds of closed-loop load (single requests, then batches) before anything is measured: JIT and allocator warm-up. */
const WARM_UP_SECONDS = 3;

async function measure(label: string, url: string, headers: Record<string, string>, pairs: string[][]) {
  const out: Record<string, Figures> = {};
  for (const warm of ALL_SCENARIOS.filter((x) => x.key === 'single-50' || x.key === 'batch-50')) {
    await closedLoop(url, headers, warm, bodiesOf(warm, pairs), WARM_UP_SECONDS);
  }
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

const ref = { runId: args.run, runDir: await resolveRunDir(args.run) };
const config = await readRunConfig(ref.runDir);
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
      PYTHONDONTWRITEBYTECODE: '1',
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

const names = Object.keys(results);
const [oursName, theirsName] = names;
const both = names.length === 2;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const lines = [
  `POST /predict on loopback, ${duration} s per run, medians of ${repeats} run(s); p50 / p99 in ms`,
  '',
  `| scenario | offered | ${names.map((k) => `${k}: p50 / p99, req/s, rows/s, errors`).join(' | ')} |${both ? ' rows/s ratio |' : ''}`,
  `| --- | --- | ${names.map(() => '---').join(' | ')} |${both ? ' --- |' : ''}`,
];
for (const s of SCENARIOS) {
  const cells = names.map((k) => {
    const f = results[k]![s.name]!;
    return `${f.p50} / ${f.p99}, ${fmt(f.reqPerSec)}, ${fmt(f.rowsPerSec)}, ${fmt(f.errors)}`;
  });
  const ratio = both
    ? ` ${(results[oursName!]![s.name]!.rowsPerSec / Math.max(results[theirsName!]![s.name]!.rowsPerSec, 1e-9)).toFixed(2)}× |`
    : '';
  lines.push(`| ${s.name} | ${s.rate ? `${fmt(s.rate)} req/s` : 'max'} | ${cells.join(' | ')} |${ratio}`);
}
for (const s of SCENARIOS.filter((x) => x.rate === 500)) {
  for (const k of names) {
    const f = results[k]![s.name]!;
    const reached = f.reqPerSec >= 0.98 * s.rate!;
    lines.push(
      `target (p99 ≤ 10 ms at 500 req/s), ${k}, ${s.connections} connection(s): ` +
        `${reached && f.p99 <= 10 && f.errors === 0 ? 'met' : 'NOT met'} (p99 ${f.p99} ms at ${fmt(f.reqPerSec)} req/s achieved, ${fmt(f.errors)} errors)`,
    );
  }
}
console.log(lines.join('\n'));
await mkdir(join(PROJECT_ROOT, 'bench/out'), { recursive: true });
const file = join(PROJECT_ROOT, 'bench/out', `serve-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(
  file,
  `${JSON.stringify({ run: args.run, duration, repeats, scenarios: SCENARIOS, results }, null, 2)}\n`,
);
log(`wrote ${file}`);
