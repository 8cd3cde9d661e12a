/**
 * A bad-token flood against the scoring service: what it costs a legitimate client, and how fast it grows the audit
 * log, with the service as it is now and with an approximation of the old per-refusal audit; prints one table.
 *
 *   npm run bench:flood                        # medians of 3 repetitions of 10 s per phase, 20 flooders
 *   npm run bench:flood -- [--duration 10] [--repeats 3] [--flooders 20] [--rows 1] [--flood-from 127.0.0.2]
 *                          [--flood-rate N] [--variants now,old,previous] [--previous DIR] [--keep]
 *   # adding the real service from before refusals were summarised (a checkout of that commit with node_modules):
 *   mkdir /tmp/prev && git archive 80e5340~1 | tar -x -C /tmp/prev && ln -s "$PWD/node_modules" /tmp/prev/
 *   npm run bench:flood -- --previous /tmp/prev
 *
 * Self-contained: a fresh data directory and keyring in the temp folder (removed at the end unless --keep), with a
 * small trained run (tests/scoringRun.ts: 1,500 interactions, 20 trees) and a VIEWER token for the legitimate
 * client. No Temporal server. The flood's audit entries land in that directory's log, never in a real one.
 *
 * Every repetition of every variant starts a fresh service (bench/flood-service.ts, built as `access-perm serve
 * --run` builds it, on 127.0.0.1), so refusal intervals and failure counts start empty, then runs three phases:
 * - warm-up (2 s, not reported): the legitimate client alone;
 * - no flood (--duration s): one legitimate client, one keep-alive connection, `POST /predict` with --rows rows and
 *   a valid VIEWER token, each request sent when the previous answer is read;
 * - flood (--duration s): the same client, and beside it --flooders connections from --flood-from, each sending
 *   `POST /predict` with a fresh random garbage bearer token as soon as its previous answer is read (so a service
 *   that answers refusals slowly is sent fewer of them); with --flood-rate N, at most N requests per second in all,
 *   the same attack whichever service answers it. The service limits refused tokens per client address, so the
 *   flooders connect from another loopback address than the legitimate client (Linux routes all of 127/8 to lo);
 *   a legitimate request answered anything but 200 fails the bench.
 * Clients run in child processes of their own (bench/flood-clients.ts). Audit growth is the change in lines and
 * bytes of <data dir>/governance/audit/audit_log.jsonl over a phase (counted once the file stops growing), plus the
 * summaries the service writes for intervals still open when it stops (SIGTERM, right after the flood phase);
 * per minute = both together scaled from the phase's duration. With the production 60 s interval, a 10 s flood
 * writes its first entries at once and its summaries at the stop, so per minute of a longer flood it is less.
 * Service CPU (its /proc stat, main and scoring threads) is per cent of one core over the phase.
 *
 * Variants (keys; default all): now — the production defaults (20 refused tokens per client per 60 s, then 429
 * unchecked; repeated refusals summarised per 60 s); old — an approximation of the behaviour before refusals were
 * summarised and limited: limit 1e9 and a 1 ms interval, so every token is checked and nearly every refusal is its
 * own entry (refusals within the same millisecond still share one summary, so it errs low); previous — with
 * --previous DIR, `DIR/bin/access-perm.mjs serve --run` of that checkout as it is, on the same data directory.
 * The machine's cores are shared by the service, the clients and the flooders. Writes bench/out/flood-<time>.json.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { addUser, auditLogPath, issueToken } from '../lib/governance';
import { KEYRING_ENV, keyringDir } from '../lib/keys';
import { PROJECT_ROOT } from '../lib/paths';
import { runCreator, useTempDataDir } from '../tests/helpers';
import { trainedRun } from '../tests/scoringRun';
import type { ClientsJob, ClientsResult } from './flood-clients';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    repeats: { type: 'string', default: '3' },
    flooders: { type: 'string', default: '20' },
    rows: { type: 'string', default: '1' },
    'flood-from': { type: 'string', default: '127.0.0.2' },
    'flood-rate': { type: 'string' },
    variants: { type: 'string' },
    previous: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const duration = Number(args.duration);
const repeats = Number(args.repeats);
const flooders = Number(args.flooders);
const rows = Number(args.rows);
const floodRate = args['flood-rate'] === undefined ? undefined : Number(args['flood-rate']);
for (const [name, n] of Object.entries({ duration, repeats, flooders, rows, 'flood-rate': floodRate ?? 1 })) {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
}
const WARM_UP_SECONDS = 2;
const log = (msg: string): boolean => process.stderr.write(`${msg}\n`);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const loads = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');

const RUN_ID = 'flood';
const service = (...argv: string[]): string[] => [
  '--import',
  'tsx',
  join(PROJECT_ROOT, 'bench/flood-service.ts'),
  '--run',
  RUN_ID,
  ...argv,
];
interface Variant {
  key: string;
  name: string;
  /** The service's command line after `node`. */
  argv: string[];
}
const ALL_VARIANTS: Variant[] = [
  { key: 'now', name: 'now (production defaults: 20 refused tokens per 60 s)', argv: service() },
  {
    key: 'old',
    name: 'old behaviour, approximated (limit 1e9, 1 ms interval)',
    argv: service('--auth-failure-limit', '1000000000', '--refusal-window-ms', '1'),
  },
];
if (args.previous) {
  ALL_VARIANTS.push({
    key: 'previous',
    name: 'before: the previous commit (every refusal audited)',
    argv: [join(args.previous, 'bin/access-perm.mjs'), 'serve', '--run', RUN_ID, '--port', '0'],
  });
}
const wanted = args.variants?.split(',').map((k) => k.trim()) ?? ALL_VARIANTS.map((v) => v.key);
const unknownKeys = wanted.filter((k) => !ALL_VARIANTS.some((v) => v.key === k));
if (unknownKeys.length > 0) {
  throw new Error(
    `--variants: unknown ${unknownKeys.join(', ')} (known: ${ALL_VARIANTS.map((v) => v.key).join(', ')})`,
  );
}
const VARIANTS = ALL_VARIANTS.filter((v) => wanted.includes(v.key));

// The data directory and keyring of this bench alone, even when the caller's environment names a real keyring.
delete process.env[KEYRING_ENV];
const root = await useTempDataDir('flood');
const loadBefore = loadavg();
log(`data directory ${root}; training a small run (load average ${loads(loadBefore)})`);
const { dataDir } = await trainedRun(root, RUN_ID);
const admin = (await runCreator()).token;
await addUser({ token: admin }, { userId: 'legit', role: 'VIEWER', reason: 'bench/flood.ts: the legitimate client' });
const token = (await issueToken({ token: admin }, { userId: 'legit' })).token;
const pairs = (await readFile(join(dataDir, 'submission.csv'), 'utf8'))
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split(',').slice(0, 2));
const bodies: string[] = [];
for (let i = 0; i + rows <= pairs.length && bodies.length < 200; i += rows) {
  bodies.push(JSON.stringify(pairs.slice(i, i + rows).map(([userId, appId]) => ({ userId, appId }))));
}

/** The service for one repetition of a variant; resolves with its process and URL once it listens. */
async function startService(v: Variant): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, v.argv, { stdio: ['ignore', 'inherit', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stderr!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /serving .*?on (http:\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`the ${v.key} service exited with ${code}: ${out.slice(-2000)}`)));
  });
  return { child, url };
}

/** Clients in a child process (bench/flood-clients.ts): `ready` once loaded, `go()` starts them. */
function startClients(job: ClientsJob): { ready: Promise<void>; go: () => void; result: Promise<ClientsResult> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'bench/flood-clients.ts')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.startsWith('ready\n')) resolve();
    });
    void exited.then((code) => reject(new Error(`bench/flood-clients.ts exited with ${code} before it was ready`)));
  });
  child.stdin.write(`${JSON.stringify(job)}\n`);
  const result = exited.then((code) => {
    if (code !== 0) throw new Error(`bench/flood-clients.ts exited with ${code}`);
    return JSON.parse(out.slice('ready\n'.length)) as ClientsResult;
  });
  return { ready, go: () => child.stdin.end('go\n'), result };
}

/** Lines (entries) and bytes of the active audit log. */
async function auditSize(): Promise<{ entries: number; bytes: number }> {
  const buf = await readFile(auditLogPath());
  let entries = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) entries++;
  return { entries, bytes: buf.length };
}

/** The audit log's size once it has not changed for 300 ms (refusals in flight are written after the phase ends). */
async function settledAuditSize(): Promise<{ entries: number; bytes: number }> {
  let last = await auditSize();
  let stableSince = performance.now();
  const deadline = stableSince + 10_000;
  while (performance.now() - stableSince < 300 && performance.now() < deadline) {
    await sleep(100);
    const now = await auditSize();
    if (now.bytes !== last.bytes) [last, stableSince] = [now, performance.now()];
  }
  return last;
}

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
/** CPU time (user + system, all threads) of a process so far, from /proc/<pid>/stat. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

interface Phase {
  legit: ClientsResult;
  flood: ClientsResult | null;
  /** Audit entries and bytes written during the phase. */
  auditEntries: number;
  auditBytes: number;
  /** Written when the service stopped: summaries of the intervals the phase left open (flood phase only). */
  entriesAtStop: number;
  bytesAtStop: number;
  serviceCpuSeconds: number;
}

async function phase(url: string, servicePid: number, flood: boolean, seconds: number): Promise<Phase> {
  const legit = startClients({ url: `${url}/predict`, clients: 1, seconds, bodies, token });
  const flooding = flood
    ? startClients({
        url: `${url}/predict`,
        clients: flooders,
        seconds,
        bodies,
        localAddress: args['flood-from'],
        ...(floodRate ? { rate: floodRate } : {}),
      })
    : null;
  await Promise.all([legit.ready, flooding?.ready]);
  const before = await auditSize();
  const cpuBefore = await cpuSeconds(servicePid);
  legit.go();
  flooding?.go();
  const [legitResult, floodResult] = await Promise.all([legit.result, flooding?.result ?? null]);
  const serviceCpuSeconds = (await cpuSeconds(servicePid)) - cpuBefore;
  const after = await settledAuditSize();
  if (after.bytes < before.bytes) throw new Error('the audit log rotated during the phase (UTC midnight): run again');
  const refused = Object.entries(legitResult.byStatus).filter(([status]) => status !== '200');
  if (refused.length > 0 || legitResult.errors > 0) {
    throw new Error(`the legitimate client got ${JSON.stringify(legitResult.byStatus)}, ${legitResult.errors} errors`);
  }
  return {
    legit: legitResult,
    flood: floodResult,
    auditEntries: after.entries - before.entries,
    auditBytes: after.bytes - before.bytes,
    entriesAtStop: 0,
    bytesAtStop: 0,
    serviceCpuSeconds,
  };
}

/** One repetition of a variant on a fresh service: warm-up, no flood, flood, then the stop's summaries. */
async function repetition(v: Variant): Promise<{ quiet: Phase; flooded: Phase }> {
  const { child, url } = await startService(v);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    await phase(url, child.pid!, false, WARM_UP_SECONDS);
    const quiet = await phase(url, child.pid!, false, duration);
    const flooded = await phase(url, child.pid!, true, duration);
    const beforeStop = await auditSize();
    child.kill('SIGTERM');
    await exited;
    const stopped = await auditSize();
    flooded.entriesAtStop = stopped.entries - beforeStop.entries;
    flooded.bytesAtStop = stopped.bytes - beforeStop.bytes;
    return { quiet, flooded };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
}

/** The figures of one phase of one repetition, as reported. */
function figures(p: Phase) {
  const seconds = p.legit.seconds;
  const entries = p.auditEntries + p.entriesAtStop;
  const floodAnswers = p.flood ? Object.values(p.flood.byStatus).reduce((a, b) => a + b, 0) : 0;
  return {
    legitReqPerSec: p.legit.byStatus['200']! / seconds,
    legitP50: p.legit.latenciesMs.p50,
    legitP99: p.legit.latenciesMs.p99,
    floodAnswersPerSec: p.flood ? floodAnswers / p.flood.seconds : 0,
    flood401: p.flood?.byStatus['401'] ?? 0,
    flood429: p.flood?.byStatus['429'] ?? 0,
    floodErrors: p.flood?.errors ?? 0,
    auditEntries: p.auditEntries,
    entriesAtStop: p.entriesAtStop,
    entriesPerMinute: (entries * 60) / seconds,
    bytesPerMinute: ((p.auditBytes + p.bytesAtStop) * 60) / seconds,
    serviceCpuPercent: (p.serviceCpuSeconds / seconds) * 100,
    floodersCpuPercent: p.flood ? (p.flood.cpuSeconds / p.flood.seconds) * 100 : 0,
  };
}
type Figures = ReturnType<typeof figures>;

const runs: Record<string, Array<{ quiet: Phase; flooded: Phase }>> = {};
for (let r = 0; r < repeats; r++) {
  // Variants interleaved, so a change in the machine's load over the bench touches each alike.
  for (const v of VARIANTS) {
    const rep = await repetition(v);
    (runs[v.key] ??= []).push(rep);
    const [q, f] = [figures(rep.quiet), figures(rep.flooded)];
    log(
      `${v.key} rep ${r + 1}: legit ${Math.round(q.legitReqPerSec)} → ${Math.round(f.legitReqPerSec)} req/s, ` +
        `flood ${Math.round(f.floodAnswersPerSec)} answers/s (${f.flood401} × 401, ${f.flood429} × 429, ` +
        `${f.floodErrors} errors), audit +${f.auditEntries} (+${f.entriesAtStop} at stop)`,
    );
  }
}
const loadAfter = loadavg();

const medians = (xs: Figures[]): Figures => {
  const out = {} as Figures;
  for (const k of Object.keys(xs[0]!) as Array<keyof Figures>) out[k] = median(xs.map((x) => x[k]));
  return out;
};
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const lines = [
  `POST /predict on loopback, ${rows} row(s) per call: 1 legitimate client, and ${flooders} flooders with garbage ` +
    `tokens from ${args['flood-from']} ${floodRate ? `at ${floodRate} req/s in all` : 'as fast as answered'}; ` +
    `${duration} s per phase, medians of ${repeats}; ` +
    `load average ${loads(loadBefore)} before, ${loads(loadAfter)} after`,
  '',
  '| service | phase | legit req/s | vs no flood | legit p50 / p99 ms | flood answers/s | 401 / 429 | ' +
    'audit entries (+ at stop) | entries/min | KB/min | service CPU |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
const summary: Record<string, { quiet: Figures; flooded: Figures }> = {};
for (const v of VARIANTS) {
  const quiet = medians(runs[v.key]!.map((x) => figures(x.quiet)));
  const flooded = medians(runs[v.key]!.map((x) => figures(x.flooded)));
  summary[v.key] = { quiet, flooded };
  for (const [label, f] of [
    ['no flood', quiet],
    ['flood', flooded],
  ] as const) {
    lines.push(
      `| ${v.name} | ${label} | ${fmt(f.legitReqPerSec)} | ${fmt(f.legitReqPerSec / quiet.legitReqPerSec, 2)}× | ` +
        `${fmt(f.legitP50, 2)} / ${fmt(f.legitP99, 2)} | ${fmt(f.floodAnswersPerSec)} | ` +
        `${fmt(f.flood401)} / ${fmt(f.flood429)} | ${fmt(f.auditEntries)} (+${fmt(f.entriesAtStop)}) | ` +
        `${fmt(f.entriesPerMinute)} | ${fmt(f.bytesPerMinute / 1024, 1)} | ${fmt(f.serviceCpuPercent)}% |`,
    );
  }
}
console.log(lines.join('\n'));

await mkdir(join(PROJECT_ROOT, 'bench/out'), { recursive: true });
const file = join(PROJECT_ROOT, 'bench/out', `flood-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(
  file,
  `${JSON.stringify({ args, loadBefore, loadAfter, variants: VARIANTS, summary, runs }, null, 2)}\n`,
);
log(`wrote ${file}`);
if (args.keep) log(`kept ${root} and ${keyringDir()}`);
else
  await Promise.all([rm(root, { recursive: true, force: true }), rm(keyringDir(), { recursive: true, force: true })]);
