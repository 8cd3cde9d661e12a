/**
 * Refused tokens per client address: past `limit` in one interval, a client's requests are answered 429 before any
 * token is checked, until the interval ends. A flood of bad tokens then costs a map lookup per request, not a
 * signature check, and cannot crowd out clients whose tokens are good.
 */
export class FailureLimit {
  readonly #clients = new Map<string, { failures: number; resetAt: number }>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    /** Clients tracked at once; the oldest intervals are dropped first past it. */
    private readonly maxClients = 100_000,
  ) {}

  /** Seconds until `client` may try again, or 0 when it is not blocked. */
  retryAfter(client: string, now = Date.now()): number {
    const c = this.#clients.get(client);
    if (!c) return 0;
    if (now >= c.resetAt) {
      this.#clients.delete(client);
      return 0;
    }
    return c.failures >= this.limit ? Math.ceil((c.resetAt - now) / 1000) : 0;
  }

  /** Counts a refused token from `client`. */
  fail(client: string, now = Date.now()): void {
    const c = this.#clients.get(client);
    if (c && now < c.resetAt) {
      c.failures += 1;
      return;
    }
    if (this.#clients.size >= this.maxClients) this.#clients.delete(this.#clients.keys().next().value!);
    this.#clients.set(client, { failures: 1, resetAt: now + this.windowMs });
  }
}
