/**
 * Bounded audit volume under hostile load. A server refusing the same thing from the same source again and again
 * (bad tokens from one client address, one user's denied permission) writes the first refusal at once, then counts
 * the repeats and writes one summary entry per source and reason when the interval ends: at most two entries per
 * source, reason and interval, however fast the refusals come. The number of sources tracked is bounded too; past
 * it, refusals from new sources share one overflow counter.
 */
import { createHash } from 'node:crypto';
import type { AuditInput } from '../../schemas/governance';
import { appendAudit, IP_OPT_IN_ENV } from './audit';

/** Where a refusal is audited: at once (the CLI) or through a RefusalAggregator (servers). */
export type RefusalAudit = (entry: AuditInput, source: string) => Promise<void>;

/** Writes every refusal as its own entry: one process, one refusal (the CLI, activities). */
export const auditEachRefusal: RefusalAudit = async (entry) => {
  await appendAudit(entry);
};

/** How a client is named in summary entries: its address only with the IP opt-in, else a short hash of it. */
export function clientLabel(address: string): string {
  if (process.env[IP_OPT_IN_ENV] === '1') return address;
  return `client-${createHash('sha256').update(address).digest('hex').slice(0, 12)}`;
}

interface Window {
  first: AuditInput;
  startedAt: number;
  repeats: number;
  timer: NodeJS.Timeout;
}

export interface RefusalAggregatorOptions {
  /** The interval refusals are counted over (default 60 s). */
  windowMs?: number;
  /** Sources tracked at once before new ones share the overflow counter (default 10,000). */
  maxSources?: number;
  /** Called when an audit write fails (the refusal itself still stands). */
  onError?: (error: unknown) => void;
}

const OVERFLOW = '(other sources)';

export class RefusalAggregator {
  readonly #windows = new Map<string, Window>();
  readonly #windowMs: number;
  readonly #maxSources: number;
  readonly #onError: (error: unknown) => void;
  #pending = new Set<Promise<void>>();

  constructor(options: RefusalAggregatorOptions = {}) {
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxSources = options.maxSources ?? 10_000;
    this.#onError = options.onError ?? ((e) => process.stderr.write(`access-perm: audit write failed: ${String(e)}\n`));
  }

  /** Audits a refusal from `source`: the first of its interval at once, the repeats as one summary entry later. */
  readonly audit: RefusalAudit = async (entry, source) => {
    const tracked = this.#windows.has(this.#key(source, entry)) || this.#windows.size < this.#maxSources;
    const key = this.#key(tracked ? source : OVERFLOW, entry);
    const open = this.#windows.get(key);
    if (open) {
      open.repeats += 1;
      return;
    }
    const timer = setTimeout(() => this.#close(key), this.#windowMs);
    timer.unref();
    this.#windows.set(key, { first: entry, startedAt: Date.now(), repeats: 0, timer });
    await appendAudit(entry);
  };

  /** Repeats counted in open intervals (for tests and /health). */
  get openRepeats(): number {
    let n = 0;
    for (const w of this.#windows.values()) n += w.repeats;
    return n;
  }

  #key(source: string, entry: AuditInput): string {
    return `${source}\u0000${entry.action}\u0000${entry.reason ?? ''}\u0000${entry.attempted_action ?? ''}`;
  }

  #close(key: string): void {
    const w = this.#windows.get(key);
    if (!w) return;
    this.#windows.delete(key);
    clearTimeout(w.timer);
    if (w.repeats === 0) return;
    const source = key.split('\u0000')[0]!;
    const write = appendAudit({
      ...w.first,
      result: 'refused',
      details: {
        ...w.first.details,
        repeated: w.repeats,
        window_start: new Date(w.startedAt).toISOString(),
        window_seconds: Math.round((Date.now() - w.startedAt) / 1000),
        aggregated_source: source,
      },
    })
      .then(() => undefined)
      .catch(this.#onError)
      .finally(() => this.#pending.delete(write));
    this.#pending.add(write);
  }

  /** Writes every open interval's summary now and waits for the writes (a server stopping). */
  async flush(): Promise<void> {
    for (const key of [...this.#windows.keys()]) this.#close(key);
    await Promise.all(this.#pending);
  }
}
