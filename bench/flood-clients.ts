/**
 * Closed-loop HTTP clients for bench/flood.ts, run as a child process of their own so that the legitimate client and
 * the flooders never share an event loop (nor with the bench): a stalled flooder cannot slow the client it is
 * measured against, only the service can.
 *
 * Reads two lines on stdin: a JSON job — `{ url, clients, seconds, bodies, token?, localAddress?, rate? }` — after
 * which it prints `ready`, then any line, the start signal (so the bench starts the legitimate client and the flooders
 * together). Then `clients` loops, each on its own keep-alive connection from `localAddress`, send `POST url` one
 * after another for `seconds`: with `Bearer <token>`, or without a token a fresh random garbage one per request;
 * with `rate`, no faster than `rate` requests per second in all (each loop waits for its next request's due time).
 * Prints one JSON result line: `{ byStatus, errors, latenciesMs: {p50, p99}, seconds, cpuSeconds }`.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';

export interface ClientsJob {
  url: string;
  clients: number;
  seconds: number;
  bodies: string[];
  /** A valid token; without it every request carries a random garbage one. */
  token?: string;
  /** The loopback address to connect from (the service limits refused tokens per client address). */
  localAddress?: string;
  /** Requests per second over all loops; without it each loop sends as soon as its previous answer is read. */
  rate?: number;
}

export interface ClientsResult {
  /** Answers by HTTP status. */
  byStatus: Record<string, number>;
  /** Requests that got no answer (socket errors). */
  errors: number;
  /** Of the 200 answers, request sent → answer read. */
  latenciesMs: { p50: number; p99: number };
  seconds: number;
  /** This process's CPU time (user + system) over the run. */
  cpuSeconds: number;
}

/** One POST on `agent`; resolves with the status, or 0 when the request failed. */
const post = (target: URL, agent: Agent, headers: Record<string, string>, body: string): Promise<number> =>
  new Promise((resolve) => {
    const req = request(target, { method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });

async function run(job: ClientsJob): Promise<ClientsResult> {
  const target = new URL(job.url);
  const byStatus: Record<string, number> = {};
  const latencies: number[] = [];
  let errors = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + job.seconds * 1000;
  const loop = async (_: unknown, loopNo: number): Promise<void> => {
    const agent = new Agent({
      keepAlive: true,
      maxSockets: 1,
      ...(job.localAddress ? { localAddress: job.localAddress } : {}),
    });
    for (let i = 0; performance.now() < end; i++) {
      if (job.rate) {
        // Loops take turns, so the requests are spread evenly rather than sent in bursts of `clients`.
        const due = start + ((i * job.clients + loopNo) * 1000) / job.rate;
        if (due >= end) break;
        await new Promise((r) => setTimeout(r, due - performance.now()));
      }
      const token = job.token ?? randomBytes(24).toString('base64url');
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const t0 = performance.now();
      const status = await post(target, agent, headers, job.bodies[i % job.bodies.length]!);
      if (status === 0) errors++;
      else byStatus[status] = (byStatus[status] ?? 0) + 1;
      if (status === 200) latencies.push(performance.now() - t0);
    }
    agent.destroy();
  };
  await Promise.all(Array.from({ length: job.clients }, loop));
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  // Nearest rank, to 0.01 ms.
  const q = (p: number): number =>
    latencies.length === 0
      ? Number.NaN
      : Math.round(latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)]! * 100) / 100;
  return {
    byStatus,
    errors,
    latenciesMs: { p50: q(0.5), p99: q(0.99) },
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
const job = JSON.parse((await lines.next()).value as string) as ClientsJob;
process.stdout.write('ready\n');
await lines.next();
input.close();
process.stdout.write(`${JSON.stringify(await run(job))}\n`);
