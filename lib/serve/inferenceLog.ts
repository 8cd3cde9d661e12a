import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inferenceWindowSchema, LATENCY_BUCKETS_MS, type InferenceWindow } from '../../schemas/serving';
import { appendText, ensureDir } from '../artifacts';
import { dataDir } from '../paths';

/** Folder of the inference log: one JSONL file per UTC day, one line per time window. */
export function inferenceLogDir(): string {
  return join(dataDir(), 'inference');
}

interface ModelRef {
  runId: string;
  modelSha256: string;
  threshold: number;
}

/** What one scored call adds to the current window. */
export interface ScoredCall {
  rows: number;
  approved: number;
  probabilitySum: number;
  unknownUsers: number;
  unknownApps: number;
}

type Counters = Omit<InferenceWindow, 'format' | 'window_end' | 'approval_rate' | 'mean_probability'> & {
  probabilitySum: number;
};

/**
 * Aggregates the service's scoring per time window and appends each finished window to the log. Per-request data
 * (ids, probabilities) is never written: only counts, rates and the latency histogram.
 */
export class InferenceLog {
  private current: Counters | null = null;
  private timer: NodeJS.Timeout | null = null;
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly windowMs: number) {}

  /** Starts closing windows every `windowMs`. */
  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.windowMs);
    this.timer.unref();
  }

  private counters(model: ModelRef): Counters {
    const c = this.current;
    if (c && c.run_id === model.runId && c.model_sha256 === model.modelSha256) return c;
    // A model change (hot reload) closes the window so each line describes one model.
    if (c) void this.flush();
    this.current = {
      window_start: new Date().toISOString(),
      run_id: model.runId,
      model_sha256: model.modelSha256,
      threshold: model.threshold,
      requests: 0,
      rows: 0,
      approved: 0,
      probabilitySum: 0,
      unknown_users: 0,
      unknown_apps: 0,
      errors: 0,
      latency_ms: {
        buckets: [...LATENCY_BUCKETS_MS],
        counts: new Array(LATENCY_BUCKETS_MS.length + 1).fill(0),
        max: 0,
        sum: 0,
      },
    };
    return this.current;
  }

  /** Records a call answered by `model`: scored rows (status 200) or an error, with its latency. */
  record(model: ModelRef, latencyMs: number, scored: ScoredCall | null): void {
    const c = this.counters(model);
    if (scored) {
      c.requests++;
      c.rows += scored.rows;
      c.approved += scored.approved;
      c.probabilitySum += scored.probabilitySum;
      c.unknown_users += scored.unknownUsers;
      c.unknown_apps += scored.unknownApps;
    } else {
      c.errors++;
    }
    const h = c.latency_ms;
    let b = 0;
    while (b < LATENCY_BUCKETS_MS.length && latencyMs > LATENCY_BUCKETS_MS[b]!) b++;
    h.counts[b]!++;
    h.max = Math.max(h.max, latencyMs);
    h.sum += latencyMs;
  }

  /** Appends the current window (if it saw any call) and starts a new one. Resolves when written. */
  flush(): Promise<void> {
    const c = this.current;
    this.current = null;
    if (c && (c.requests > 0 || c.errors > 0)) {
      const { probabilitySum, ...counts } = c;
      const end = new Date();
      const line: InferenceWindow = inferenceWindowSchema.parse({
        format: 'access-perm/inference-window@1',
        ...counts,
        window_end: end.toISOString(),
        approval_rate: c.rows > 0 ? c.approved / c.rows : null,
        mean_probability: c.rows > 0 ? probabilitySum / c.rows : null,
      });
      const dir = inferenceLogDir();
      const file = join(dir, `${end.toISOString().slice(0, 10)}.jsonl`);
      this.writes = this.writes.then(async () => {
        await ensureDir(dir);
        await appendText(file, `${JSON.stringify(line)}\n`);
      });
    }
    return this.writes;
  }

  /** Stops the timer and writes the last window. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}

/** Every window of the inference log from `since` on (UTC day files, oldest first), validated. */
export async function readInferenceLog(since?: Date): Promise<InferenceWindow[]> {
  const dir = inferenceLogDir();
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => /^\d{4}-\d{2}-\d{2}\.jsonl$/.test(f));
  const day = since?.toISOString().slice(0, 10);
  const out: InferenceWindow[] = [];
  for (const f of files.sort()) {
    if (day && f.slice(0, 10) < day) continue;
    for (const line of (await readFile(join(dir, f), 'utf8')).split('\n')) {
      if (!line.trim()) continue;
      const w = inferenceWindowSchema.parse(JSON.parse(line));
      if (!since || Date.parse(w.window_end) >= since.getTime()) out.push(w);
    }
  }
  return out;
}
