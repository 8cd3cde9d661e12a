/**
 * Open-loop load at a fixed rate, as wrk2 and vegeta measure, run by bench/serve.ts as a child process of its own so
 * that the generator's timers never wait for the bench's garbage collection or autocannon's bookkeeping.
 *
 * Reads one JSON job on stdin — `{ url, headers, rate, connections, seconds, bodies }` — and prints one JSON result:
 * `{ latenciesMs: {p50, p90, p99, max}, answered, failed, seconds, maxLateMs }`.
 *
 * Request i is due at start + i / rate whatever happened to the requests before it, and its latency counts from that
 * due time, so a stall shows in every request it delays (no coordinated omission). At most `connections` keep-alive
 * sockets; a request due while all of them are busy waits for one, and that wait is part of its latency. `maxLateMs`
 * is how late the generator itself sent a request (its timer resolution is about 1 ms); that lateness is counted in
 * the latencies too, so they err on the high side.
 */
import { Agent, request } from 'node:http';

export interface OpenLoopJob {
  url: string;
  headers: Record<string, string>;
  rate: number;
  connections: number;
  seconds: number;
  bodies: string[];
}

export interface OpenLoopResult {
  latenciesMs: { p50: number; p90: number; p99: number; max: number };
  answered: number;
  failed: number;
  seconds: number;
  maxLateMs: number;
}

/** The q-quantile of ascending `xs` (nearest rank). */
const quantile = (xs: Float64Array, q: number): number =>
  xs.length === 0 ? Number.NaN : xs[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!;

async function openLoop(job: OpenLoopJob): Promise<OpenLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections });
  const target = new URL(job.url);
  const interval = 1000 / job.rate;
  const total = Math.round(job.rate * job.seconds);
  const latencies = new Float64Array(total);
  let answered = 0;
  let failed = 0;
  let maxLateMs = 0;
  const send = (body: string, due: number): Promise<void> =>
    new Promise((resolve) => {
      const req = request(
        target,
        { method: 'POST', agent, headers: { ...job.headers, 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies[answered++] = performance.now() - due;
            else failed++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(body);
    });
  const inFlight: Array<Promise<void>> = [];
  const start = performance.now() + 50;
  for (let i = 0; i < total;) {
    const now = performance.now();
    for (; i < total && start + i * interval <= now; i++) {
      maxLateMs = Math.max(maxLateMs, now - (start + i * interval));
      inFlight.push(send(job.bodies[i % job.bodies.length]!, start + i * interval));
    }
    if (i < total) await new Promise((r) => setTimeout(r, Math.max(0, start + i * interval - performance.now())));
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  const measured = latencies.subarray(0, answered).sort();
  const ms = (q: number): number => Math.round(quantile(measured, q) * 10) / 10;
  return {
    latenciesMs: { p50: ms(0.5), p90: ms(0.9), p99: ms(0.99), max: ms(1) },
    answered,
    failed,
    seconds,
    maxLateMs: Math.round(maxLateMs * 10) / 10,
  };
}

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OpenLoopJob;
process.stdout.write(`${JSON.stringify(await openLoop(job))}\n`);
